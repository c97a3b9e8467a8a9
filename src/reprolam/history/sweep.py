"""Sweeps: one fork of a run per point of a parameter grid or random space, run concurrently.

Every point is a normal fork (lineage to the parent, inherited steps by reference, same
planner kind, policy and executor). The forks of one sweep are grouped by a sweep id
recorded in each fork's planner config (``planner.sweep``: id, point number, the point's
values, and the grid or the random space with its seed), so no schema change is needed and
a fork of a sweep point is an ordinary fork again (rebuilt planners drop the key).

Concurrency: ``jobs`` threads each drive one fork. Every store is safe to share between
threads (one connection behind a lock: each ``record`` is one serialized transaction), and
each fork's steps are recorded only by the thread driving it, so the single-writer-per-run
discipline holds while actions run in parallel. Executors that can serve several runs at
once (``concurrent = True``, e.g. dask) are built once and shared; others (local, process)
are built per fork. With ``local`` the actions run one at a time in this interpreter (they
share its global RNGs and effects watch: ``engine.executors``); use ``process`` or ``dask``
for real parallelism.
"""

from __future__ import annotations

import csv
import io
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from reprolam.brief import metrics_words, value_words
from reprolam.codecs import Serializer
from reprolam.engine.executor_registry import executor_class, executor_from_config
from reprolam.engine.executors import Executor
from reprolam.engine.policy import validate_overrides
from reprolam.errors import (
    AmbiguousIdError,
    ConfigError,
    NotFoundError,
    PolicyViolation,
    ReprolamError,
    StoreError,
)
from reprolam.hashing import canonical_json
from reprolam.history.fork import fork, fork_point
from reprolam.history.metrics import final_metrics
from reprolam.history.rebuild import (
    ExecutorRef,
    PolicyChanges,
    changed_policy,
    executor_of,
    planner_of,
    workflow_of,
)
from reprolam.history.sweep_space import (
    GridAxis,
    Point,
    RandomAxis,
    check_seed,
    check_space_types,
    grid_points,
    nested,
    random_points,
    typed_as_declared,
)
from reprolam.ids import uuid7
from reprolam.planning.base import Decision, Planner, RunState
from reprolam.trace.contract import TraceStore
from reprolam.trace.queries import finite_number
from reprolam.trace.records import RunRecord, StepKind, StepRecord, StepStatus
from reprolam.trace.step_history import steps_from
from reprolam.workflows.registry import Workflow

if TYPE_CHECKING:
    from reprolam.engine.loop import RunResult
    from reprolam.history.sweep_optuna import OptunaPlan
    from reprolam.planning.choose import LLMSettings

SWEEP_KEY = "sweep"  # where a fork's planner config records its sweep


class SweepMember:
    """A fork's planner, unchanged, whose recorded config also names the sweep it belongs to."""

    def __init__(
        self,
        inner: Planner,
        sweep: Mapping[str, Any],
        stopping: threading.Event | None = None,
    ) -> None:
        self.inner = inner
        self.sweep = dict(sweep)
        self.name = inner.name  # proposals record the same planner name as a plain fork
        self.instant = inner.instant
        self.stopping = stopping

    def propose(self, state: RunState) -> Decision:
        if self.stopping is not None and self.stopping.is_set():
            # The sweep was interrupted (Ctrl-C reaches only the main thread): this fork
            # stops before its next step, recorded as interrupted, as a run stopped so is.
            raise KeyboardInterrupt("the sweep was interrupted")
        return self.inner.propose(state)

    def config(self) -> dict[str, Any]:
        return {**self.inner.config(), SWEEP_KEY: self.sweep}

    def __getattr__(self, name: str) -> Any:
        # optional hooks of the inner planner (propose_ready: engine.concurrent)
        if name == "propose_ready":
            return getattr(self.inner, name)
        raise AttributeError(name)


