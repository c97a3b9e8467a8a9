"""Fork: a new run that inherits a parent's steps before ``k`` by reference and runs from ``k``.

Nothing is copied and nothing before ``k`` re-executes: the fork's record names its parent
and fork point, and the store reads inherited steps from the parent. Forks of forks work;
the parent is never modified.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reprolam.engine.cache import StepCache
from reprolam.engine.engine import Engine, Origin, RunResult, StepCallback
from reprolam.engine.policy import validate_overrides
from reprolam.errors import ConfigError, NotFoundError
from reprolam.history.recorded import RecordedDecisions
from reprolam.history.reproduce import policy_of, workflow_of
from reprolam.planning.base import Planner
from reprolam.planning.choose import choose_planner
from reprolam.planning.rules import ScriptPlanner
from reprolam.planning.simulated import SimulatedPlanner
from reprolam.trace.contract import TraceStore
from reprolam.trace.records import RunRecord, StepKind
from reprolam.workflows.registry import Workflow


@dataclass(frozen=True, slots=True)
class ForkPoint:
    parent: RunRecord
    index: int  # steps with a smaller index are inherited


def fork_point(store: TraceStore, run_ref: str, at: int | str) -> ForkPoint:
    """Resolve ``--at`` (a step index, or the first step running that action) without writing.

    For an index this reads two records whatever the parent's length.
    """
    parent = store.get_run(store.resolve_run_id(run_ref))
    if isinstance(at, int) or (isinstance(at, str) and at.isdigit()):
        index = int(at)
        if index < 0:
            raise ConfigError(f"--at {index}: a step index is 0 or more")
        if index > 0:
            try:
                store.step_at(parent.id, index - 1)
            except NotFoundError:
                length = len(store.steps(parent.id))
                raise ConfigError(
                    f"--at {index}: run {parent.id} has only {length} steps: fork at 0..{length} "
                    "(or at an action name)"
                ) from None
        return ForkPoint(parent, index)
    steps = store.steps(parent.id)
    for step in steps:
        if step.kind is StepKind.ACTION and step.action == at:
            return ForkPoint(parent, step.index)
    ran = sorted({s.action for s in steps if s.kind is StepKind.ACTION})
    raise ConfigError(
        f"--at {at!r}: run {parent.id} never ran an action named {at!r} "
        f"(it ran: {', '.join(ran) or 'nothing'})"
    )


def fork(
    store: TraceStore,
    run_ref: str,
    *,
    at: int | str,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    planner: str | Planner | None = None,
    replay_decisions: bool = False,
    reuse: bool = False,
    workflow: str | Workflow | None = None,
    on_step: StepCallback | None = None,
) -> RunResult:
    """Fork ``run_ref`` at ``at`` and run it from there (see the module docstring).

    ``planner`` defaults to the parent's kind of planner; with ``replay_decisions`` the
    parent's recorded decisions after the fork point are replayed while they stay valid.
    ``reuse`` takes the recorded outputs of steps identical to the parent's (cache hits).
    """
    point = fork_point(store, run_ref, at)
    parent = point.parent
    flow = workflow_of(store, parent, workflow)
    checked = validate_overrides(flow.actions, overrides or {})  # before anything is written
    live = planner_of(parent.planner) if planner is None else planner
    chosen = choose_planner(live).planner if isinstance(live, str) else live
    trace = store.steps(parent.id)
    inherited = [s for s in trace if s.index < point.index]
    after = [s for s in trace if s.index >= point.index]
    if replay_decisions:
        chosen = RecordedDecisions(after, source_run=parent.id, then=chosen)
    return Engine(store).run(
        flow,
        planner=chosen,
        seed=parent.seed,
        policy=policy_of(parent),
        overrides=_merge(parent.overrides, checked),
        origin=Origin(parent=parent, fork_index=point.index, inherited=inherited),
        cache=StepCache(after, reuse=reuse),
        on_step=on_step,
    )


def planner_of(config: Mapping[str, Any]) -> str | Planner:
    """A fresh planner of the kind a run used, from its recorded config."""
    name = str(config.get("name", "rules"))
    if name == "script":
        return ScriptPlanner(config.get("order") or None, params=config.get("params") or {})
    if name == "recorded":  # a fork that replayed decisions: continue like its live planner
        then = config.get("then")
        return planner_of(then) if isinstance(then, Mapping) else "rules"
    if name == "simulated":  # same seed and rates: the same plan from any point
        rates = {k: v for k, v in config.items() if k.endswith("_rate")}
        grids = config.get("grids")
        return SimulatedPlanner(seed=config.get("seed"), grids=grids or None, **rates)
    return name


def _merge(
    base: Mapping[str, Mapping[str, Any]], extra: Mapping[str, Mapping[str, Any]]
) -> dict[str, dict[str, Any]]:
    merged = {action: dict(values) for action, values in base.items()}
    for action, values in extra.items():
        merged.setdefault(action, {}).update(values)
    return merged
