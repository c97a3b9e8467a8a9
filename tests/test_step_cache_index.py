"""The step cache's index (migration 0005, step_keys since 0007): a store recorded before it
gains it on open, finds its old steps, and a lookup is served by the index rather than a
scan."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import reprolam
from reprolam.trace import SCHEMA_VERSION, SQLiteStore
from reprolam.trace.sqlite import _STEP_CACHED
from test_migration_0007 import as_schema_6

FLOW = f"{Path(__file__).with_name('sweep_flow.py')}:flow"


def test_a_store_recorded_before_the_index_gains_it_and_serves_its_old_steps(
    tmp_path: Path,
) -> None:
    store = tmp_path / "store"
    first = reprolam.run(FLOW, store=store, seed=1)
    as_schema_6(store)
    with closing(sqlite3.connect(store / "trace.db")) as conn, conn:  # back to schema 4
        conn.execute("DROP INDEX steps_by_cache_key")
        conn.execute("DROP TABLE run_snapshots")  # migration 0006, re-made on open too
        conn.execute("UPDATE meta SET value = '4' WHERE key = 'schema_version'")
    with reprolam.open(store) as rl:
        again = rl.run(FLOW, seed=1, reuse=True)
        assert [s.proposal["cache"]["counterpart"] for s in again.steps] == [
            [first.id, s.index] for s in first.steps
        ]
    with closing(sqlite3.connect(store / "trace.db")) as conn:
        (version,) = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        assert version == str(SCHEMA_VERSION)
        plan = " ".join(
            str(row[-1])
            for row in conn.execute(
                f"EXPLAIN QUERY PLAN {_STEP_CACHED}", (1, "a", "f", 1, "", "", "", "", -1, 1)
            )
        )
        assert "step_keys" in plan, plan
        assert "SCAN" not in plan, plan


def test_reuse_lookups_do_not_slow_a_run_without_reuse(tmp_path: Path) -> None:
    """Without reuse the store is never asked (the hot path is unchanged)."""
    calls: list[object] = []

    class Counting(SQLiteStore):
        def find_cached_steps(self, probe):  # type: ignore[no-untyped-def]
            calls.append(probe)
            return super().find_cached_steps(probe)

    with Counting(tmp_path / "store") as store:
        reprolam.run(FLOW, store=store, seed=1)
        assert calls == []
        reprolam.run(FLOW, store=store, seed=1, reuse=True)
        assert len(calls) == 3


def test_the_candidates_are_read_a_page_at_a_time(tmp_path: Path) -> None:
    """Taking the first candidate reads one row; the others are read only when asked for."""
    limits: list[int] = []

    class Counting(SQLiteStore):
        def _steps(self, sql, params):  # type: ignore[no-untyped-def]
            if sql == _STEP_CACHED:
                limits.append(params[-1])
            return super()._steps(sql, params)

    with Counting(tmp_path / "store") as store:
        runs = [reprolam.run(FLOW, store=store, seed=1) for _ in range(3)]
        probe = runs[0].steps[0]
        assert store.find_cached_step(probe) == probe
        assert limits == [1]
        limits.clear()
        found = list(store.find_cached_steps(probe))
    assert [s.run_id for s in found] == sorted(r.id for r in runs)
    assert limits == [1, 4]  # the second page held the last two: no third