@dataclass(frozen=True, slots=True)
class SweepPoint:
    """One point's outcome: its fork, headline metrics, and what it executed or reused."""

    number: int
    values: Point
    run: RunRecord | None = None
    metrics: dict[str, Any] | None = None
    executed: int = 0  # action steps this fork executed
    reused: int = 0  # action steps whose recorded outputs it took from the store
    failed: int = 0  # action steps that failed
    error: str | None = None  # why the fork could not run at all
    environments: tuple[str, ...] = ()  # digests of the remote workers' environments it used
    # the error itself: its text in another style (the CLI's flags: ``failure.render``)
    failure: ReprolamError | None = field(default=None, repr=False, compare=False)

    def __repr__(self) -> str:
        values = " ".join(f"{t}={value_words(v)}" for t, v in self.values.items())
        run = self.run
        outcome = f"{run.id} {run.status.value}" if run is not None else f"not run: {self.error}"
        metrics = f", {metrics_words(self.metrics)}" if self.metrics else ""
        return f"<SweepPoint {self.number} {values}: {outcome}{metrics}>"

    @property
    def succeeded(self) -> bool:
        return self.run is not None and self.run.status.value == "succeeded"

    def to_dict(self) -> dict[str, Any]:
        return {
            "point": self.number,
            "values": self.values,
            "run_id": self.run.id if self.run else None,
            "status": self.run.status.value if self.run else "error",
            "metrics": self.metrics,
            "executed": self.executed,
            "reused": self.reused,
            "failed": self.failed,
            "error": self.error,
            "worker_environments": list(self.environments),
        }


@dataclass(frozen=True, slots=True)
class SweepResult:
    id: str
    parent: str
    at: int
    spec: dict[str, Any]
    points: list[SweepPoint] = field(default_factory=list)

    @property
    def succeeded(self) -> bool:
        return all(p.succeeded for p in self.points)

    def __repr__(self) -> str:
        best = self.best()
        said = f"; best: point {best.number}" if best is not None else ""
        return (
            f"<SweepResult {self.id} of {self.parent} at step {self.at}: "
            f"{len(self.points)} points{said}>"
        )

    def __str__(self) -> str:
        return "\n".join([repr(self), *(f"  {point!r}" for point in self.points)])

    @property
    def targets(self) -> list[str]:
        return [axis["target"] for axis in self.spec.get("axes", [])]

    @property
    def executed(self) -> int:
        return sum(p.executed for p in self.points)

    @property
    def environments(self) -> list[str]:
        """Distinct environment digests of the workers that ran steps (remote executors).

        More than one means the workers differ in Python or package versions.
        """
        return sorted({e for p in self.points for e in p.environments})

    @property
    def reused(self) -> int:
        return sum(p.reused for p in self.points)

    def headline(self) -> str | None:
        """The metric the summary sorts and plots by: ``spec['metric']``, else the first one."""
        wanted = self.spec.get("metric")
        if wanted:
            return str(wanted)
        for point in self.points:
            if point.metrics:
                return next(iter(point.metrics))
        return None

    def best(self) -> SweepPoint | None:
        """The point with the best finite headline metric among those whose fork succeeded
        (a fork that failed after its metrics step is no result; Optuna is told it failed)."""
        metric = self.headline() or ""
        scored = [
            p
            for p in self.points
            if p.metrics and finite_number(p.metrics.get(metric)) and (p.run is None or p.succeeded)
        ]
        if not scored:
            return None
        from reprolam.history.sweep_optuna import default_direction  # no optuna needed

        direction = self.spec.get("direction") or default_direction(metric)
        pick = min if direction == "minimize" else max
        return pick(scored, key=lambda p: float((p.metrics or {})[metric]))

    def to_dict(self) -> dict[str, Any]:
        best = self.best()
        return {
            "sweep": self.id,
            "parent": self.parent,
            "at": self.at,
            "spec": self.spec,
            "metric": self.headline(),
            "points": [p.to_dict() for p in self.points],
            "executed": self.executed,
            "reused": self.reused,
            "worker_environments": self.environments,
            "best": best.to_dict() if best else None,
        }

    def _repr_html_(self) -> str:
        from reprolam.notebook import sweep_html

        return sweep_html(self)

    def to_csv(self) -> str:
        """One row per point: number, run, status, each swept value, each metric."""
        metrics = sorted({k for p in self.points for k in (p.metrics or {})})
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        head = ["point", "run_id", "status", *self.targets, *metrics, "executed", "reused"]
        writer.writerow(head)
        for p in self.points:
            row = p.to_dict()
            writer.writerow(
                [
                    p.number,
                    row["run_id"] or "",
                    row["status"],
                    *(_cell(p.values.get(t, "")) for t in self.targets),
                    *(_cell((p.metrics or {}).get(m, "")) for m in metrics),
                    p.executed,
                    p.reused,
                ]
            )
        return out.getvalue()


