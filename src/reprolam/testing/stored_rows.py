"""Conformance of the reads that verify a trace as stored (``TraceStore.own_step_rows``,
``step_rows_between``, ``read_artifacts``).

Part of the suite (``reprolam.testing``): the same ``store`` fixture, any backend. Replay
hashes the rows these hand back without decoding them, so a backend must hand back its
rows in ``trace._rows.STEP_COLUMNS`` order, holding the very texts the hash covers.
"""

from __future__ import annotations

import pytest

from reprolam.errors import IntegrityError, NotFoundError
from reprolam.testing.conformance import (
    INLINE_THRESHOLD,
    StoreFactory,
    artifact,
    chain,
    make_run,
    make_step,
)
from reprolam.trace import TraceStore
from reprolam.trace._rows import step_to_row
from reprolam.trace.records import ErrorInfo, StepStatus
from reprolam.trace.row_hash import row_step_hash


class TestStoredRows:
    def test_own_step_rows_are_the_rows_recorded_in_range(self, store: TraceStore) -> None:
        steps = chain(store, "run-a", 10)
        rows = store.own_step_rows("run-a", 3, 7)
        assert rows == [step_to_row(s) for s in steps[3:7]]
        assert store.own_step_rows("run-a", 8, None) == [step_to_row(s) for s in steps[8:]]
        assert store.own_step_rows("run-a", 12, None) == []
        assert store.own_step_rows("no-such-run", 0, 5) == []

    def test_every_kind_of_row_hashes_from_its_stored_texts(self, store: TraceStore) -> None:
        store.create_run(make_run())
        steps = [
            make_step("run-a", 0, params={"b": [1, 2.5], "a": "é\u2028"}, seed=2**80),
            make_step("run-a", 1, error=ErrorInfo("ValueError", "bad", "tb"), recovers=0),
            make_step("run-a", 2, proposal={"planner": "p", "raw": {"k": None}}, seed=None),
            make_step("run-a", 3, status=StepStatus.STARTED),
        ]
        store.record(steps=steps)
        rows = store.own_step_rows("run-a", 0, None)
        assert [row[1] for row in rows] == [0, 1, 2, 3]
        for row, step in zip(rows[:3], steps[:3], strict=True):
            seed = int(row[11]) if type(row[11]) is str else row[11]
            assert row_step_hash(row, seed) == step.hash

    def test_step_rows_between_follows_the_fork_chain(self, store: TraceStore) -> None:
        parent = chain(store, "parent", 5)
        store.create_run(make_run("fork", parent_id="parent", fork_index=3))
        own = [make_step("fork", 3, action="other"), make_step("fork", 4, action="other")]
        store.record(steps=own)
        whole = [step_to_row(s) for s in parent[:3] + own]
        assert store.step_rows_between("fork", 0) == whole
        assert store.step_rows_between("fork", 2, 4) == whole[2:4]
        assert store.step_rows_between("fork", 4) == whole[4:]

    @pytest.mark.parametrize("size", [10, INLINE_THRESHOLD + 10], ids=["inline", "blob"])
    def test_read_artifacts_verifies_each_and_yields_what_is_wrong(
        self, store_factory: StoreFactory, store: TraceStore, size: int
    ) -> None:
        good, bad = artifact(b"g" * size), artifact(b"b" * size, codec="npy")
        store.record(artifacts=[good, bad])
        store_factory.tamper_artifact(store, bad[0].digest, b"B" + bad[1][1:])
        missing = "0" * 64
        reads = list(store.read_artifacts([bad[0].digest, missing, good[0].digest]))
        assert [r.digest for r in reads] == [bad[0].digest, missing, good[0].digest]
        damaged, absent, intact = reads
        assert (damaged.codec, damaged.size, damaged.data) == ("npy", size, None)
        assert isinstance(damaged.error, IntegrityError)
        assert bad[0].digest in str(damaged.error)
        assert (absent.codec, absent.size, absent.data) == (None, None, None)
        assert isinstance(absent.error, NotFoundError)
        assert (intact.codec, intact.size, intact.data, intact.error) == (
            "json",
            size,
            good[1],
            None,
        )

    def test_read_artifacts_reads_many_pages(self, store: TraceStore) -> None:
        stored = [artifact(f"a{i}") for i in range(300)]
        store.record(artifacts=stored)
        wanted = [record.digest for record, _ in reversed(stored)]
        reads = list(store.read_artifacts(wanted))
        assert [r.digest for r in reads] == wanted
        assert [r.data for r in reads] == [data for _, data in reversed(stored)]
        assert list(store.read_artifacts([])) == []
