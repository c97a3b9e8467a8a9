"""Resume: continue an interrupted run from its last committed step (see ``Engine.resume``)."""

from __future__ import annotations

from reprolam.codecs import Serializer
from reprolam.engine.code_capture import capture_code
from reprolam.engine.engine import Engine, RunResult, StepCallback
from reprolam.engine.start_state import trace_length
from reprolam.errors import ConfigError, IntegrityError, NotFoundError
from reprolam.history.annotate import index_run
from reprolam.history.code_diff import code_changes, code_manifest
from reprolam.history.fork import start_problem
from reprolam.history.rebuild import (
    ExecutorRef,
    PolicyChanges,
    changed_policy,
    executor_of,
    planner_of,
    workflow_of,
)
from reprolam.planning.base import Planner
from reprolam.planning.choose import LLMSettings
from reprolam.trace.contract import TraceStore
from reprolam.trace.records import RunRecord, RunStatus
from reprolam.trace.stored_json import load_json
from reprolam.workflows.registry import Workflow


def _check_start(store: TraceStore, run: RunRecord) -> None:
    try:
        length = trace_length(store, run, gapless=True)
    except IntegrityError as exc:  # a step row missing: nothing to continue from
        raise IntegrityError(f"cannot resume run {run.id}: {exc}; nothing was executed") from None
    before = None
    for index in range(length - 1, max(length - 3, -1), -1):  # a started step has no hash
        try:
            step = store.step_at(run.id, index)
        except NotFoundError:
            break  # a deleted step row: the engine's own reading of the trace says so
        if step.finished:
            before = step
            break
    problem = start_problem(store, run, before, "the last finished one")
    if problem:
        raise IntegrityError(
            f"cannot resume run {run.id}: {problem}; nothing was executed; `reprolam audit "
            f"{run.id}` says what else is wrong"
        )


def _refuse_reproduction(run: RunRecord) -> None:
    """A reproduction replays its original's decisions and compares each output as it goes;
    resumed, it would continue with a live planner and end without a verdict (a run that
    stopped part way, claiming success, read by the original's audit as a divergence)."""
    if run.verifies is not None and run.status is RunStatus.INTERRUPTED:
        raise ConfigError(
            f"run {run.id} is a reproduction of run {run.verifies} that was interrupted; a "
            "reproduction is not resumed (its verdict compares every step of the original): "
            f"reproduce the original again, `reprolam reproduce {run.verifies}`"
        )


def resume(
    store: TraceStore,
    run_ref: str,
    *,
    force: bool = False,
    planner: str | Planner | None = None,
    workflow: str | Workflow | None = None,
    policy: PolicyChanges = None,
    executor: ExecutorRef = None,
    llm: LLMSettings | None = None,
    serializer: Serializer | None = None,
    trusted: bool = False,
    on_step: StepCallback | None = None,
) -> RunResult:
    """Continue ``run_ref`` with its recorded workflow, policy, executor and kind of planner.

    What it continues from is checked first, as a fork's start is: the run's header (the
    seed, policy and overrides every new step uses) and its last finished step (whose hash
    the next one chains to). ``IntegrityError`` if either was edited; nothing is executed.
    """
    run = store.get_run(store.resolve_run_id(run_ref))
    _refuse_reproduction(run)
    _check_start(store, run)
    flow = workflow_of(store, run, workflow, trusted=trusted)
    _refuse_changed_code(store, run, flow)
    chosen = planner_of(run, planner, llm=llm)
    with Engine(store, serializer=serializer, executor=executor or executor_of(run)) as engine:
        result = engine.resume(
            flow,
            run,
            planner=chosen,
            policy=changed_policy(run, policy),
            force=force,
            on_step=on_step,
        )
    # A listing may have indexed the run's metrics while it was interrupted (none yet):
    # the index must say what it holds now, or audit reads the stale entry as an edit.
    index_run(store, result.run)
    return result


def _refuse_changed_code(store: TraceStore, run: RunRecord, flow: Workflow) -> None:
    """A resumed run goes on under the code its record describes (the code manifest its
    header fixes): an action or a helper whose code was edited since, or a constant edited
    in its file, would be recorded as code that did not compute the run's outputs. A
    constant whose file did not change (a module-level dict the process filled) is state,
    not an edit."""
    recorded = code_manifest(store, load_json(store, run.environment))
    changes = code_changes(recorded, capture_code(flow).manifest)
    edited_modules = {c.name for c in changes if c.kind == "module"}
    edited = [
        c.describe()
        for c in changes
        if c.kind in ("action", "helper")
        or (c.kind == "constant" and c.name.partition(":")[0] in edited_modules)
    ]
    if edited:
        at = _next_index(store, run)
        raise ConfigError(
            f"cannot resume run {run.id}: its code changed since it was recorded "
            f"({'; '.join(edited)}), and the run would record one version of its code and "
            "run another; nothing was executed",
            hint=f"restore the code to resume it, or fork it at step {at} ({{at={at}}}) to "
            "run the rest with the code as it is now, as a new run",
        )


def _next_index(store: TraceStore, run: RunRecord) -> int:
    """The index of the step a resume would run first (the unfinished one, or the next)."""
    length = trace_length(store, run, gapless=True)
    for index in range(length - 1, max(length - 3, -1), -1):
        try:
            if not store.step_at(run.id, index).finished:
                return index
        except NotFoundError:
            break
    return length