PointCallback = Callable[[SweepPoint], None]


def _cell(value: Any) -> Any:
    """A CSV cell as ``compare --csv`` writes one: a text or number as it is, any other value
    (a list, a model's fields, null) in its JSON form, as the step records it."""
    if isinstance(value, str | int | float):
        return value
    return canonical_json(value)


def _refuse_inherited_targets(
    store: TraceStore, parent: RunRecord, index: int, points: Sequence[Point]
) -> None:
    """Refuse a sweep whose points would all be the same run: an action it varies ran in the
    parent only before the fork point, so every fork inherits that step as it ran."""
    actions = {action for point in points for action in nested(point)}
    if not actions:
        return
    first_run: dict[str, int] = {}
    for step in store.steps(parent.id):
        if step.kind is StepKind.ACTION and step.action in actions:
            if step.index >= index:
                actions = actions - {step.action}
            else:
                first_run.setdefault(step.action, step.index)
    inherited = sorted(actions & set(first_run))
    if inherited:
        action = inherited[0]
        raise ConfigError(
            f"{{at={index}}}: the sweep varies {action}, which ran only before the fork point "
            f"(step {first_run[action]}): every fork would inherit that step as it ran and "
            f"no point would differ; sweep at {action} ({{at={action}}}) or earlier",
            option="at",
        )


def _check_points(
    flow: Workflow,
    fixed: dict[str, dict[str, Any]],
    points: Sequence[Point],
    source: str,
    merged: Callable[[Point], dict[str, dict[str, Any]]],
    space: Sequence[RandomAxis] = (),
) -> None:
    """``fixed`` (``set=``) first, then each point's own values, blamed on ``source`` (the
    grid or the space they came from), then each point's whole overrides. A value drawn
    from a random space is named with the space it came from (the user typed the bounds)."""
    validate_overrides(flow.actions, fixed)
    _refuse_fixed_and_swept(fixed, points, source)
    for point in points:
        try:
            validate_overrides(flow.actions, nested(point))
        except ConfigError as exc:
            what = exc.what.replace("{overrides}", "{" + source + "}", 1)
            hint = exc.hint
            axis = next((a for a in space if f" {a.target}=" in exc.what), None)
            if axis is not None:
                typed = axis.typed
                drawn, _, reason = exc.what.partition(f" {axis.target}=")[2].partition(": ")
                what = f"{{space}} {typed} drew {drawn}, out of the param's range: {reason}"
                hint = "keep the space within the param's bounds"
            raise ConfigError(what, option=source, hint=hint) from None
        validate_overrides(flow.actions, merged(point))


def _refuse_fixed_and_swept(
    fixed: Mapping[str, Mapping[str, Any]], points: Sequence[Point], source: str
) -> None:
    """A param both fixed (``set=``) and swept: every point would run with its own value
    while the sweep recorded the fixed one as set in all of them."""
    swept = {target for point in points for target in point}
    both = sorted(f"{a}.{p}" for a, params in fixed.items() for p in params if f"{a}.{p}" in swept)
    if both:
        raise ConfigError(
            f"{{set}} {both[0]} is also swept by the {{{source}}}: each point runs with its "
            "own value, so the fixed one would never be used",
            option="set",
            hint=f"drop {both[0]} from {{set}} or from the {{{source}}}",
        )


