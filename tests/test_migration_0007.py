"""Migration 0007 (SQLite): artifacts appended in order, found through two-level key tables;
the step cache found through step_keys. A store recorded before it upgrades on open with
everything readable, verified and reusable; keys are merged without losing a lookup."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

import reprolam
from reprolam.errors import StoreError
from reprolam.history.audit import audit
from reprolam.trace import SCHEMA_VERSION, SQLiteStore
from reprolam.trace import _sqlite_keys as keys
from reprolam.trace.journal import RecoveryWarning
from reprolam.trace.leases import Leases
from reprolam.trace.records import ArtifactRecord

FLOW = f"{Path(__file__).with_name('sweep_flow.py')}:flow"

_SCHEMA_6 = """
CREATE TABLE artifacts_6 (
    digest TEXT PRIMARY KEY, codec TEXT NOT NULL, size INTEGER NOT NULL, data BLOB,
    producer_run TEXT, producer_idx INTEGER, producer_name TEXT
) WITHOUT ROWID;
INSERT INTO artifacts_6
    SELECT digest, codec, size, data, producer_run, producer_idx, producer_name FROM artifacts;
DROP VIEW artifact_index;
DROP VIEW step_index;
DROP TABLE artifacts;
ALTER TABLE artifacts_6 RENAME TO artifacts;
DROP TABLE artifact_keys;
DROP TABLE artifact_keys_recent;
DROP TABLE artifact_keys_middle;
DROP TABLE step_keys;
DROP TABLE step_keys_recent;
DROP TABLE step_keys_middle;
DROP TABLE run_numbers;
CREATE INDEX steps_by_cache_key ON steps (action, fingerprint, seed)
    WHERE kind = 'action' AND status = 'succeeded';
