"""Concurrency inside a run: independent ready actions run at once (Dask, 2 workers on
127.0.0.1), recorded in the planner's order with the content
a sequential run records; a failure is recorded in order and what depends on it never runs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import reprolam
from reprolam.engine.concurrent import wants_lookahead
from reprolam.engine.executors import Executor, LocalExecutor
from reprolam.engine.process import ProcessExecutor
from reprolam.planning.rules import RulesPlanner, ScriptPlanner
from reprolam.trace.records import StepRecord, StepStatus
from reprolam.workflows.registry import load_workflow

FLOW = f"{Path(__file__).with_name('diamond_flow.py')}:flow"


def content(steps: list[StepRecord]) -> list[tuple[Any, ...]]:
    """What a step computed and why, without where and when: equal for the same work."""
    return [
        (
            s.index,
            s.action,
            s.params,
            s.inputs,
            s.outputs,
            s.seed,
            s.status,
            s.error.type if s.error else None,
            {k: v for k, v in s.proposal.items() if k != "placement"},
        )
        for s in steps
    ]


def overlap(a: StepRecord, b: StepRecord) -> bool:
    return b.started_at < a.started_at + (a.duration or 0.0)


def test_the_rules_planner_forecasts_what_it_would_propose_step_after_step() -> None:
    flow = load_workflow(FLOW)
    state = reprolam.planning.base.RunState(workflow=flow, run_id="r", seed=0)
    ready = RulesPlanner().propose_ready(state)
    assert [p.action for p in ready] == ["source", "left", "right", "join"]
    assert ScriptPlanner(["source", "right"]).propose_ready(state)[1].action == "right"


def test_only_concurrent_executors_start_actions_ahead_and_not_with_faults_or_reuse() -> None:
    class Concurrent(LocalExecutor):
        concurrent = True

    assert not wants_lookahead(LocalExecutor(), RulesPlanner(), {}, False)
    assert not wants_lookahead(ProcessExecutor(), RulesPlanner(), {}, False)  # one worker
    assert wants_lookahead(Concurrent(), RulesPlanner(), {}, False)
    assert not wants_lookahead(Concurrent(), RulesPlanner(), {"left": 0.5}, False)
    assert not wants_lookahead(Concurrent(), RulesPlanner(), {}, True)  # reuse: never execute

    class OneAtATime:  # a planner without the optional hook
        name = "one"
        instant = True

    assert not wants_lookahead(Concurrent(), OneAtATime(), {}, False)


def test_forecasts_are_bounded() -> None:
    flow = load_workflow(FLOW)
    state = reprolam.planning.base.RunState(workflow=flow, run_id="r", seed=0)
    long_script = ScriptPlanner(["source"] * 100)
    assert len(long_script.propose_ready(state)) == reprolam.planning.base.READY_HORIZON


@pytest.fixture(scope="module")
def executor() -> Iterator[Executor]:
    """A LocalCluster of 2 worker processes on 127.0.0.1, for the module."""
    pytest.importorskip("distributed")
    from reprolam.engine.dask_executor import DaskExecutor

    built: Executor = DaskExecutor(workers=2)
    built.start()
    yield built
    built.close()


@pytest.mark.slow
@pytest.mark.parametrize("planner", ["rules", "script"])
def test_independent_actions_overlap_and_the_trace_is_the_sequential_one(
    executor: Executor, tmp_path: Path, planner: str
) -> None:
    delays = {"left.delay": 1.0, "right.delay": 1.0}
    with reprolam.open(tmp_path / "store") as rl:
        remote = rl.run(FLOW, seed=3, planner=planner, set=delays, executor=executor)
        here = rl.run(FLOW, seed=3, planner=planner, set=delays)
        assert remote.succeeded
        assert content(remote.steps) == content(here.steps)
        assert [s.action for s in remote.steps] == ["source", "left", "right", "join"]
        _, low, high, joined = remote.steps
        assert overlap(low, high), "left and right did not run at the same time"
        assert not overlap(high, joined)  # join needs both: it starts after them
        assert rl.audit(remote.id).clean
        # the recorded decisions of reproduce run concurrently too, and match
        again = rl.reproduce(remote.id, executor=executor)
        assert again.reproduced, again.summary()
        assert again.reproduction is not None
        reproduced = rl.store.steps(again.reproduction.id)
        assert overlap(reproduced[1], reproduced[2])
        assert rl.audit(again.reproduction.id).clean


@pytest.mark.slow
def test_a_failed_step_is_recorded_in_order_and_nothing_after_it_is_taken(
    executor: Executor, tmp_path: Path
) -> None:
    failing = {"left.fail": True, "left.delay": 0.2, "right.delay": 0.5}
    with reprolam.open(tmp_path / "store") as rl:
        remote = rl.run(FLOW, seed=1, set=failing, executor=executor)
        here = rl.run(FLOW, seed=1, set=failing)
        assert not remote.succeeded
        assert content(remote.steps) == content(here.steps)
        statuses = [(s.action, s.status) for s in remote.steps]
        # right ran alongside left, but a sequential run stops at the failure: dropped
        assert statuses == [("source", StepStatus.SUCCEEDED), ("left", StepStatus.FAILED)]
        assert remote.steps[1].error is not None
        assert remote.steps[1].error.type == "ValueError"
        assert rl.audit(remote.id).clean
