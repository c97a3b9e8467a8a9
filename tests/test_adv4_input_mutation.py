"""An action that changes an input in place must not change what later actions read.

Every consumer of an artifact reads the value the record holds under its digest. Before,
the engine handed every consumer the same decoded object: an action that appended to a
list (or scaled an array in place) changed what the next action read, so the record said
``count(xs=[1, 2, 3]) -> 4``, and a fork at ``count`` "diverged" with the true 3.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import reprolam
from reprolam import action, workflow


@action(outputs=["xs", "table", "array"])
def make() -> tuple[list[int], dict[str, int], Any]:
    return [1, 2, 3], {"a": 1}, np.arange(4.0)


@action(outputs=["spoiled"])
def spoil(xs: list[int], table: dict[str, int], array: Any) -> bool:
    xs.append(100)
    table["b"] = 2
    array *= 10.0  # in place
    return True


@action(outputs=["seen"])
def look(xs: list[int], table: dict[str, int], array: Any, spoiled: bool) -> dict[str, Any]:
    return {"n": len(xs), "keys": sorted(table), "sum": float(array.sum())}


FLOW = workflow("mutates-inputs", [make, spoil, look], outputs=["seen"])
TRUE = {"n": 3, "keys": ["a"], "sum": 6.0}


@pytest.mark.parametrize("store", ["memory:", "sqlite"])
def test_a_later_action_reads_the_recorded_value(store: str, tmp_path: Path) -> None:
    with reprolam.open("memory:" if store == "memory:" else str(tmp_path)) as rl:
        run = rl.run(FLOW, planner="script")
        assert run.status.value == "succeeded"
        assert rl.replay(run.id).outputs["seen"] == TRUE
        # a fork re-executing the last step agrees with the run: nothing diverges
        fork = rl.fork(run.id, at="look")
        assert rl.replay(fork.id).outputs["seen"] == TRUE
        assert rl.reproduce(run.id).divergence is None


def test_the_action_still_gets_a_value_it_may_change(tmp_path: Path) -> None:
    """The copy is writable: ``X -= X.mean()`` in an action keeps working."""
    with reprolam.open(str(tmp_path)) as rl:
        run = rl.run(FLOW, planner="script")
        assert [(s.action, s.status.value) for s in run.steps] == [
            ("make", "succeeded"),
            ("spoil", "succeeded"),
            ("look", "succeeded"),
        ]
        assert not rl.audit(run.id).problems


@action(outputs=["array"])
def make_array() -> Any:
    return np.arange(6.0)


@action(outputs=["array"])
def scale(array: Any) -> Any:
    array *= 2.0  # the action's own copy
    return array


def test_an_array_output_is_kept_once_and_everyone_gets_a_writable_copy(tmp_path: Path) -> None:
    """The run keeps an array output as a read-only view of its recorded bytes (one copy of
    a big array fewer than decoding it): each action and the caller still get their own
    writable copy, and the kept value never changes."""
    from reprolam.codecs import Serializer

    serializer = Serializer()
    kept = serializer.loads_kept(*serializer.dumps_typed(np.arange(3.0)))
    assert not kept.flags.writeable
    assert not kept.flags.owndata  # a view, shared
    with reprolam.open(str(tmp_path)) as rl:
        flow = workflow("scales", [make_array, scale], outputs=["array"])
        run = rl.run(flow, planner="script")
        assert run.status.value == "succeeded", run.steps[-1].error
        out = run.outputs["array"]
        assert out.flags.writeable
        out += 1.0  # the caller's own copy
        assert list(rl.replay(run.id).outputs["array"]) == [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]
