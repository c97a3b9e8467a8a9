"""The experiment's plots (PNG): metrics, time and fork cost, plan variability.

matplotlib is an optional dependency (``reprolam[experiment]``), imported only here and only
when plotting. Figures are drawn on the Agg canvas directly, without pyplot, so no global
backend state changes in the caller's process.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reprolam.errors import ConfigError
from reprolam.experiments.harness import Experiment, describe_faults
from reprolam.experiments.pipelines import LABELS, PARADIGMS
from reprolam.experiments.report import fork_cost

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

INSTALL_HINT = "pip install 'reprolam[experiment]'"
COLORS = {"script": "#8c8c8c", "naive-lam": "#e69f00", "r-lam": "#0072b2"}
ACTION_COLORS = ("#4e79a7", "#59a14f", "#f28e2b", "#b07aa1", "#e15759", "#76b7b2", "#9c755f")
RATIOS = (
    ("task success", "task_success"),
    ("reproducibility, own means\n(rerun; R-LAM: replay)", "reproducibility"),
    ("reproducibility by re-execution\n(rerun; R-LAM: reproduce)", "reproducibility_reexecution"),
    ("trace completeness", "trace_completeness"),
    ("failure visibility\n(structured record)", "failure_visibility"),
    ("failures mentioned in text\n(log line, traceback)", "failures_mentioned"),
)


def require_matplotlib() -> None:
    """Fail early, before any trial runs, when the plots could not be drawn."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ConfigError(
            "the experiment draws its plots with matplotlib, which is not installed: "
            + INSTALL_HINT
        ) from None


def write_plots(experiment: Experiment, out: Path) -> list[Path]:
    """Write metrics.png, time.png and variability.png into ``out``; returns their paths."""
    require_matplotlib()
    drawn = {
        "metrics.png": _metrics(experiment),
        "time.png": _time(experiment),
        "variability.png": _variability(experiment),
    }
    paths = []
    for name, figure in drawn.items():
        path = out / name
        figure.savefig(path, dpi=110, bbox_inches="tight")
        paths.append(path)
    return paths


def _figure(width: float, height: float) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _subtitle(experiment: Experiment) -> str:
    config = experiment.config
    return (
        f"{config.trials} trials per paradigm, planner {config.planner}, "
        f"injected faults: {describe_faults(config.faults)}"
    )


def _metrics(experiment: Experiment) -> Figure:
    figure = _figure(10, 6.5)
    ax = figure.subplots()
    height = 0.26
    for slot, paradigm in enumerate(PARADIGMS):
        summary = experiment.summary[paradigm]
        for row, (_label, key) in enumerate(RATIOS):
            y = row + (slot - 1) * height
            value = summary[key]["value"]
            if value is None:
                ax.text(0.01, y, "n/a", va="center", fontsize=8, color="#555555")
                continue
            ax.barh(y, value, height=height * 0.92, color=COLORS[paradigm])
            ax.text(value + 0.01, y, f"{value:.2f}", va="center", fontsize=8)
    ax.set_yticks(range(len(RATIOS)), [label for label, _key in RATIOS])
    ax.invert_yaxis()
    ax.set_xlim(0, 1.12)
    ax.set_xlabel("fraction (1.0 = all)")
    ax.set_title(f"Metrics per paradigm\n{_subtitle(experiment)}", fontsize=11)
    figure.legend(handles=_handles(), loc="outside lower center", ncol=len(PARADIGMS), fontsize=9)
    ax.grid(axis="x", alpha=0.3)
    return figure


def _handles() -> list[Any]:
    from matplotlib.patches import Patch

    return [Patch(color=COLORS[p], label=LABELS[p]) for p in PARADIGMS]


def _time(experiment: Experiment) -> Figure:
    from matplotlib.patches import Patch

    figure = _figure(12, 5)
    left, right = figure.subplots(1, 2, width_ratios=(3, 2))
    series: list[tuple[str, list[float], str]] = [
        (LABELS[p], [t.seconds * 1000 for t in experiment.by_paradigm(p)], COLORS[p])
        for p in PARADIGMS
    ]
    replays = [
        t.replay_seconds * 1000
        for t in experiment.by_paradigm("r-lam")
        if t.replay_seconds is not None
    ]
    series.append(("R-LAM replay", replays, "#56b4e9"))
    _boxes(left, series)
    left.set_yscale("log")
    left.set_ylabel("wall time per trial (ms, log scale)")
    left.set_title("Time per paradigm (each dot: one trial)", fontsize=11)
    left.grid(axis="y", alpha=0.3, which="both")

    names = [LABELS[p] for p in PARADIGMS]
    measured = [experiment.summary[p]["fork_calls"] is not None for p in PARADIGMS]
    calls = [experiment.summary[p]["fork_calls"] or 0.0 for p in PARADIGMS]
    base = [experiment.summary[p]["fork_base"] or 0.0 for p in PARADIGMS]
    right.bar(names, base, color="#dddddd")
    right.bar(names, calls, width=0.5, color=[COLORS[p] for p in PARADIGMS])
    for x, (c, b, known) in enumerate(zip(calls, base, measured, strict=True)):
        label = fork_cost(c, b) if known else "n/a\n(no successful trial)"  # as in the table
        right.text(x, max(c, b) + 0.1, label, ha="center", fontsize=9)
    right.set_ylim(0, max([*base, *calls, 1.0]) * 1.25)
    right.set_ylabel("actions (mean over trials)")
    right.set_title("Fork cost: change train_model.C after a trial", fontsize=11)
    right.legend(
        handles=[
            Patch(color="#dddddd", label="distinct actions the trial completed"),
            Patch(color="#555555", label="action calls made to change C (paradigm colour)"),
        ],
        fontsize=8,
        loc="upper right",
    )
    figure.suptitle(_subtitle(experiment), fontsize=9, color="#444444")
    return figure


