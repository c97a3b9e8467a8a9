"""The lookahead without Dask: a thread-safe in-process executor (``concurrent = True``) shows
what engine.concurrent guarantees, fast: overlap, the sequential trace, forecasts that turn
out wrong dropped unrecorded, and a failure ending the run where a sequential run ends."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import reprolam
from reprolam.actions import CONTEXT_PARAM, ActionSpec
from reprolam.context import ActionContext
from reprolam.engine.executors import ExecutorBase, Outcome, error_info, name_outputs
from reprolam.planning.base import Decision, Proposal, RunState
from reprolam.planning.rules import RulesPlanner
from reprolam.trace.records import StepRecord

FLOW = f"{Path(__file__).with_name('diamond_flow.py')}:flow"


class Threaded(ExecutorBase):
    """Runs each call in the calling thread, unobserved: safe to call from several threads."""

    name = "threaded"
    concurrent = True

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.lock = threading.Lock()

    def execute(
        self,
        spec: ActionSpec,
        inputs: Sequence[Any],
        params: Mapping[str, Any],
        ctx: ActionContext,
        *,
        timeout: float | None = None,
    ) -> Outcome:
        with self.lock:
            self.calls.append(spec.name)
        kwargs = {**params, CONTEXT_PARAM: ctx} if spec.wants_context else params
        try:
            return Outcome(outputs=name_outputs(spec, spec.fn(*inputs, **kwargs)))
        except Exception as exc:
            return Outcome(error=error_info(exc))


def content(steps: list[StepRecord]) -> list[tuple[Any, ...]]:
    return [(s.index, s.action, s.params, s.inputs, s.outputs, s.seed, s.status) for s in steps]


def test_independent_actions_overlap_and_record_the_sequential_trace(tmp_path: Path) -> None:
    delays = {"left.delay": 0.3, "right.delay": 0.3}
    executor = Threaded()
    with reprolam.open(tmp_path / "store") as rl:
        ahead = rl.run(FLOW, seed=2, set=delays, executor=executor)
        here = rl.run(FLOW, seed=2, set=delays)
        assert content(ahead.steps) == content(here.steps)
        _, low, high, _ = ahead.steps
        assert high.started_at < low.started_at + (low.duration or 0.0)  # they overlapped
        assert rl.audit(ahead.id).clean
    assert sorted(executor.calls) == ["join", "left", "right", "source"]  # none twice


class Fickle(RulesPlanner):
    """Forecasts ``right`` after ``left`` but then proposes ``left`` and stops."""

    name = "fickle"

    def propose(self, state: RunState) -> Decision:
        decision = super().propose(state)
        if isinstance(decision, Proposal) and decision.action == "right":
            from reprolam.planning.base import Done

            return Done("changed its mind")
        return decision


def test_a_forecast_the_planner_does_not_follow_is_dropped_unrecorded(tmp_path: Path) -> None:
    executor = Threaded()
    with reprolam.open(tmp_path / "store") as rl:
        # left takes a while, so the forecast right has surely started before the run ends
        # (without it, a loaded machine could end the run before right's thread ran)
        slow_left = {"left.delay": 0.3}
        result = rl.run(FLOW, seed=1, planner=Fickle(), executor=executor, set=slow_left)
        assert [s.action for s in result.steps] == ["source", "left"]
        assert "right" in executor.calls  # it ran ahead, and was not recorded
        assert rl.audit(result.id).clean


def test_a_failure_ends_the_run_where_a_sequential_run_ends(tmp_path: Path) -> None:
    failing = {"left.fail": True, "right.delay": 0.2}
    executor = Threaded()
    with reprolam.open(tmp_path / "store") as rl:
        ahead = rl.run(FLOW, seed=1, set=failing, executor=executor)
        here = rl.run(FLOW, seed=1, set=failing)
        assert content(ahead.steps) == content(here.steps)
        assert [s.action for s in ahead.steps] == ["source", "left"]
        assert "join" not in executor.calls  # it needs left's output: never started
        assert rl.audit(ahead.id).clean