def _axes_as_read(
    flow: Workflow, grid: Sequence[GridAxis], space: Sequence[RandomAxis]
) -> list[GridAxis]:
    """The grid's axes as their params read them; a space its params cannot take refused."""
    check_space_types(flow.actions, space)
    return _grid_as_read(flow, grid)


def _in_json_form(flow: Workflow, axis: GridAxis) -> GridAxis:
    """The axis with values given as Python objects (``date(2021, 1, 1)``, a model) in the
    JSON form a step records; the sweep records its points and axes so, as JSON."""
    action, _, param = axis.target.partition(".")
    if action not in flow.actions or param not in flow.actions.get(action).param_names:
        return axis
    spec = flow.actions.get(action)
    values = tuple(
        value
        if spec.param_problems({param: value}, partial=True, strict=True)  # refused later
        else spec.json_form({param: value})[param]
        for value in axis.values
    )
    return replace(axis, values=values)


def _grid_as_read(flow: Workflow, grid: Sequence[GridAxis]) -> list[GridAxis]:
    """The axes with typed values read as ``--set`` reads them, each value once as its
    param reads it: two that it reads as one (``1`` and ``1.0`` for a float) would make
    every point that holds them twice, so they are refused, as a value listed twice is.
    A value the param refuses is left for ``_check_points`` to name."""
    axes = [_in_json_form(flow, typed_as_declared(flow.actions, axis)) for axis in grid]
    for axis in axes:
        action, _, param = axis.target.partition(".")
        if action not in flow.actions:
            continue
        spec = flow.actions.get(action)
        seen: dict[str, Any] = {}
        for value in axis.values:
            try:
                read = canonical_json(spec.validate_params({param: value})[param])
            except PolicyViolation:  # refused (_check_points says why), or a required param
                break
            if read in seen:
                first = seen[read]
                same = (
                    f"{value!r} is listed twice"
                    if repr(first) == repr(value)
                    else (f"{first!r} and {value!r} are the same value of the param ({read})")
                )
                raise ConfigError(
                    f"{{grid}} {axis.target}: {same}, so the sweep would run those points twice",
                    option="grid",
                    hint="list each value once",
                )
            seen[read] = value
    return axes


