"""Sweeps driven by Optuna (``reprolam[optuna]``): a seeded TPE study, one fork per trial.

The study asks for points in batches of ``jobs`` trials, the batch's forks run at once, and
their headline metric is told back in trial order, so the sequence of asks and tells (and
with it every point TPE proposes) depends only on the seed, the space, the batch size and
the metric values, never on which fork finished first. Re-running the same sweep gives the
same points; with ``reuse`` the forks take every step from the store and execute nothing.

What makes the study reproducible from the trace is recorded with every trial's fork
(``planner.sweep``: mode ``optuna``, sampler and its settings, seed, space, direction,
metric, batch size, Optuna's version, and the trial number as the point number), and
``study_of`` rebuilds the finished study (every trial with its params and value) from the
forks recorded under a sweep id.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from reprolam.errors import AmbiguousIdError, ConfigError, NotFoundError
from reprolam.history.sweep_space import Point, RandomAxis, check_seed

if TYPE_CHECKING:
    from reprolam.history.sweep import SweepPoint
    from reprolam.trace.contract import TraceStore

INSTALL_HINT = "pip install 'reprolam[optuna]'"
SAMPLER = "TPESampler"
_MINIMIZED = ("loss", "error", "mse", "rmse", "mae", "cost", "time", "regret")
SEED_MAX = 2**32 - 1  # the TPE sampler seeds numpy.random.RandomState

RunBatch = Callable[[list[tuple[int, Point]]], "list[SweepPoint]"]


def load_optuna() -> Any:
    """The optuna module, or one error naming the extra that installs it."""
    try:
        return importlib.import_module("optuna")
    except ImportError:
        raise ConfigError(
            "a sweep driven by {optuna} needs Optuna, which is not installed",
            option="optuna",
            hint=INSTALL_HINT,
        ) from None


def default_direction(metric: str) -> str:
    """``minimize`` for metrics named like a loss or an error, else ``maximize``."""
    lowered = metric.lower()
    return "minimize" if any(word in lowered for word in _MINIMIZED) else "maximize"


@dataclass(frozen=True, slots=True)
class OptunaPlan:
    """How the study draws its points: trials, space, seed, direction, metric."""

    trials: int
    axes: tuple[RandomAxis, ...]
    seed: int
    direction: str
    metric: str

    def spec(self, jobs: int) -> dict[str, Any]:
        """What every trial's fork records: enough to run the same study again."""
        return {
            "mode": "optuna",
            "axes": [a.to_dict() for a in self.axes],
            "seed": self.seed,
            "trials": self.trials,
            "batch": jobs,
            "sampler": {"name": SAMPLER, "seed": self.seed},
            "direction": self.direction,
            "metric": self.metric,
            "optuna": str(load_optuna().__version__),
        }

    def corners(self) -> list[Point]:
        """The space's bounds as points: checked against the action schemas up front."""
        return [
            {a.target: _typed(a, a.low) for a in self.axes},
            {a.target: _typed(a, a.high) for a in self.axes},
        ]

    def run(self, jobs: int, run_batch: RunBatch) -> list[SweepPoint]:
        """Ask ``jobs`` trials, run them as forks, tell their metric in trial order; repeat."""
        optuna = load_optuna()
        optuna.logging.set_verbosity(optuna.logging.WARNING)  # the sweep prints its own lines
        study = new_study(optuna, self.seed, self.direction)
        distributions = {a.target: _distribution(optuna, a) for a in self.axes}
        outcomes: list[SweepPoint] = []
        while len(outcomes) < self.trials:
            size = min(jobs, self.trials - len(outcomes))
            asked = [study.ask(distributions) for _ in range(size)]
            batch = [(trial.number, dict(trial.params)) for trial in asked]
            done = run_batch(batch)
            for trial, outcome in zip(asked, done, strict=True):
                value = objective(outcome, self.metric)
                if value is None:
                    study.tell(trial, state=optuna.trial.TrialState.FAIL)
                else:
                    study.tell(trial, value)
            outcomes.extend(done)
        return outcomes