def _boxes(ax: Axes, series: Sequence[tuple[str, list[float], str]]) -> None:
    import numpy as np

    jitter = np.random.default_rng(0)  # fixed: the same results give the same picture
    for x, (_label, values, color) in enumerate(series):
        if not values:
            continue
        ax.boxplot(
            [values],
            positions=[x],
            widths=0.5,
            showfliers=False,
            medianprops={"color": "black"},
            boxprops={"color": color},
            whiskerprops={"color": color},
            capprops={"color": color},
        )
        xs = x + jitter.uniform(-0.15, 0.15, len(values))
        ax.scatter(xs, values, s=14, color=color, alpha=0.8, zorder=3)
        median = float(np.median(values))
        ax.text(x + 0.3, median, f"{median:.1f}", va="center", fontsize=8)
    ax.set_xticks(range(len(series)), [label for label, _values, _color in series])
    ax.set_xlim(-0.6, len(series) - 0.2)


def _variability(experiment: Experiment) -> Figure:
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch
    from matplotlib.ticker import MaxNLocator

    figure = _figure(14, 5.5)
    axes = figure.subplots(1, 4, width_ratios=(1.3, 1, 1, 1))
    counts, matrices = axes[0], axes[1:]
    n = experiment.config.trials
    x = range(len(PARADIGMS))
    sequences = [experiment.summary[p]["distinct_sequences"] for p in PARADIGMS]
    params = [experiment.summary[p]["distinct_hyperparameters"] for p in PARADIGMS]
    counts.bar([i - 0.2 for i in x], sequences, width=0.4, color="#4e79a7", label="sequences")
    counts.bar([i + 0.2 for i in x], params, width=0.4, color="#f28e2b", label="hyperparameters")
    for i in x:
        counts.text(i - 0.2, sequences[i] + 0.1, str(sequences[i]), ha="center", fontsize=8)
        counts.text(i + 0.2, params[i] + 0.1, str(params[i]), ha="center", fontsize=8)
    counts.set_xticks(list(x), [LABELS[p] for p in PARADIGMS])
    counts.set_ylim(0, n + 1)
    counts.yaxis.set_major_locator(MaxNLocator(integer=True))
    counts.set_ylabel(f"distinct across {n} trials")
    counts.set_title("Plan variability", fontsize=11)
    counts.legend(fontsize=8, loc="upper left")

    actions = _actions(experiment)
    colors = ListedColormap(["#ffffff", *ACTION_COLORS[: len(actions)]])
    width = max((len(t.sequence) for t in experiment.trials), default=1)
    for ax, paradigm in zip(matrices, PARADIGMS, strict=True):
        trials = experiment.by_paradigm(paradigm)
        grid = [[0] * width for _ in trials]
        for row, trial in enumerate(trials):
            for col, name in enumerate(trial.sequence):
                grid[row][col] = actions.index(name) + 1
        ax.imshow(grid, cmap=colors, vmin=0, vmax=len(actions), aspect="auto")
        for row, trial in enumerate(trials):
            for col in trial.failed_attempts:
                ax.text(col, row, "✗", ha="center", va="center", color="white", fontsize=9)
        ax.set_title(f"{LABELS[paradigm]}: attempted actions", fontsize=10)
        ax.set_xlabel("attempt")
        ax.set_xticks(range(width))
        ax.set_yticks(range(len(trials)), [str(t.seed) for t in trials], fontsize=7)
        ax.set_ylabel("trial seed")
    figure.legend(
        handles=[
            *(Patch(color=ACTION_COLORS[i], label=a) for i, a in enumerate(actions)),
            Patch(color="#444444", label="✗ failed attempt"),
        ],
        loc="outside lower center",
        ncol=len(actions) + 1,
        fontsize=9,
    )
    figure.suptitle(_subtitle(experiment), fontsize=9, color="#444444")
    return figure


def _actions(experiment: Experiment) -> list[str]:
    seen: list[str] = []
    for trial in experiment.trials:
        for name in trial.sequence:
            if name not in seen:
                seen.append(name)
    order = ("load_dataset", "analyze_data", "preprocess_data", "train_model", "evaluate_model")
    return sorted(seen, key=lambda a: (order.index(a) if a in order else len(order), a))


def _failed_positions(fields: Any, sequence: Sequence[str], trial: Any) -> list[int]:
    return list(trial.failed_positions)