def sweep(
    store: TraceStore,
    run_ref: str,
    *,
    at: int | str,
    grid: Sequence[GridAxis] = (),
    space: Sequence[RandomAxis] = (),
    random: int | None = None,
    optuna: int | None = None,
    direction: str | None = None,
    seed: int = 0,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    jobs: int = 1,
    reuse: bool = False,
    metric: str | None = None,
    workflow: str | Workflow | None = None,
    policy: PolicyChanges = None,
    executor: ExecutorRef = None,
    serializer: Serializer | None = None,
    trusted: bool = False,
    on_point: PointCallback | None = None,
    llm: LLMSettings | None = None,
) -> SweepResult:
    """Fork ``run_ref`` at ``at`` once per point and run the forks, ``jobs`` at a time.

    Points come from ``grid`` (every combination), from ``random`` draws of ``space``
    seeded with ``seed``, or from ``optuna`` trials of a TPE study seeded with ``seed`` that
    optimizes the headline metric in ``direction`` (``history.sweep_optuna``).
    ``overrides`` apply to every point (a point's values win). Everything is checked
    before the first fork is written. ``llm``: the endpoint and sampling of an LLM
    planner (each point's is a fresh one of the parent's kind).
    """
    _check_options(jobs=jobs, random=random, optuna=optuna, seed=seed, reuse=reuse)
    where = fork_point(store, run_ref, at)
    parent = where.parent
    known = _known_metrics(store, parent, metric, direction, optuna=optuna is not None)
    flow = workflow_of(store, parent, workflow, trusted=trusted)
    grid = _axes_as_read(flow, grid, space)
    study = None
    if optuna is not None:
        study = _study(known, space, optuna, seed, metric, direction, grid, random)
        point_list, spec = study.corners(), study.spec(jobs)
    else:
        point_list, spec = _points(grid, space, random, seed)
        spec.update({k: v for k, v in (("metric", metric), ("direction", direction)) if v})
    fixed = validate_overrides(flow.actions, overrides or {})  # values as the params read them
    if fixed:
        spec["set"] = fixed

    def point_overrides(point: Point) -> dict[str, dict[str, Any]]:
        merged = {action: dict(values) for action, values in fixed.items()}
        for action, values in nested(point).items():
            merged.setdefault(action, {}).update(values)
        return merged

    # a bad value is refused before anything is written
    _refuse_read_only(store)
    _check_points(flow, fixed, point_list, "grid" if grid else "space", point_overrides, space)
    _refuse_inherited_targets(store, parent, where.index, point_list)
    config = executor if executor is not None else executor_of(parent)
    _check_forks_can_start(parent, flow, policy, config, llm, jobs)

    sweep_id = uuid7()
    shared = _shared_executor(config)
    # the callbacks' lock; and, set on Ctrl-C, running points stop before their next step
    lock, stopping = threading.Lock(), threading.Event()

    count = study.trials if study is not None else len(point_list)

    def one(number: int, point: Point) -> SweepPoint:
        member = SweepMember(
            planner_of(parent, llm=llm),
            {"id": sweep_id, "point": number, "points": count, "values": point, **spec},
            stopping,
        )
        try:
            result = fork(
                store,
                parent.id,
                at=where.index,
                overrides=point_overrides(point),
                planner=member,
                reuse=reuse,
                workflow=flow,
                policy=policy,
                executor=shared or config,
                serializer=serializer,
            )
        except ReprolamError as exc:
            # a fork stopped after it was recorded (a damaged input) is named, as interrupted
            outcome = SweepPoint(
                number, point, _point_run(store, sweep_id, number), error=str(exc), failure=exc
            )
        else:
            outcome = _finished_point(store, number, point, result, where.index)
        if on_point is not None:
            with lock:  # callbacks print: one at a time
                on_point(outcome)
        return outcome

    def run_batch(batch: list[tuple[int, Point]]) -> list[SweepPoint]:
        return _in_parallel(one, batch, jobs, stopping)

    try:
        if study is not None:
            outcomes = study.run(jobs, run_batch)
        else:
            outcomes = run_batch(list(enumerate(point_list)))
    finally:
        if shared is not None:
            shared.close()
    return SweepResult(sweep_id, parent.id, where.index, spec, outcomes)


def _check_options(*, jobs: Any, random: Any, optuna: Any, seed: Any, reuse: Any) -> None:
    """Refuse a count, seed or flag of the wrong type before anything is written (a text
    ``jobs='2'`` was a TypeError; a text or negative ``seed`` of a grid sweep, which draws
    nothing, and a text ``reuse='no'`` were taken silently)."""
    for name, count in (("jobs", jobs), ("random", random), ("optuna", optuna)):
        if count is not None and (
            isinstance(count, bool) or not isinstance(count, int) or count < 1
        ):
            raise ConfigError(
                f"{_named(name, count)}: give a whole number, 1 or more",
                option=name,
                value=count,
                hint="e.g. {" + name + "=2}",
            )
    if optuna is None:  # an optuna seed: sweep_optuna.plan
        check_seed(seed)
    if not isinstance(reuse, bool):
        raise ConfigError(
            f"{_named('reuse', reuse)}: reuse is True or False", option="reuse", value=reuse
        )


