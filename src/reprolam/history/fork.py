"""Fork: a new run that inherits a parent's steps before ``k`` by reference and runs from ``k``.

Nothing is copied and nothing before ``k`` re-executes: the fork's record names its parent
and fork point, and the store reads inherited steps from the parent. Forks of forks work;
the parent is never modified.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reprolam.codecs import Serializer
from reprolam.engine.cache import StepCache
from reprolam.engine.engine import Engine, Origin, RunResult, StepCallback
from reprolam.engine.policy import validate_overrides
from reprolam.engine.start_state import trace_length
from reprolam.errors import (
    ConfigError,
    IntegrityError,
    NotFoundError,
    OverrideNotApplied,
    warn,
)
from reprolam.history.rebuild import (
    ExecutorRef,
    PolicyChanges,
    changed_policy,
    executor_of,
    planner_of,
    workflow_of,
)
from reprolam.history.recorded import RecordedDecisions
from reprolam.planning.base import Planner
from reprolam.planning.choose import LLMSettings
from reprolam.trace.contract import TraceStore
from reprolam.trace.records import (
    RunRecord,
    StepKind,
    StepRecord,
    StepStatus,
    hash_holds,
    run_header_hash,
)
from reprolam.trace.step_history import StepHistory, steps_from
from reprolam.workflows.registry import Workflow


@dataclass(frozen=True, slots=True)
class ForkPoint:
    parent: RunRecord
    index: int  # steps with a smaller index are inherited


def fork_point(store: TraceStore, run_ref: str, at: int | str) -> ForkPoint:
    """Resolve ``at`` (a step index, or the first step running that action) without writing.

    For an index this reads two records whatever the parent's length.
    """
    parent = store.get_run(store.resolve_run_id(run_ref))
    if isinstance(at, bool) or not isinstance(at, int | str):  # True was step 1
        raise ConfigError(
            f"{{at}} {at!r}: give a step index (a whole number) or an action name",
            option="at",
            value=at,
            hint="e.g. {at=3} or {at=train_model}",
        )
    if isinstance(at, int) or (isinstance(at, str) and at.lstrip("-").isdigit()):
        index = int(at)
        if index < 0:
            raise ConfigError(f"{{at={index}}}: a step index is 0 or more", option="at")
        before = None
        if index > 0:
            try:
                before = store.step_at(parent.id, index - 1)
            except NotFoundError:
                length = trace_length(store, parent)
                if index <= length:  # the run says it has the step, its trace does not
                    raise IntegrityError(
                        f"cannot fork run {parent.id}: step {index - 1} is missing from its "
                        f"trace (the run counts {length} steps): the store was edited or "
                        f"damaged; `reprolam audit {parent.id}` says what else is wrong"
                    ) from None
                raise ConfigError(
                    f"{{at={index}}}: run {parent.id} has only {length} steps: fork at "
                    f"{_fork_range(store, parent.id, length)} (or at an action name)"
                ) from None
        _check_parent(store, parent, before)
        return ForkPoint(parent, index)
    steps = store.steps(parent.id)
    for step in steps:
        if step.kind is StepKind.ACTION and step.action == at:
            _check_parent(store, parent, steps[step.index - 1] if step.index else None)
            return ForkPoint(parent, step.index)
    ran = sorted({s.action for s in steps if s.kind is StepKind.ACTION})
    raise ConfigError(
        f"{{at={at}}}: run {parent.id} never ran an action named {at!r} "
        f"(it ran: {', '.join(ran) or 'nothing'})"
    )


def _fork_range(store: TraceStore, run_id: str, length: int) -> str:
    """The step indexes a fork of a run with ``length`` steps can start at: not past a last
    step that never finished (see ``_check_parent``)."""
    try:
        unfinished = length > 0 and store.step_at(run_id, length - 1).status is StepStatus.STARTED
    except NotFoundError:
        unfinished = False
    if unfinished:
        return f"0..{length - 1} (step {length - 1} never finished)"
    return f"0..{length}"


def _check_parent(store: TraceStore, parent: RunRecord, before: StepRecord | None) -> None:
    """What a fork starts from, checked whatever the parent's length: the parent's header
    (the seed, policy and overrides a fork inherits) and the last step it inherits (whose
    hash its chain continues). ``ConfigError`` if that step never finished (a run stopped
    mid-step has only its last step unfinished, so it is the one to check); ``IntegrityError``
    if either was edited. The rest of the parent's trace is verified by the fork's own replay
    and audit, which name the parent."""
    if before is not None and before.status is StepStatus.STARTED:
        # Inherited by reference, it would change under the fork when the parent resumes.
        raise ConfigError(
            f"{{at={before.index + 1}}}: step {before.index} ({before.action}) of run "
            f"{parent.id} never finished (the run was interrupted while it ran, or is still "
            f"running): fork at {before.index} or earlier, or `reprolam resume {parent.id}` "
            "first and fork the finished run",
            option="at",
        )
    problem = start_problem(store, parent, before, "the last one a fork inherits")
    if problem:
        raise IntegrityError(
            f"cannot fork run {parent.id}: {problem}; `reprolam audit {parent.id}` says what "
            "else is wrong"
        )


def start_problem(
    store: TraceStore, run: RunRecord, before: StepRecord | None, which: str
) -> str | None:
    """Why what a new step would continue from was edited: ``run``'s header (seed, policy,
    overrides, ...) or ``before``, the step whose hash the next step chains to (``which``
    says what it is to the caller); None when both hold."""
    if before is not None and not hash_holds(before):
        return f"step {before.index}, {which}, was changed after it ran"
    if run.header_hash is None:
        return None
    head = ""
    if run.parent_id is not None and run.fork_index:
        try:
            head = store.step_at(run.parent_id, run.fork_index - 1).hash or ""
        except NotFoundError:
            head = "?"
    if run_header_hash(run, head) != run.header_hash:
        return (
            "its record (seed, workflow, planner, policy, overrides, environment, fork "
            "point or creation time) was changed after it was created"
        )
    return None


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
    policy: PolicyChanges = None,
    executor: ExecutorRef = None,
    llm: LLMSettings | None = None,
    serializer: Serializer | None = None,
    trusted: bool = False,
    on_step: StepCallback | None = None,
) -> RunResult:
    """Fork ``run_ref`` at ``at`` and run it from there (see the module docstring).

    ``planner`` defaults to a fresh planner of the parent's kind and settings; with
    ``replay_decisions`` the parent's recorded decisions after the fork point are replayed
    while they stay valid. ``reuse`` takes the recorded outputs of steps identical to the
    parent's (cache hits). ``policy`` (changes to the parent's) and ``executor`` default to
    what the parent recorded.
    """
    point = fork_point(store, run_ref, at)
    parent = point.parent
    flow = workflow_of(store, parent, workflow, trusted=trusted)
    checked = validate_overrides(flow.actions, overrides or {})  # before anything is written
    chosen = planner_of(parent, planner, llm=llm)
    # The parent's steps from the fork point on, read page by page when the new steps reach
    # them; the inherited ones are not read at all (the engine starts from a state snapshot).
    length = trace_length(store, parent)
    after = StepHistory(
        lambda a, b: store.steps_between(parent.id, a, b), length, start=point.index
    )
    if replay_decisions:
        chosen = RecordedDecisions(after, source_run=parent.id, then=chosen)
    with Engine(store, serializer=serializer, executor=executor or executor_of(parent)) as engine:
        result = engine.run(
            flow,
            planner=chosen,
            seed=parent.seed,
            policy=changed_policy(parent, policy),
            overrides=_merge(parent.overrides, checked),
            origin=Origin(parent=parent, fork_index=point.index),
            cache=StepCache(after, reuse=reuse, store=store),
            on_step=on_step,
        )
    _warn_unapplied(checked, steps_from(result.steps, point.index), point.index)
    return result


def _warn_unapplied(
    overrides: Mapping[str, Mapping[str, Any]], own: list[StepRecord], index: int
) -> None:
    """Say so when an override's action never ran in the fork: the change did nothing
    (the action ran before the fork point, in the inherited steps, or not at all)."""
    ran = {s.action for s in own if s.kind is StepKind.ACTION}
    for action, values in overrides.items():
        if action in ran:
            continue
        changed = ", ".join(f"{action}.{k}={v!r}" for k, v in values.items())
        warn(
            OverrideNotApplied(
                f"{changed} changed nothing: {action} did not run in the fork, which starts "
                f"at step {index} (steps before it are inherited as they ran); fork at or "
                f"before {action}'s step ({{at={action}}}) for the change to take effect"
            )
        )


def _merge(
    base: Mapping[str, Mapping[str, Any]], extra: Mapping[str, Mapping[str, Any]]
) -> dict[str, dict[str, Any]]:
    merged = {action: dict(values) for action, values in base.items()}
    for action, values in extra.items():
        merged.setdefault(action, {}).update(values)
    return merged
