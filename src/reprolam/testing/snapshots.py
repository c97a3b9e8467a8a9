"""Conformance of run-state snapshots and step ranges (``TraceStore.put_snapshots``,
``snapshot_at``, ``snapshots``, ``own_steps_between``, ``steps_between``).

Part of the suite (``reprolam.testing``): the same ``store`` fixture, any backend. A backend
that keeps no snapshots inherits the contract's defaults and fails here: forks and resumes
would then read every step (correct, but not constant-time).
"""

from __future__ import annotations

import pytest

from reprolam.errors import ReprolamError
from reprolam.testing.conformance import artifact, chain, make_run, make_step
from reprolam.trace import StepRecord, TraceStore
from reprolam.trace.snapshot import StateSnapshot


def snapshot(run_id: str, steps: int, head: str, **fields: object) -> StateSnapshot:
    base: dict[str, object] = {
        "artifacts": {"x": ("d" * 64, "json", steps - 1), "model": ("e" * 64, "model", 0)},
        "occurrences": {"action_0": 1, "train": steps},
        "action_count": steps,
        "failure_count": 1,
        "consecutive_rejections": 0,
    }
    return StateSnapshot(run_id, steps, head, **{**base, **fields})  # type: ignore[arg-type]


class TestSnapshots:
    def test_round_trip_and_nearest_at_most(self, store: TraceStore) -> None:
        steps = chain(store, "run-a", 6)
        kept = [snapshot("run-a", n, steps[n - 1].hash or "") for n in (2, 4, 6)]
        store.put_snapshots(kept)
        store.flush()
        assert store.snapshot_at("run-a") == kept[2]
        assert store.snapshot_at("run-a", at_most=5) == kept[1]
        assert store.snapshot_at("run-a", at_most=4) == kept[1]
        assert store.snapshot_at("run-a", at_most=1) is None
        assert store.snapshots("run-a") == kept

    def test_one_per_run_and_step_count_the_last_wins(self, store: TraceStore) -> None:
        steps = chain(store, "run-a", 3)
        chain(store, "run-b", 3)
        store.put_snapshots([snapshot("run-a", 3, "old")])
        store.put_snapshots([snapshot("run-a", 3, steps[2].hash or "", failure_count=0)])
        again = store.snapshot_at("run-a")
        assert again is not None
        assert (again.failure_count, again.head) == (0, steps[2].hash)
        assert store.snapshot_at("run-b") is None
        assert store.snapshots("run-b") == []

    def test_snapshot_of_unknown_run_is_refused(self, store: TraceStore) -> None:
        with pytest.raises(ReprolamError):
            store.put_snapshots([snapshot("no-such-run", 1, "h")])

    def test_own_steps_between_reads_a_range(self, store: TraceStore) -> None:
        steps = chain(store, "run-a", 10)
        assert store.own_steps_between("run-a", 3, 7) == steps[3:7]
        assert store.own_steps_between("run-a", 8, None) == steps[8:]
        assert store.own_steps_between("run-a", 12, None) == []

    def test_steps_between_follows_the_fork_chain(self, store: TraceStore) -> None:
        parent = chain(store, "parent", 6)
        store.create_run(make_run("fork", parent_id="parent", fork_index=4))
        own = chain_onto(store, "fork", 4, 3)
        assert store.steps_between("fork", 0) == parent[:4] + own
        assert store.steps_between("fork", 2, 5) == parent[2:4] + own[:1]
        assert store.steps_between("fork", 5) == own[1:]


def chain_onto(store: TraceStore, run_id: str, start: int, n: int) -> list[StepRecord]:
    """``n`` finished steps of an existing run (a fork), from index ``start``."""
    steps = []
    for i in range(start, start + n):
        record, data = artifact(f"{run_id}/{i}")
        step = make_step(run_id, i, outputs={"x": record.digest})
        store.record(steps=[step], artifacts=[(record, data)])
        steps.append(step)
    return steps