def plan(
    space: Sequence[RandomAxis],
    trials: int,
    seed: int,
    *,
    metric: str | None,
    direction: str | None,
) -> OptunaPlan:
    """Check a study's settings (before anything is written) and name what it optimizes."""
    load_optuna()
    if trials < 1:
        raise ConfigError(f"{{optuna={trials}}}: run at least one trial", option="optuna")
    check_seed(seed, most=SEED_MAX)
    if not space:
        raise ConfigError(
            "a sweep driven by {optuna} needs a {space} to search",
            option="space",
            hint="e.g. {space=train_model.C=0.001:10:log}",
        )
    targets = [a.target for a in space]
    if len(set(targets)) != len(targets):
        raise ConfigError("{space}: a param is given twice", option="space")
    if not metric:
        raise ConfigError(
            "a sweep driven by {optuna} optimizes a headline metric, and the run's workflow "
            "declares none",
            option="metric",
            hint="name one of its metrics with {metric=NAME}",
        )
    if direction not in (None, "maximize", "minimize"):
        raise ConfigError(
            f"{{direction={direction}}}: give maximize or minimize", option="direction"
        )
    return OptunaPlan(trials, tuple(space), seed, direction or default_direction(metric), metric)


def new_study(optuna: Any, seed: int, direction: str) -> Any:
    """An in-memory study with the recorded sampler: TPE seeded with the sweep's seed."""
    sampler = optuna.samplers.TPESampler(seed=seed)
    return optuna.create_study(sampler=sampler, direction=direction)


def objective(point: SweepPoint, metric: str) -> float | None:
    """The trial's value: the fork's headline metric, or None if it failed or has none."""
    if not point.succeeded or not point.metrics:
        return None
    value = point.metrics.get(metric)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _distribution(optuna: Any, axis: RandomAxis) -> Any:
    if axis.integer:
        return optuna.distributions.IntDistribution(int(axis.low), int(axis.high))
    return optuna.distributions.FloatDistribution(axis.low, axis.high, log=axis.log)


def _typed(axis: RandomAxis, bound: float) -> Any:
    return int(bound) if axis.integer else float(bound)


def _run_not_sweep(store: TraceStore, ref: str) -> str:
    """What to add when a sweep id was asked for and ``ref`` names a run instead."""
    from reprolam.history.sweep import SWEEP_KEY

    try:
        run = store.get_run(store.resolve_run_id(ref))
    except (NotFoundError, AmbiguousIdError):
        return ""
    sweep = run.planner.get(SWEEP_KEY)
    if isinstance(sweep, dict) and sweep.get("id"):
        return f" ({ref} is a run: point {sweep.get('point')} of sweep {sweep['id']})"
    return f" ({ref} is a run, not a sweep)"


def study_of(store: TraceStore, sweep_id: str) -> Any:
    """The Optuna study of a recorded sweep, rebuilt from its forks (params and values).

    Its sampler is the recorded one (TPE with the recorded seed), so ``study.ask()`` on it
    continues the search where the sweep stopped.
    """
    from reprolam.history.metrics import final_metrics
    from reprolam.history.sweep import SWEEP_KEY, SweepPoint, sweep_runs

    optuna = load_optuna()
    runs = sweep_runs(store, sweep_id)
    specs = [run.planner[SWEEP_KEY] for run in runs]
    if not specs or specs[0].get("mode") != "optuna":
        raise ConfigError(
            f"sweep {sweep_id} is not recorded as an Optuna study in this store"
            + _run_not_sweep(store, sweep_id),
            hint="give the sweep id an Optuna sweep printed",
        )
    first = specs[0]
    axes = [RandomAxis(**axis) for axis in first["axes"]]
    distributions = {a.target: _distribution(optuna, a) for a in axes}
    study = new_study(optuna, int(first["seed"]), str(first["direction"]))
    for run, spec in zip(runs, specs, strict=True):
        point = SweepPoint(int(spec["point"]), spec["values"], run, final_metrics(store, run))
        value = objective(point, str(first["metric"]))
        study.add_trial(
            optuna.trial.create_trial(
                params=dict(spec["values"]),
                distributions=distributions,
                value=value,
                state=optuna.trial.TrialState.COMPLETE
                if value is not None
                else optuna.trial.TrialState.FAIL,
            )
        )
    return study
