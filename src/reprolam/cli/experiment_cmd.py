"""``experiment``: the paper's study -- Script vs Naive LAM vs R-LAM, measured side by side."""

from __future__ import annotations

import shlex
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import click

from reprolam.cli.main import cli_text, emit_json, json_option, reports_errors
from reprolam.cli.options import llm_options
from reprolam.errors import ConfigError

if TYPE_CHECKING:
    from reprolam.experiments.harness import ExperimentConfig, Progress
    from reprolam.planning.choose import LLMSettings

PLANNERS = ("simulated", "llm")
DEFAULT_OUT = Path("experiment-results")
SEED_MAX = 2**32 - 1  # numpy.random.seed's range


@click.command()
@click.option(
    "--trials",
    type=int,
    default=20,
    show_default=True,
    help="Runs per paradigm; trial t uses seed S+t.",
)
@click.option(
    "--planner",
    default="simulated",
    show_default=True,
    metavar="simulated|llm",
    help="Planner of the naive LAM and R-LAM: offline simulated, or an LLM endpoint.",
)
@click.option(
    "--fault",
    "faults",
    multiple=True,
    metavar="ACTION:RATE",
    help="Inject failures into ACTION with probability RATE, in every paradigm (repeatable).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the first trial.")
@click.option(
    "--out",
    "out_given",
    type=click.Path(),
    default=str(DEFAULT_OUT),
    show_default=True,
    help="Directory for results.md/.csv/.json, the plots, and R-LAM's store (DIR/store).",
)
@llm_options
@json_option
@reports_errors
def experiment(
    trials: int,
    planner: str,
    faults: tuple[str, ...],
    seed: int,
    out_given: str,
    llm: LLMSettings,
    as_json: bool,
) -> None:
    """Run Script, Naive LAM and R-LAM N times each on the breast-cancer workflow and compare.

    Every paradigm calls the same five action functions, sees the same injected faults and
    (naive LAM, R-LAM) the same planner. Writes DIR/results.md (the table), results.csv,
    results.json (every trial's figures, the planner config, the environment, the command)
    and metrics.png, time.png, variability.png. R-LAM records into DIR/store (the global
    --store is not used). Needs matplotlib: pip install 'reprolam[experiment]'.

    \b
    Example:
      reprolam experiment --trials 20 --fault train_model:0.2
      reprolam experiment --planner llm --llm-base-url http://localhost:11434/v1 --model llama3.1
    """
    from reprolam.engine.faults import parse_faults, validate_faults
    from reprolam.experiments.harness import WORKFLOW, ExperimentConfig, run_experiment
    from reprolam.experiments.plots import require_matplotlib
    from reprolam.experiments.report import markdown, to_json, write_results
    from reprolam.planning.choose import choose_planner
    from reprolam.workflows.registry import load_workflow

    if trials < 1:
        raise ConfigError(f"{{trials={trials}}}: need at least 1 trial, e.g. {{trials=20}}")
    if not 0 <= seed <= SEED_MAX - (trials - 1):
        raise ConfigError(
            f"{{seed={seed}}}: the trials use seeds {seed}..{seed + trials - 1}, and the script "
            f"and the naive LAM seed numpy's global RNG with them, which takes 0..{SEED_MAX}; "
            "give e.g. {seed=0}"
        )
    if planner not in PLANNERS:
        raise ConfigError(
            f"{{planner={planner}}}: the experiment compares planner-driven paradigms with "
            f"{' or '.join(PLANNERS)}; e.g. {{planner=simulated}}"
        )
    out = _out_dir(out_given)
    parsed = parse_faults(faults)
    validate_faults(load_workflow(WORKFLOW).actions, parsed)
    require_matplotlib()
    choice = choose_planner(planner, llm=llm)  # before any output, and before DIR is made
    _writable(out)
    config = ExperimentConfig(
        trials=trials,
        seed=seed,
        faults=parsed,
        planner=planner,
        # the simulated planner calls no model: one set in the environment is not recorded
        model=llm.model if planner == "llm" else None,
        base_url=llm.base_url if planner == "llm" else None,
    )
    choice = replace(choice, why=cli_text(choice.why))  # the report names the CLI's flags
    command = _command(config, out)
    with _progress(trials, enabled=not as_json) as progress:
        result = run_experiment(config, out=out, command=command, progress=progress, planner=choice)
    written = write_results(result, out)
    if as_json:
        summary = {k: v for k, v in to_json(result).items() if k != "trials"}  # in results.json
        emit_json({**summary, "files": [str(p) for p in written]})
        return
    click.echo(markdown(result))
    click.echo("wrote " + ", ".join(str(p) for p in written))


def _out_dir(value: str) -> Path:
    """``--out ''`` would be read as the current directory, and the results, plots and store
    written there among the user's files: an empty path is refused."""
    if not value.strip():
        raise ConfigError(
            f"{{out}} {value!r} is empty: name the results directory, "
            "e.g. {out=./experiment-results} (or {out=.} for the current one)"
        )
    return Path(value)


def _writable(out: Path) -> None:
    """Fail before any trial runs when results could not be written, or would be written
    beside an earlier experiment's store (its runs and these results would not match)."""
    if (out / "store" / "trace.db").exists():
        what = "an earlier experiment (its store {store}): its results would be replaced"
        if not (out / "results.json").exists():  # stopped before writing them (Ctrl-C)
            what = "the store {store} of an experiment that did not finish (no results.json)"
        raise ConfigError(
            f"{{out={out}}} holds {what.format(store=out / 'store')}; the new runs would be "
            "recorded beside its runs: give another directory, e.g. {out=./experiment-2}, "
            "or remove that one first"
        )
    store = out / "store"
    if store.exists() and not store.is_dir():  # else refused after the warm-up, naming no flag
        raise ConfigError(
            f"{{out={out}}} holds a file named store, where R-LAM's runs are recorded (a "
            "directory): give another directory, e.g. {out=./experiment-2}, or move that file"
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as exc:
        raise ConfigError(
            f"{{out={out}}}: cannot write there ({exc.strerror or exc}); "
            "choose a directory you can write to, e.g. {out=./experiment-results}"
        ) from None


def _command(config: ExperimentConfig, out: Path) -> str:
    """The command line as typed when run as ``reprolam``; else an equivalent one."""
    if Path(sys.argv[0]).name == "reprolam":
        return shlex.join(["reprolam", *sys.argv[1:]])
    words = ["reprolam", "experiment", "--trials", str(config.trials)]
    words += ["--planner", config.planner, "--seed", str(config.seed), "--out", str(out)]
    for action, rate in config.faults.items():
        words += ["--fault", f"{action}:{rate:g}"]
    if config.model:
        words += ["--model", config.model]
    if config.base_url:
        words += ["--llm-base-url", config.base_url]
    return shlex.join(words)


@contextmanager
def _progress(trials: int, *, enabled: bool) -> Iterator[Progress | None]:
    """A rich progress bar on stderr (the table goes to stdout), one tick per paradigm-trial."""
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as Bar

    from reprolam.experiments.pipelines import LABELS, PARADIGMS

    columns = (TextColumn("{task.description:<24}"), BarColumn(), MofNCompleteColumn())
    with Bar(*columns, TimeElapsedColumn(), console=Console(stderr=True)) as bar:
        task = bar.add_task("warming up", total=trials * len(PARADIGMS))

        def tick(paradigm: str, trial: int) -> None:
            label = f"trial {trial + 1}/{trials} {LABELS[paradigm]}"
            bar.update(task, advance=1, description=label)

        yield tick
