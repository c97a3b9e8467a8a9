"""Resume: continue an interrupted run from its last committed step (see ``Engine.resume``)."""

from __future__ import annotations

from reprolam.engine.engine import Engine, RunResult, StepCallback
from reprolam.engine.executors import Executor
from reprolam.history.fork import planner_of
from reprolam.history.reproduce import policy_of, workflow_of
from reprolam.planning.base import Planner
from reprolam.planning.choose import choose_planner
from reprolam.trace.contract import TraceStore
from reprolam.workflows.registry import Workflow


def resume(
    store: TraceStore,
    run_ref: str,
    *,
    force: bool = False,
    planner: str | Planner | None = None,
    workflow: str | Workflow | None = None,
    executor: Executor | None = None,
    on_step: StepCallback | None = None,
) -> RunResult:
    """Continue ``run_ref`` with its recorded workflow, policy and kind of planner."""
    run = store.get_run(store.resolve_run_id(run_ref))
    flow = workflow_of(store, run, workflow)
    live = planner_of(run.planner) if planner is None else planner
    chosen = choose_planner(live).planner if isinstance(live, str) else live
    return Engine(store, executor=executor).resume(
        flow, run, planner=chosen, policy=policy_of(run), force=force, on_step=on_step
    )
