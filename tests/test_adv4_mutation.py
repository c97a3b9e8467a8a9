"""Hole: an action that edits an input in place changed what other consumers saw.

A list, dict or array an action received was the very object the producing step returned:
an action appending to it changed what a later consumer read and the run's result, while
the record still held the value as it was produced. Each consumer now receives its own copy
(immutable scalars are shared), so the record, later consumers and a reproduction agree.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import reprolam
from reprolam import action, workflow


@action(outputs=["items", "table", "grid"])
def make() -> tuple[list[int], dict[str, int], np.ndarray]:
    return [1, 2, 3], {"a": 1}, np.zeros(3)


@action(outputs=["vandalised"])
def vandal(items: list[int], table: dict[str, int], grid: np.ndarray) -> int:
    items.append(99)
    table["b"] = 2
    grid[0] = 7.0
    return len(items)


@action(outputs=["seen"])
def witness(
    vandalised: int, items: list[int], table: dict[str, int], grid: np.ndarray
) -> list[float]:
    return [float(vandalised), float(len(items)), float(len(table)), float(grid[0])]


FLOW = workflow("adv4-mutation", [make, vandal, witness], outputs=["seen", "items"])


def test_a_consumer_never_sees_another_consumers_in_place_edit(tmp_path: Path) -> None:
    with reprolam.open(tmp_path) as rl:
        run = rl.run(FLOW, planner="script")
        assert run.succeeded, run.run.error
        # The vandal saw its own edit; the witness and the run's result see the record.
        assert run.outputs["seen"] == [4.0, 3.0, 1.0, 0.0]
        assert run.outputs["items"] == [1, 2, 3]


def test_a_reproduction_of_the_mutating_run_reproduces(tmp_path: Path) -> None:
    with reprolam.open(tmp_path) as rl:
        first = rl.run(FLOW, planner="script")
        again = rl.reproduce(first.id, workflow=FLOW)
        assert again.reproduced, again.divergence