UPDATE meta SET value = '6' WHERE key = 'schema_version';
"""


def as_schema_6(store: Path) -> None:
    """Turn a store back into the layout of schema 6 (as reprolam before 0007 wrote it)."""
    with closing(sqlite3.connect(store / "trace.db")) as conn:
        conn.executescript(_SCHEMA_6)


def tables(store: Path) -> set[str]:
    with closing(sqlite3.connect(store / "trace.db")) as conn:
        return {name for (name,) in conn.execute("SELECT name FROM sqlite_master")}


def test_a_schema_6_store_upgrades_with_every_artifact_step_and_cache_entry(
    tmp_path: Path,
) -> None:
    store = tmp_path / "store"
    first = reprolam.run(FLOW, store=store, seed=1)
    with reprolam.open(store) as rl:
        environment = rl.store.get_run(first.id).environment
        assert environment is not None
        before = {
            d: (rl.store.get_artifact(d), rl.store.artifact_producer(d))
            for s in first.steps
            for d in (*s.inputs.values(), *s.outputs.values(), environment)
        }
    as_schema_6(store)
    assert "steps_by_cache_key" in tables(store)
    assert "artifact_keys" not in tables(store)

    with reprolam.open(store) as rl:
        assert {d: (rl.store.get_artifact(d), rl.store.artifact_producer(d)) for d in before} == (
            before
        )
        assert rl.store.artifact_records(list(before)).keys() == before.keys()
        assert audit(rl.store, first.id).clean
        again = rl.run(FLOW, seed=1, reuse=True)  # the step cache finds the old steps
        assert [s.proposal["cache"]["counterpart"] for s in again.steps] == [
            [first.id, s.index] for s in first.steps
        ]
        assert audit(rl.store, again.id).clean
    with closing(sqlite3.connect(store / "trace.db")) as conn:
        (version,) = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        assert version == str(SCHEMA_VERSION)
        # the old values were reused, not stored twice
        (rows,) = conn.execute("SELECT count(*) FROM artifacts").fetchone()
        (distinct,) = conn.execute("SELECT count(DISTINCT digest) FROM artifacts").fetchone()
        assert rows == distinct
    assert "steps_by_cache_key" not in tables(store)


def test_lookups_go_through_the_keys_not_a_scan(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "store"):
        pass
    with closing(sqlite3.connect(tmp_path / "store" / "trace.db")) as conn:
        for sql, count in (
            (f"SELECT data FROM {keys.artifacts_matching(1)}", 1),
            (f"SELECT data FROM {keys.artifacts_matching(3)}", 3),
            (keys.cached_step_sql("run_id, idx"), 10),
        ):
            plan = " | ".join(
                str(r[-1]) for r in conn.execute(f"EXPLAIN QUERY PLAN {sql}", ["0"] * count)
            )
            assert "SCAN" not in plan, plan


def test_merging_the_recent_keys_keeps_every_lookup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(keys, "LEVELS", (("_recent", 2), ("_middle", 4)))
    monkeypatch.setattr(keys, "CHECK_EVERY", 1)
    store = tmp_path / "store"
    first = reprolam.run(FLOW, store=store, seed=3)
    reprolam.run(FLOW, store=store, seed=4)
    with closing(sqlite3.connect(store / "trace.db")) as conn:
        main = conn.execute("SELECT count(*) FROM artifact_keys").fetchone()[0]
        middle = conn.execute("SELECT count(*) FROM artifact_keys_middle").fetchone()[0]
        recent = conn.execute("SELECT count(*) FROM artifact_keys_recent").fetchone()[0]
        assert main > 0, main
        assert middle < 4, middle
        assert recent < 2, recent
        assert conn.execute("SELECT count(*) FROM step_keys").fetchone()[0] > 0
    with reprolam.open(store) as rl:
        again = rl.run(FLOW, seed=3, reuse=True)
        assert all(s.proposal.get("cache") for s in again.steps)
        for step in first.steps:
            for digest in step.outputs.values():
                rl.store.get_artifact(digest)
        assert audit(rl.store, first.id).clean


def test_a_key_in_both_levels_is_harmless(tmp_path: Path) -> None:
    """A journal applied again after a crash may add keys already merged."""
    store = tmp_path / "store"
    first = reprolam.run(FLOW, store=store, seed=5)
    with closing(sqlite3.connect(store / "trace.db")) as conn, conn:
        for table in ("artifact_keys", "step_keys"):
            conn.execute(f"INSERT INTO {table} SELECT * FROM {table}_recent")
            conn.execute(f"INSERT INTO {table}_middle SELECT * FROM {table}_recent")
    with reprolam.open(store) as rl:
        again = rl.run(FLOW, seed=5, reuse=True)
        assert [s.proposal["cache"]["counterpart"] for s in again.steps] == [
            [first.id, s.index] for s in first.steps
        ]
        digest = next(iter(first.steps[0].outputs.values()))
        assert rl.store.artifact_records([digest]) == {digest: rl.store.get_artifact(digest)[0]}


def test_digests_sharing_a_key_prefix_stay_apart(tmp_path: Path) -> None:
    """Keys are the first 8 hex digits: rows are told apart by the full digest."""
    a = ArtifactRecord("abcdef01" + "0" * 56, "json", 1)
    b = ArtifactRecord("abcdef01" + "1" * 56, "bytes", 2)
    with SQLiteStore(tmp_path / "store") as store:
        store.record(artifacts=[(a, b"1")])
        store.record(artifacts=[(b, b"22")])
        store.record(artifacts=[(a, b"1")])  # known: not stored again
        assert store.get_artifact_record(a.digest) == a
        assert store.get_artifact_record(b.digest) == b
        assert store.artifact_records([a.digest, b.digest, "abcdef01" + "2" * 56]) == {
            a.digest: a,
            b.digest: b,
        }
        assert not store.has_artifact("abcdef01" + "2" * 56)
    with closing(sqlite3.connect(tmp_path / "store" / "trace.db")) as conn:
        assert conn.execute("SELECT count(*) FROM artifacts").fetchone() == (2,)


def test_a_store_recording_snapshots_as_schema_7_gets_the_keys_of_0007(tmp_path: Path) -> None:
    """reprolam between 4b299f8 and 384c468 numbered the snapshots migration 0007: its stores
    record schema version 7 with schema 6's tables. They upgrade; they were unopenable
    ('no such column: seq: ... check the store with `reprolam audit`')."""
    store = tmp_path / "store"
    first = reprolam.run(FLOW, store=store, seed=1)
    as_schema_6(store)
    with closing(sqlite3.connect(store / "trace.db")) as conn, conn:
        conn.execute("UPDATE meta SET value = '7' WHERE key = 'schema_version'")

    with reprolam.open(store) as rl:
        assert audit(rl.store, first.id).clean
        assert rl.fork(first.id, at=1).status.value == "succeeded"
    assert {"artifact_keys", "step_keys", "run_numbers"} <= tables(store)
    assert "steps_by_cache_key" not in tables(store)


def test_a_store_an_older_reprolam_is_running_in_is_not_upgraded_under_it(
    tmp_path: Path,
) -> None:
    """Upgraded under an older reprolam's run, the run failed at its next write ('ON CONFLICT
    clause does not match any PRIMARY KEY') and audit then called it tampered (its seal)."""
    store = tmp_path / "store"
    first = reprolam.run(FLOW, store=store, seed=1)
    as_schema_6(store)
    with Leases(store / "leases").hold(first.id):  # as the older reprolam's engine holds it
        with pytest.raises(StoreError) as info:
            reprolam.open(store)
        message = str(info.value)
        assert "schema version 6" in message
        assert first.id in message
        assert "wait for it to end" in message
        assert "artifact_keys" not in tables(store)  # left as the running version reads it
    with reprolam.open(store) as rl:  # once it ended
        assert audit(rl.store, first.id).clean
    assert "artifact_keys" in tables(store)


