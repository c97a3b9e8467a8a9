"""Audit detects every single-field edit of every column of the runs, steps and artifacts
tables, and the deletion of any step row (the last included), on SQLite and PostgreSQL.

The columns are read from the database itself, so a column a migration adds is covered
(or this test fails) without editing it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from reprolam import Engine, Policy, RulesPlanner
from reprolam.engine.faults import strikes
from reprolam.history.audit import audit
from reprolam.history.verify import verify_trace
from reprolam.trace import MemoryStore, SQLiteStore, TraceStore
from reprolam.trace.anchor import sealed
from reprolam.trace.records import seal
from test_failures import FLOW

TABLES = ("runs", "steps", "artifacts")
KEYS = {"runs": ("id",), "steps": ("run_id", "idx"), "artifacts": ("digest",)}


def _seed() -> int:
    """A seed whose first ``add`` fails and whose retry succeeds (error and recovers set)."""
    return next(
        s
        for s in range(10_000)
        if strikes({"add": 0.5}, s, "add", 0) and not strikes({"add": 0.5}, s, "add", 1)
    )


def record_scenario(store: TraceStore) -> str:
    """A finished run with a failure, a recovery, outputs, an error record and a reproduction."""
    policy = Policy(faults={"add": 0.5}, retries=1)
    return Engine(store).run(FLOW, planner=RulesPlanner(), seed=_seed(), policy=policy).id


def changed(value: Any) -> Any:
    """A different value of the same kind, as a hand edit would make it."""
    if value is None:
        return "1"
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value + 1.0
    if isinstance(value, bytes | memoryview):
        data = bytes(value)
        return bytes([data[0] ^ 1]) + data[1:]
    text = str(value)
    try:
        decoded = json.loads(text)
    except ValueError:
        decoded = None
    if isinstance(decoded, dict):
        return json.dumps({**decoded, "edited": 1}, separators=(",", ":"), sort_keys=True)
    if isinstance(decoded, int | float) and not isinstance(decoded, bool):
        return json.dumps(decoded + 1)
    if text in ("succeeded", "failed"):
        return "failed" if text == "succeeded" else "succeeded"
    return text[:-1] + ("0" if text[-1:] != "0" else "1") if text else "x"


@dataclass
class Backend:
    """One SQL backend as this test reaches it: open the store, list columns, edit a row."""

    name: str
    open: Callable[[], TraceStore]
    columns: Callable[[str], list[str]]
    execute: Callable[[str, tuple[Any, ...]], list[Any]]
    param: str

    def row(self, table: str, key: tuple[Any, ...]) -> dict[str, Any]:
        cols = self.columns(table)
        where = " AND ".join(f"{k} = {self.param}" for k in KEYS[table])
        (values,) = self.execute(f"SELECT {', '.join(cols)} FROM {table} WHERE {where}", key)
        return dict(zip(cols, values, strict=True))

    def set(self, table: str, key: tuple[Any, ...], column: str, value: Any) -> None:
        where = " AND ".join(f"{k} = {self.param}" for k in KEYS[table])
        self.execute(f"UPDATE {table} SET {column} = {self.param} WHERE {where}", (value, *key))

    def delete_step(self, run_id: str, index: int) -> None:
        p = self.param
        self.execute(f"DELETE FROM steps WHERE run_id = {p} AND idx = {p}", (run_id, index))


def sqlite_backend(path: Path) -> Backend:
    def execute(sql: str, params: tuple[Any, ...]) -> list[Any]:
        with closing(sqlite3.connect(path / "trace.db")) as conn, conn:
            return conn.execute(sql, params).fetchall()

    def columns(table: str) -> list[str]:
        return [row[1] for row in execute(f"PRAGMA table_info({table})", ())]

    return Backend("sqlite", lambda: SQLiteStore(path), columns, execute, "?")


def postgres_backend(dsn: str, artifacts: Path) -> Backend:
    import psycopg

    from reprolam.trace.postgres import PostgresStore

    def execute(sql: str, params: tuple[Any, ...]) -> list[Any]:
        with psycopg.connect(dsn, autocommit=True) as conn:
            # A tamperer with the server's superuser can switch constraint triggers off.
            conn.execute("SET session_replication_role = replica")
            cur = conn.execute(sql, params)
            return cur.fetchall() if cur.description else []

    def columns(table: str) -> list[str]:
        rows = execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
            "AND table_schema = current_schema() AND is_generated = 'NEVER' "
            "ORDER BY ordinal_position",
            (table,),
        )
        return [name for (name,) in rows]

    return Backend(
        "postgres", lambda: PostgresStore(dsn, artifacts_dir=artifacts), columns, execute, "%s"
    )


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "sqlite":
        yield sqlite_backend(tmp_path / "store")
    else:
        dsn = request.getfixturevalue("pg_dsn")
        yield postgres_backend(dsn, tmp_path / "artifacts")


def edits(backend: Backend, run_id: str) -> list[tuple[str, tuple[Any, ...], str]]:
    """(table, key, column) of every single-field edit to try."""
    with backend.open() as store:
        steps = store.steps(run_id)
        run = store.get_run(run_id)
    assert len(steps) >= 3
    assert any(s.error for s in steps)
    assert any(s.recovers is not None for s in steps)
    targets: list[tuple[str, tuple[Any, ...]]] = [("runs", (run_id,))]
    targets += [("steps", (run_id, s.index)) for s in (steps[0], steps[1], steps[-1])]
    output = next(iter(steps[0].outputs.values()))
    targets += [("artifacts", (output,)), ("artifacts", (run.environment,))]
    return [(t, k, c) for t, k in targets for c in backend.columns(t)]


def test_every_single_field_edit_is_detected(backend: Backend) -> None:
    with backend.open() as store:
        run_id = record_scenario(store)
        assert audit(store, run_id).clean
    tried = edits(backend, run_id)
    assert {t for t, _, _ in tried} == set(TABLES)
    missed: list[str] = []
    for table, key, column in tried:
        original = backend.row(table, key)[column]
        # An index moved onto another step's (an artifact's seq onto another's, SQLite)
        # would collide: move it past the end instead.
        edited = original + 100_000 if column in ("idx", "seq") else changed(original)
        backend.set(table, key, column, edited)
        keys = KEYS[table]
        moved = tuple(edited if k == column else v for k, v in zip(keys, key, strict=True))
        audited = edited if (table, column) == ("runs", "id") else run_id
        with backend.open() as store:
            if not audit(store, audited).problems:
                missed.append(f"{table}.{column} of {key}: {original!r} -> {edited!r}")
        backend.set(table, moved, column, original)  # undo, for the next edit
        with backend.open() as store:
            assert audit(store, run_id).clean, f"undo of {table}.{column} failed"
    assert not missed, "\n".join(missed)
    assert len(tried) >= 60


def test_deleting_any_step_row_is_detected(backend: Backend) -> None:
    with backend.open() as store:
        run_id = record_scenario(store)
        count = len(store.steps(run_id))
    for index in range(count):
        row = backend.row("steps", (run_id, index))
        backend.delete_step(run_id, index)
        with backend.open() as store:
            problems = audit(store, run_id).problems
            assert problems, f"deleting step {index} of {count} went unnoticed"
            assert verify_trace(store, store.get_run(run_id), store.steps(run_id))
        cols = list(row)
        marks = ", ".join([backend.param] * len(cols))
        backend.execute(
            f"INSERT INTO steps ({', '.join(cols)}) VALUES ({marks})", tuple(row.values())
        )


def test_deleting_the_last_step_with_its_artifact_and_the_run_output_is_detected(
    tmp_path: Path,
) -> None:
    store_dir = tmp_path / "store"
    with SQLiteStore(store_dir) as store:
        run_id = Engine(store).run(FLOW, planner=RulesPlanner()).id
        last = store.steps(run_id)[-1]
    digest = next(iter(last.outputs.values()))
    with closing(sqlite3.connect(store_dir / "trace.db")) as conn, conn:
        conn.execute("DELETE FROM steps WHERE run_id = ? AND idx = ?", (run_id, last.index))
        conn.execute("DELETE FROM artifacts WHERE digest = ?", (digest,))
        conn.execute("UPDATE runs SET outputs = '{}' WHERE id = ?", (run_id,))
    with SQLiteStore(store_dir) as store:
        problems = audit(store, run_id).problems
    assert [p.kind for p in problems] == ["tampered"]
    assert "seal" in problems[0].message


def test_a_run_recorded_before_header_hashing_still_audits_clean() -> None:
    """Runs of schema 2 have no header hash or seal; their chain starts at ""."""
    store = MemoryStore()
    run_id = record_scenario(store)
    steps = store.own_steps(run_id)
    prev, old = "", []
    for step in steps:
        redone = seal(replace(step, prev_hash=prev, hash=None))
        prev = redone.hash or ""
        old.append(redone)
    store.record(steps=old)
    store.record(run=replace(store.get_run(run_id), header_hash=None, seal=None))
    store._snapshots.pop(run_id)  # nor run-state snapshots (schema 7)
    report = audit(store, run_id)
    assert report.clean, report.problems
    assert "recorded before header hashing" in report.checks()["hash_chain"]["summary"]
    # A new run that pretends to be old (its header hash removed) is caught by its chain.
    fresh = record_scenario(store)
    run = store.get_run(fresh)
    store.record(run=replace(run, header_hash=None, seal=None))
    (problem,) = audit(store, fresh).problems
    assert "header hash was removed" in problem.message


def test_a_fork_chains_its_header_to_its_parent() -> None:
    from reprolam.history.fork import fork

    store = MemoryStore()
    parent = Engine(store).run(FLOW, planner=RulesPlanner())
    child = fork(store, parent.id, at=1, overrides={"add": {"scale": 2.0}}, workflow=FLOW)
    record = store.get_run(child.id)
    own = store.own_steps(child.id)
    assert own[0].prev_hash == record.header_hash
    assert audit(store, child.id).clean
    store.record(run=sealed(store, replace(record, seed=7), store.steps(child.id)))
    assert any(p.kind == "tampered" for p in audit(store, child.id).problems)


@pytest.mark.parametrize("edit", ["'Z' || substr(data, 2)", "CAST(data AS TEXT)", "12.5"])
def test_an_artifact_row_edited_into_text_or_a_number_is_a_finding_not_a_crash(
    tmp_path: Path, edit: str
) -> None:
    """SQLite's text functions turn a BLOB into TEXT: every command that read the row died
    on ``bytes(str)`` (``runs`` included)."""
    from click.testing import CliRunner

    from reprolam.cli.main import cli

    store = tmp_path / "store"
    with SQLiteStore(store) as trace:
        run_id = record_scenario(trace)
        metrics = trace.get_run(run_id).outputs["total"]
    with closing(sqlite3.connect(store / "trace.db")) as conn, conn:
        conn.execute(f"UPDATE artifacts SET data = {edit} WHERE digest = ?", (metrics,))
    runner = CliRunner()
    listed = runner.invoke(cli, ["--store", str(store), "runs", "--json"])
    assert listed.exit_code == 0, listed.output
    assert [r["id"] for r in json.loads(listed.stdout)] == [run_id]
    for command in ("audit", "replay"):
        checked = runner.invoke(cli, ["--store", str(store), command, run_id])
        changed_bytes = edit != "CAST(data AS TEXT)"  # same bytes, as text: still intact
        assert checked.exit_code == (1 if changed_bytes else 0), checked.output
        assert checked.exception is None or isinstance(checked.exception, SystemExit)
        if changed_bytes:
            assert metrics in checked.output.replace("\n", "")


def test_a_step_row_edited_into_text_that_is_not_utf8_names_the_edit(tmp_path: Path) -> None:
    """The error said 'if this persists, check the store with `reprolam audit`', from audit
    itself: reprolam writes only UTF-8, so such a row was edited outside it."""
    from click.testing import CliRunner

    from reprolam.cli.main import cli

    store = tmp_path / "store"
    with SQLiteStore(store) as trace:
        run_id = record_scenario(trace)
    with closing(sqlite3.connect(store / "trace.db")) as conn, conn:
        conn.execute(
            "UPDATE steps SET params = CAST(x'7b2243223aff7d' AS TEXT) WHERE run_id = ?", (run_id,)
        )
    for command in ("audit", "show", "replay"):
        read = CliRunner().invoke(cli, ["--store", str(store), command, run_id])
        assert read.exit_code == 2, read.output
        said = " ".join(read.stderr.split())
        assert "a row holds text that is not UTF-8" in said
        assert "edited or damaged outside reprolam" in said
        assert "check the store with `reprolam audit`" not in said