def _named(option: str, value: Any) -> str:
    """``{jobs=0}`` markup for a number; a text or another object as Python writes it, after
    the option's name (markup would render ``'2'`` as ``2``)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{{{option}={value}}}"
    return f"{{{option}}} {value!r}"


def _check_headline(metric: Any, direction: Any) -> None:
    """The headline metric is a name and the direction maximize or minimize: a number or
    another word was recorded with every point and left ``best()`` without a metric or
    picking the maximum."""
    if metric is not None and (not isinstance(metric, str) or not metric.strip()):
        raise ConfigError(
            f"{_named('metric', metric)}: name one of the run's headline metrics",
            option="metric",
            value=metric,
            hint="e.g. {metric=accuracy}, or leave it out for the first one",
        )
    if direction not in (None, "maximize", "minimize"):
        raise ConfigError(
            f"{_named('direction', direction)}: give maximize or minimize",
            option="direction",
            value=direction,
        )


def _point_run(store: TraceStore, sweep_id: str, number: int) -> RunRecord | None:
    """The fork recorded for point ``number`` of a sweep, if the error came after its start
    (e.g. a damaged input: the fork is recorded as interrupted, with the error)."""
    return next(
        (r for r in sweep_runs(store, sweep_id) if r.planner[SWEEP_KEY].get("point") == number),
        None,
    )


def _finished_point(
    store: TraceStore, number: int, point: Point, result: RunResult, at: int
) -> SweepPoint:
    """A fork that ran: its metrics and what its own steps did (inherited ones not read)."""
    own = steps_from(result.steps, at)
    return SweepPoint(
        number,
        point,
        run=result.run,
        metrics=final_metrics(store, result.run),
        executed=sum(1 for s in own if _executed(s)),
        reused=sum(1 for s in own if s.reused),
        failed=sum(1 for s in own if s.status is StepStatus.FAILED),
        environments=tuple(sorted({e for s in own if (e := _environment(s))})),
    )


def _refuse_read_only(store: TraceStore) -> None:
    """One refusal for the sweep, not one failed point per point: every point is a fork."""
    if getattr(store, "read_only", False):
        raise StoreError(
            f"the trace store {getattr(store, 'location', store)} is open read-only (this "
            "process cannot write to it) and every point of a sweep records a fork: sweep "
            "in a store you can write to (`reprolam store copy` makes one)"
        )


def _in_parallel(
    one: Callable[[int, Point], SweepPoint],
    batch: list[tuple[int, Point]],
    jobs: int,
    stopping: threading.Event,
) -> list[SweepPoint]:
    """``one`` over every numbered point, ``jobs`` at a time, outcomes in point order.

    Interrupted (Ctrl-C, in this thread), points not started never start and running ones
    stop before their next step (``stopping``), instead of running to their end."""
    if jobs == 1 or len(batch) == 1:
        return [one(n, p) for n, p in batch]
    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="sweep") as pool:
        futures = [pool.submit(one, n, p) for n, p in batch]
        try:
            return [f.result() for f in futures]
        except BaseException:
            stopping.set()
            for f in futures:
                f.cancel()
            raise


def _points(
    grid: Sequence[GridAxis], space: Sequence[RandomAxis], random: int | None, seed: int
) -> tuple[list[Point], dict[str, Any]]:
    """The sweep's points and the spec recorded with each (how they were made)."""
    if bool(grid) == bool(space):
        raise ConfigError(
            "a sweep needs either a {grid} or a random {space}, not both and not neither",
            hint="e.g. {grid=train_model.C=0.01,0.1,1} or {random=8} with "
            "{space=train_model.C=0.001:10:log}",
        )
    if space and random is None:
        raise ConfigError("a random {space} needs a number of points", option="random")
    if grid and random is not None:
        raise ConfigError("{random} draws from a {space}, not from a {grid}", option="random")
    if grid:
        return grid_points(grid), {"mode": "grid", "axes": [a.to_dict() for a in grid]}
    spec = {"mode": "random", "axes": [a.to_dict() for a in space], "seed": seed}
    return random_points(space, random or 0, seed), spec