NOT_UTF8 = "CAST(x'7b2261223aff7d' AS TEXT)"  # {"a":<0xff>}: a damaged text


def test_a_step_row_that_is_not_utf8_does_not_stop_the_upgrade(tmp_path: Path) -> None:
    """Python's sqlite3 cannot hand such a text to reprolam_step_key: migration 0007 (and the
    key rebuild) failed, and the whole store with it ('user-defined function raised
    exception'), though only one run's row was damaged."""
    store = tmp_path / "store"
    damaged = reprolam.run(FLOW, store=store, seed=1)
    intact = reprolam.run(FLOW, store=store, seed=2)
    as_schema_6(store)
    with closing(sqlite3.connect(store / "trace.db")) as conn, conn:
        conn.execute(
            f"UPDATE steps SET params = {NOT_UTF8} WHERE run_id = ? AND idx = 0",
            (damaged.id,),
        )

    with reprolam.open(store) as rl:
        assert audit(rl.store, intact.id).clean
        again = rl.run(FLOW, seed=2, reuse=True)  # the intact run's keys are as step_key's
        assert [s.proposal["cache"]["counterpart"] for s in again.steps] == [
            [intact.id, s.index] for s in intact.steps
        ]
    with closing(sqlite3.connect(store / "trace.db")) as conn:
        (version,) = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        assert version == str(SCHEMA_VERSION)


def test_rebuilt_keys_survive_a_step_row_that_is_not_utf8(tmp_path: Path) -> None:
    store = tmp_path / "store"
    first = reprolam.run(FLOW, store=store, seed=1)
    with closing(sqlite3.connect(store / "trace.db")) as conn, conn:
        conn.execute(
            f"UPDATE steps SET inputs = {NOT_UTF8} WHERE run_id = ? AND idx = 0",
            (first.id,),
        )
        for level in ("", "_middle", "_recent"):
            conn.execute(f"DELETE FROM step_keys{level}")
    with pytest.warns(RecoveryWarning, match="rebuilt"), reprolam.open(store):
        pass  # it failed: 'user-defined function raised exception'
    with closing(sqlite3.connect(store / "trace.db")) as conn:
        (keyed,) = conn.execute("SELECT count(*) FROM step_index").fetchone()
    assert keyed == len(first.steps)
