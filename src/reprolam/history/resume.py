"""Resume: continue an interrupted run from its last committed step (see ``Engine.resume``)."""

from __future__ import annotations

from reprolam.codecs import Serializer
from reprolam.engine.engine import Engine, RunResult, StepCallback
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
from reprolam.workflows.registry import Workflow


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
    on_step: StepCallback | None = None,
) -> RunResult:
    """Continue ``run_ref`` with its recorded workflow, policy, executor and kind of planner."""
    run = store.get_run(store.resolve_run_id(run_ref))
    flow = workflow_of(store, run, workflow)
    chosen = planner_of(run, planner, llm=llm)
    with Engine(store, serializer=serializer, executor=executor or executor_of(run)) as engine:
        return engine.resume(
            flow,
            run,
            planner=chosen,
            policy=changed_policy(run, policy),
            force=force,
            on_step=on_step,
        )