def _study(
    known: Mapping[str, Any],
    space: Sequence[RandomAxis],
    trials: int,
    seed: int,
    metric: str | None,
    direction: str | None,
    grid: Sequence[GridAxis],
    random: int | None,
) -> OptunaPlan:
    from reprolam.history import sweep_optuna

    if grid or random is not None:
        raise ConfigError(
            "{optuna} chooses the points itself: give it a {space}, not a {grid} or {random}",
            option="optuna",
        )
    headline = metric or next(iter(known), None)
    return sweep_optuna.plan(space, trials, seed, metric=headline, direction=direction)


def _known_metrics(
    store: TraceStore, parent: RunRecord, metric: Any, direction: Any, *, optuna: bool
) -> dict[str, Any]:
    """The parent's headline metrics; a ``metric`` not among them is refused before any point
    runs (every point's value would be missing: a study searches blind, a table is dashes)."""
    _check_headline(metric, direction)
    known = final_metrics(store, parent) or {}
    if metric is not None and known and metric not in known:
        consequence = (
            "so {optuna} would have no value to optimize"
            if optuna
            else "so no point would have a value to compare"
        )
        raise ConfigError(
            f"{{metric={metric}}}: run {parent.id}'s headline metrics are "
            f"{', '.join(known)}, {consequence}",
            option="metric",
            value=metric,
            hint="name one of them with {metric=NAME}",
        )
    return known


def _check_forks_can_start(
    parent: RunRecord,
    flow: Workflow,
    policy: PolicyChanges,
    config: ExecutorRef,
    llm: LLMSettings | None,
    jobs: int,
) -> None:
    """Refuse once what every fork would refuse (each point an 'error' line, exit 1): a
    planner that cannot be rebuilt, a policy the workflow or executor cannot run (a
    --timeout on Dask, a --fault naming no action), an executor instance ``jobs`` points
    cannot share."""
    from reprolam.engine.engine import check_policy  # the engine only once a sweep runs

    planner_of(parent, llm=llm, choosable=False)
    check_policy(changed_policy(parent, policy), flow, _executor_kind(config))
    _refuse_shared_instance(config, jobs)


def _refuse_shared_instance(config: ExecutorRef, jobs: int) -> None:
    """An executor instance that serves one run at a time (a process executor: one worker,
    one pipe) cannot be shared by ``jobs`` points at once: two points' actions crossed in
    its pipe and one was recorded as failed, its worker said to have died."""
    if jobs == 1 or config is None or isinstance(config, str | Mapping):
        return
    name = getattr(config, "name", type(config).__name__)
    if getattr(config, "concurrent", False) or name == "local":  # local: one lock, shared
        return
    raise ConfigError(
        f"{{jobs={jobs}}} points at once cannot share one {name} executor instance: it "
        "serves one run at a time",
        option="executor",
        hint=f"pass its name, {{executor={name}}}, and each point gets its own, or run one "
        "point at a time ({jobs=1})",
    )


def _executor_kind(config: ExecutorRef) -> Any:
    """The executor, or its class (its name and whether it stops a running action)."""
    if config is None or isinstance(config, str | Mapping):
        name = config if isinstance(config, str) else str((config or {}).get("name") or "local")
        return executor_class(name)
    from reprolam.engine.engine import refuse_non_executor  # the engine only once one runs

    refuse_non_executor(config)
    return config


def _shared_executor(config: ExecutorRef) -> Executor | None:
    """One executor for every fork, when it can serve several at once; else None."""
    if config is None or not isinstance(config, str | Mapping):
        return None  # an instance: the caller owns it and its concurrency
    name = config if isinstance(config, str) else str(config.get("name") or "local")
    if not getattr(executor_class(name), "concurrent", False):
        return None
    executor = executor_from_config(config)
    executor.start()
    return executor


