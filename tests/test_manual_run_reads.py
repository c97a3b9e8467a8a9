"""Reading back what a hand-built run just recorded: no store read, nothing shared, nothing
handed out for a value that was not recorded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reprolam import ManualRun, NotFoundError, StoreError, execute
from reprolam.hashing import digest
from reprolam.trace import SQLiteStore
from reprolam.trace.memory import MemoryStore


def grow(data: list[int]) -> list[int]:
    return [*data, len(data)]


class CountingReads(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def get_artifact(self, digest: str) -> Any:
        self.reads += 1
        return super().get_artifact(digest)


def test_the_value_just_recorded_is_read_back_without_the_store_once() -> None:
    store = CountingReads()
    run = ManualRun(store)
    step = run.record(execute(grow, inputs={"data": [1]}))
    first = run.value(step.index)
    assert first == [1, 1]
    assert store.reads == 0
    first.append(99)  # the caller owns what it was handed
    again = run.value(step.index)
    assert again == [1, 1]
    assert store.reads == 1


def test_a_chain_of_records_reads_back_each_new_value_for_free(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path)
    try:
        run = ManualRun(store)
        data = [0]
        for _ in range(20):
            step = run.record(execute(grow, inputs={"data": data}))
            data = run.value(step.index)
        assert data == list(range(21))
        store.flush()
        reopened = ManualRun.open(store, run.id or "")
        assert reopened.value(19) == data
    finally:
        store.close()


class RefusingSteps(MemoryStore):
    def record(self, **kwargs: Any) -> None:
        if kwargs.get("steps"):
            raise StoreError("disk full")
        super().record(**kwargs)


def test_a_value_whose_step_was_not_recorded_is_not_handed_out() -> None:
    store = RefusingSteps()
    run = ManualRun(store)
    done = execute(grow, inputs={"data": [7]})
    with pytest.raises(StoreError, match="disk full"):
        run.record(done)
    _tag, data = run.serializer.dumps_typed([7, 1])
    with pytest.raises(NotFoundError):
        run.load(digest(data))
