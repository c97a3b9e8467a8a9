"""A SQLite database an action opens itself (``sqlite3.connect``: C code reads the file, not
Python's ``open``) is a file read like any other: recorded with its digest, checked again by
``--reuse``, refused undeclared under ``strict``; in-memory databases and those the action
makes in its scratch are not reads."""

from __future__ import annotations

import importlib
import sqlite3
import tempfile
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

import reprolam
from reads_flow import PATHS, cache_advice, run_one, use_private_tempdir
from reprolam import action, workflow
from reprolam.engine.observe import _database_open
from reprolam.files import hash_file
from reprolam.trace.records import StepRecord, StepStatus


@pytest.fixture(autouse=True)
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data = use_private_tempdir(tmp_path, monkeypatch)
    PATHS["db"] = data / "samples.sqlite"
    _insert(PATHS["db"], 1, 2, 3)
    return data


def _insert(db: Path, *values: int) -> None:
    with closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("CREATE TABLE IF NOT EXISTS samples (value INTEGER)")
        conn.executemany("INSERT INTO samples VALUES (?)", [(v,) for v in values])


def _total(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT total(value) FROM samples").fetchone()[0])


@action(outputs=["total"])
def sums_the_database() -> int:
    with closing(sqlite3.connect(PATHS["db"])) as conn:
        return _total(conn)


@action(outputs=["total"])
def sums_the_database_at(*, db: str) -> int:
    """Reads the database its param names: a declared read."""
    with closing(sqlite3.connect(db)) as conn:
        return _total(conn)


@action(outputs=["total"])
def sums_through_a_read_only_uri() -> int:
    with closing(sqlite3.connect(f"file:{PATHS['db']}?mode=ro", uri=True)) as conn:
        return _total(conn)


@action(outputs=["total"])
def uses_in_memory_databases() -> int:
    found = 0
    for name, uri in ((":memory:", False), ("", False), ("file:shared?mode=memory", True)):
        with closing(sqlite3.connect(name, uri=uri)) as conn:
            conn.execute("CREATE TABLE samples (value INTEGER)")
            conn.execute("INSERT INTO samples VALUES (4)")
            found += _total(conn)
    return found


@action(outputs=["total"])
def builds_a_scratch_database() -> int:
    """Makes a database in the temp dir, then opens it again to read it back."""
    db = Path(tempfile.mkdtemp()) / "scratch.sqlite"
    _insert(db, 5, 6)
    with closing(sqlite3.connect(db)) as conn:
        return _total(conn)


@action(outputs=["total"])
def creates_a_database_beside_the_data() -> int:
    _insert(PATHS["db"].with_name("made.sqlite"), 7)
    return 7


@action(outputs=["total"])
def adds_a_row(*, db: str) -> int:
    """Reads the database its param names, then inserts into it (no side effects declared)."""
    with closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("INSERT INTO samples VALUES (4)")
        return _total(conn)


def _run(
    tmp_path: Path, fn: Any, *, effects: str = "warn", reuse: bool = False, **params: Any
) -> StepRecord:
    return run_one(tmp_path, fn, effects=effects, reuse=reuse, **params).steps[0]


def _effects(step: StepRecord) -> list[dict[str, Any]]:
    return list(step.proposal.get("observed", {}).get("effects", []))


def test_a_database_read_is_recorded_with_its_digest(tmp_path: Path) -> None:
    step = _run(tmp_path, sums_the_database)
    assert step.status is StepStatus.SUCCEEDED
    (read,) = _effects(step)
    assert (read["kind"], read["target"]) == ("file_read", str(PATHS["db"]))
    assert read["declared"] is False
    assert read["digest"] == hash_file(PATHS["db"])
    assert read["size"] == PATHS["db"].stat().st_size


def test_reuse_executes_again_once_the_database_changed(tmp_path: Path) -> None:
    first = _run(tmp_path, sums_the_database)
    again = _run(tmp_path, sums_the_database, reuse=True)
    assert again.proposal["cache"]["reused"] is True  # unchanged: reused
    _insert(PATHS["db"], 10)
    changed = _run(tmp_path, sums_the_database, reuse=True)
    cache = changed.proposal["cache"]
    assert cache["reused"] is False
    (why,) = cache["changed"]
    assert why.startswith(f"file {PATHS['db']}: content changed since the recorded run")
    assert changed.outputs["total"] != first.outputs["total"]  # it read the new row


def test_strict_refuses_an_undeclared_database_read(tmp_path: Path) -> None:
    step = _run(tmp_path, sums_the_database, effects="strict")
    assert step.status is StepStatus.FAILED
    assert step.error is not None
    assert step.error.type == "UndeclaredEffect"
    assert f"file_read: {PATHS['db']}" in step.error.message
    assert "inputs=[NAME]" in step.error.message


def test_strict_lets_a_database_handed_as_a_param_through(tmp_path: Path) -> None:
    step = _run(tmp_path, sums_the_database_at, effects="strict", db=str(PATHS["db"]))
    assert step.status is StepStatus.SUCCEEDED
    (read,) = _effects(step)
    assert (read["target"], read["declared"]) == (str(PATHS["db"]), True)
    assert read["digest"] == hash_file(PATHS["db"])


def test_a_file_uri_is_a_read_of_the_file_it_names(tmp_path: Path) -> None:
    (read,) = _effects(_run(tmp_path, sums_through_a_read_only_uri))
    assert (read["kind"], read["target"]) == ("file_read", str(PATHS["db"]))
    assert read["digest"] == hash_file(PATHS["db"])


def test_in_memory_databases_are_no_reads(tmp_path: Path) -> None:
    step = _run(tmp_path, uses_in_memory_databases, effects="strict")
    assert step.status is StepStatus.SUCCEEDED
    assert _effects(step) == []


def test_a_database_the_action_makes_in_its_scratch_is_no_read(tmp_path: Path) -> None:
    step = _run(tmp_path, builds_a_scratch_database, effects="strict")
    assert step.status is StepStatus.SUCCEEDED
    assert _effects(step) == []


def test_a_database_created_outside_the_scratch_is_a_write(tmp_path: Path) -> None:
    step = _run(tmp_path, creates_a_database_beside_the_data)
    made = str(PATHS["db"].with_name("made.sqlite"))
    assert [(e["kind"], e["target"]) for e in _effects(step)] == [("file_write", made)]


@pytest.mark.parametrize(
    ("name", "opened"),
    [
        ("/data/db.sqlite", ("file_read", "/data/db.sqlite")),  # exists: read
        ("file:/data/db.sqlite?mode=ro", ("file_read", "/data/db.sqlite")),
        ("file:///data/my%20db.sqlite?mode=rw", ("file_read", "/data/my db.sqlite")),
        ("file://localhost/data/db.sqlite?mode=ro", ("file_read", "/data/db.sqlite")),
        ("file:rel.sqlite?mode=ro", ("file_read", "rel.sqlite")),
        ("file:/data/new.sqlite", ("file_write", "/data/new.sqlite")),  # creates it
        (b"/data/new.sqlite", ("file_write", "/data/new.sqlite")),
        (":memory:", None),
        ("", None),
        ("file::memory:", None),
        ("file:shared?mode=memory&cache=shared", None),
        ("file://elsewhere/data/db.sqlite", None),  # SQLite refuses another host
        (3, None),
    ],
)
def test_what_a_connect_event_opens(
    name: object, opened: tuple[str, str] | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("os.path.exists", lambda path: path == "/data/db.sqlite")
    expected = None if opened is None else (opened[0], (opened[1],))
    assert _database_open((name,)) == expected


def test_changes_still_in_a_wal_file_are_seen_by_reuse(tmp_path: Path) -> None:
    """Another process (here: a connection the test holds open) writes a WAL-mode database:
    its commits sit in ``-wal`` until a checkpoint, the main file unchanged."""
    db = PATHS["db"]
    with closing(sqlite3.connect(db)) as setup:
        setup.execute("PRAGMA journal_mode=WAL")
    with closing(sqlite3.connect(db)) as writer:
        writer.execute("PRAGMA wal_autocheckpoint=0")  # what it commits stays in the -wal
        with writer:
            writer.execute("INSERT INTO samples VALUES (10)")
        main_before = hash_file(db)
        first = _run(tmp_path, sums_the_database)
        assert first.outputs
        reads = {e["target"]: e for e in _effects(first)}
        assert set(reads) == {str(db), f"{db}-wal"}
        assert reads[f"{db}-wal"]["declared"] is False  # as the database's read
        assert cache_advice(_run(tmp_path, sums_the_database, reuse=True))["reused"] is True
        with writer:
            writer.execute("INSERT INTO samples VALUES (100)")
        assert hash_file(db) == main_before  # the change is in the -wal only
        again = _run(tmp_path, sums_the_database, reuse=True)
    advice = cache_advice(again)
    assert advice["reused"] is False
    assert any(why.startswith(f"file {db}-wal: content changed") for why in advice["changed"])
    assert again.outputs["total"] != first.outputs["total"]


def test_a_connection_opened_before_the_action_is_described_by_its_database(
    tmp_path: Path, data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``DB = sqlite3.connect(path)`` when the user's module is imported: the watch sees that
    connect, not the action's reads through it. The code capture describes the connection by
    what its database holds, so a changed database changes the step's fingerprint."""
    name = f"kept_connection_{tmp_path.name.replace('-', '_')}"
    (data / f"{name}.py").write_text(
        "import sqlite3\n"
        "from reprolam import action\n\n"
        f"DB = sqlite3.connect({str(PATHS['db'])!r}, check_same_thread=False)\n\n\n"
        '@action(outputs=["total"])\n'
        "def sums_through_the_kept_connection() -> int:\n"
        '    return int(DB.execute("SELECT total(value) FROM samples").fetchone()[0])\n'
    )
    monkeypatch.syspath_prepend(str(data))
    module = importlib.import_module(name)
    flow = workflow("kept", [module.sums_through_the_kept_connection], outputs=["total"])
    try:
        with reprolam.open(tmp_path / "store") as rl:
            first = rl.run(flow, planner="rules").steps[0]
            same = rl.run(flow, planner="rules", reuse=True).steps[0]
            _insert(PATHS["db"], 10)
            changed = rl.run(flow, planner="rules", reuse=True).steps[0]
    finally:
        module.DB.close()
    assert cache_advice(same)["reused"] is True
    assert changed.fingerprint != first.fingerprint
    assert "cache" not in changed.proposal  # no recorded step with its cache key
    assert changed.outputs["total"] != first.outputs["total"]


def test_a_write_into_an_existing_database_is_a_write(tmp_path: Path) -> None:
    # connecting to an existing database was recorded as a read only: an INSERT the action
    # committed (C code, no audit event) was no effect, and strict let it through
    step = _run(tmp_path, adds_a_row, db=str(PATHS["db"]))
    kinds = {(e["kind"], e["target"], e["declared"]) for e in _effects(step)}
    assert kinds == {("file_read", str(PATHS["db"]), True), ("file_write", str(PATHS["db"]), False)}
    strict = _run(tmp_path, adds_a_row, effects="strict", db=str(PATHS["db"]))
    assert strict.status is StepStatus.FAILED
    assert strict.error is not None
    assert f"file_write: {PATHS['db']}" in strict.error.message
    # reading it is no write
    assert [e["kind"] for e in _effects(_run(tmp_path, sums_the_database))] == ["file_read"]