def _environment(step: StepRecord) -> str | None:
    placement = step.proposal.get("placement")
    return str(placement.get("environment")) if isinstance(placement, dict) else None


def _executed(step: StepRecord) -> bool:
    return step.kind is StepKind.ACTION and step.finished and not step.reused


def sweep_runs(store: TraceStore, sweep_id: str) -> list[RunRecord]:
    """The forks recorded under ``sweep_id``, by point number."""
    return sweeps_by_prefix(store, sweep_id).get(sweep_id, [])


def sweeps_by_prefix(store: TraceStore, prefix: str) -> dict[str, list[RunRecord]]:
    """The sweeps whose id starts with ``prefix`` (none for ''): each id's forks, by point
    number. It reads every run (a sweep is recorded only in its forks' planner config)."""
    found: dict[str, list[RunRecord]] = {}
    for run in store.list_runs() if prefix else ():
        sweep = run.planner.get(SWEEP_KEY)
        if isinstance(sweep, dict) and str(sweep.get("id", "")).startswith(prefix):
            found.setdefault(str(sweep["id"]), []).append(run)
    for runs in found.values():
        runs.sort(key=lambda r: int(r.planner[SWEEP_KEY].get("point", 0)))
    return found


def sweep_not_run(store: TraceStore, ref: str) -> NotFoundError | None:
    """The error for a run id that names a sweep instead (its id or a unique prefix of
    one): what it is, and the runs a command taking one run can take. None if it names none.
    Only asked once no run has that id or prefix: it reads every run."""
    ref = ref.strip().lower()
    points = sweeps_by_prefix(store, ref)
    if len(points) != 1:
        return (
            None
            if not points
            else NotFoundError(
                f"no run with id or prefix {ref!r} in {store.location}, and it is the prefix of "
                f"several sweeps' ids ({', '.join(sorted(points))}): a sweep is no run; "
                "`reprolam compare SWEEP_ID` lists a sweep's points, each a run"
            )
        )
    ((sweep_id, runs),) = points.items()
    first = runs[0]
    return NotFoundError(
        f"{sweep_id} is a sweep, not a run: {len(runs)} point(s), each a fork of run "
        f"{first.parent_id} at step {first.fork_index}",
        hint=f"give one of its points' run ids (point 0: {first.id}); `reprolam compare "
        f"{sweep_id}` (rl.compare from Python) shows every point side by side with its run id",
    )


def run_or_sweep_ids(store: TraceStore, refs: Sequence[str]) -> list[str]:
    """Run refs as given, with each that names a sweep instead (its id or a unique prefix)
    replaced by that sweep's forks, by point number (``compare SWEEP_ID``). A prefix of
    both a run id and a sweep id is ambiguous (uuid7 ids made in the same millisecond
    share their first 12 digits): it names neither until it is longer."""
    found: list[str] = []
    for ref in (r.strip() for r in refs):
        points = sweeps_by_prefix(store, ref)
        sweeps = sorted(points)
        try:
            run_id = store.resolve_run_id(ref)
        except NotFoundError as missing:
            if not ref:
                raise
            if not sweeps:
                raise NotFoundError(
                    f"no run or sweep with id or prefix {ref!r} in {store.location}: "
                    "list runs with `reprolam runs`"
                ) from missing
        else:
            if not sweeps or run_id == ref:
                found.append(run_id)
                continue
            if ref not in sweeps:
                raise AmbiguousIdError(
                    f"id prefix {ref!r} matches run {run_id} and sweep {sweeps[0]}: "
                    "give more characters"
                )
            sweeps = [ref]
        if len(sweeps) > 1 and ref not in sweeps:
            raise AmbiguousIdError(
                f"sweep id prefix {ref!r} matches several sweeps ({', '.join(sweeps)}): "
                "give more characters"
            )
        chosen = ref if ref in sweeps else sweeps[0]
        found += [run.id for run in points[chosen]]
    return found
