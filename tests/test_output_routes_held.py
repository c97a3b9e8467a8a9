"""A run keeps the effects watch's stream routers in place between its steps (cheaper than
swapping the streams at every step): what each step prints is still its own, what runs
between steps prints where it always did, and the process's streams and warning hooks are
exactly what they were once the run ends, however it ends."""

from __future__ import annotations

import io
import json
import sys
import warnings
from typing import Any

import pytest

from reprolam import Engine, Policy, action, workflow
from reprolam.planning.base import Done, Proposal, RunState
from reprolam.trace.memory import MemoryStore
from reprolam.trace.records import StepRecord


@action(outputs=["x"])
def first() -> int:
    print("first speaks")
    return 1


@action(outputs=["x"])
def swapper(x: int) -> int:
    sys.stdout = io.StringIO()  # an action that swaps the stream and never puts it back
    print("into its own buffer")
    return x + 1


@action(outputs=["x"])
def last(x: int) -> int:
    print("last speaks")
    warnings.warn("last warns", UserWarning, stacklevel=1)
    return x + 1


FLOW = workflow("routes", [first, swapper, last], outputs=["x"])


class Script:
    name = "script"
    instant = True

    def __init__(self, actions: list[str], fail_at: int | None = None) -> None:
        self.actions = actions
        self.fail_at = fail_at

    def propose(self, state: RunState) -> Proposal | Done:
        if len(state.steps) == self.fail_at:
            raise KeyboardInterrupt
        if len(state.steps) >= len(self.actions):
            return Done()
        return Proposal(self.actions[len(state.steps)])

    def config(self) -> dict[str, Any]:
        return {"name": self.name}


def _hooks() -> tuple[Any, ...]:
    return (
        sys.stdout,
        sys.stderr,
        warnings.showwarning,
        getattr(warnings, "_showwarnmsg_impl", None),
    )


def _captured(step: StepRecord, store: MemoryStore) -> dict[str, Any]:
    observed = step.proposal.get("observed", {})
    if "output" not in observed:
        return {}
    _, data = store.get_artifact(observed["output"])
    return dict(json.loads(data))


def _printed(step: StepRecord, store: MemoryStore) -> str:
    return str(_captured(step, store).get("stdout", ""))


def test_each_step_keeps_its_own_output_and_the_streams_come_back(
    capsys: pytest.CaptureFixture[str],
) -> None:
    before = _hooks()
    between: list[str] = []

    def on_step(step: StepRecord) -> None:
        print(f"between steps, after {step.action}")
        between.append(step.action)

    store = MemoryStore()
    result = Engine(store).run(
        FLOW, planner=Script(["first", "swapper", "last"]), policy=Policy(), on_step=on_step
    )
    assert _hooks() == before
    assert result.succeeded
    assert [_printed(s, store) for s in result.steps] == ["first speaks\n", "", "last speaks\n"]
    warned = _captured(result.steps[2], store)["warnings"]
    assert [w["message"] for w in warned] == ["last warns"]
    out = capsys.readouterr().out
    assert "between steps, after first" in out
    assert "between steps, after last" in out  # the swapped stream was put back after swapper
    assert "speaks" not in out
    assert "into its own buffer" not in out


def test_a_stream_replaced_between_steps_is_routed_and_left_in_place() -> None:
    before = _hooks()
    mine = io.StringIO()

    def on_step(step: StepRecord) -> None:
        if step.action == "first":
            sys.stdout = mine  # code between steps redirects the process's output

    try:
        store = MemoryStore()
        result = Engine(store).run(
            FLOW, planner=Script(["first", "last"]), policy=Policy(), on_step=on_step
        )
        assert sys.stdout is mine  # what the run found there last is what it leaves
        assert _printed(result.steps[1], store) == "last speaks\n"  # still captured
        assert mine.getvalue() == ""
    finally:
        sys.stdout = before[0]
    assert _hooks() == before


def test_an_interrupted_run_puts_the_streams_back() -> None:
    before = _hooks()
    with pytest.raises(KeyboardInterrupt):
        Engine(MemoryStore()).run(
            FLOW, planner=Script(["first", "last"], fail_at=1), policy=Policy()
        )
    assert _hooks() == before
