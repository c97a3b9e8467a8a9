"""What only the SQLite store promises: its files, opening errors, migrations, concurrency."""

from __future__ import annotations

import dataclasses
import os
import sqlite3
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import closing, contextmanager
from importlib import resources
from pathlib import Path

import pytest

from reprolam.errors import IntegrityError, StoreError
from reprolam.testing.conformance import artifact, chain, make_run, make_step
from reprolam.trace import SCHEMA_VERSION, Producer, RunStatus, SQLiteStore
from reprolam.trace.blobs import INLINE_MAX
from reprolam.trace.journal import RecoveryWarning
from reprolam.trace.migrations_dir import packaged_migrations
from reprolam.trace.records import StepRecord


def raw(store: SQLiteStore) -> sqlite3.Connection:
    """A second, independent connection to the store's database."""
    return sqlite3.connect(store.db_path, isolation_level=None, timeout=5, check_same_thread=False)


# -- files and settings ---------------------------------------------------------------------------


def test_layout_inline_and_blob(sqlite_store: SQLiteStore) -> None:
    small, large = artifact(b"s" * INLINE_MAX), artifact(b"l" * (INLINE_MAX + 1))
    sqlite_store.record(artifacts=[small, large, large])
    d_small, d_large = small[0].digest, large[0].digest
    assert sqlite_store.db_path == sqlite_store.directory / "trace.db"
    assert not sqlite_store.blobs.exists(d_small)
    blob = sqlite_store.directory / "artifacts" / d_large[:2] / d_large[2:]
    assert blob.read_bytes() == large[1]
    assert [p.name for p in blob.parent.iterdir()] == [d_large[2:]]  # no temp files left
    sqlite_store.flush()
    with closing(raw(sqlite_store)) as conn:
        rows = conn.execute("SELECT digest, size, data IS NULL FROM artifacts ORDER BY size")
        assert rows.fetchall() == [(d_small, INLINE_MAX, 0), (d_large, INLINE_MAX + 1, 1)]


def test_artifacts_dir_elsewhere(tmp_path: Path) -> None:
    record, data = artifact(b"x" * (INLINE_MAX + 1))
    with SQLiteStore(tmp_path / "store", artifacts_dir=tmp_path / "blobs") as store:
        store.record(artifacts=[(record, data)])
        assert store.get_artifact(record.digest) == (record, data)
    assert (tmp_path / "blobs" / record.digest[:2] / record.digest[2:]).is_file()
    assert not (tmp_path / "store" / "artifacts").exists() or not any(
        (tmp_path / "store" / "artifacts").iterdir()
    )


@pytest.mark.parametrize(("fsync", "level"), [(False, 1), (True, 2)])
def test_wal_and_synchronous(tmp_path: Path, fsync: bool, level: int) -> None:
    with SQLiteStore(tmp_path, fsync=fsync) as store:
        assert store._conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert store._conn.execute("PRAGMA synchronous").fetchone() == (level,)
        assert store._conn.execute("PRAGMA foreign_keys").fetchone() == (1,)
        chain(store, "run-a", 2)  # and it works


def test_missing_blob_file_is_an_integrity_error(sqlite_store: SQLiteStore) -> None:
    record, data = artifact(b"m" * (INLINE_MAX + 1))
    sqlite_store.record(artifacts=[(record, data)])
    path = sqlite_store.blobs.path_of(record.digest)
    path.unlink()
    with pytest.raises(IntegrityError, match=record.digest) as info:
        sqlite_store.get_artifact(record.digest)
    assert str(path) in str(info.value)


# -- opening --------------------------------------------------------------------------------------


def test_schema_version_is_recorded(sqlite_store: SQLiteStore) -> None:
    with closing(raw(sqlite_store)) as conn:
        meta = dict(conn.execute("SELECT key, value FROM meta"))
    assert meta == {"application": "reprolam", "schema_version": str(SCHEMA_VERSION)}


def test_migrations_are_package_data() -> None:
    folder = resources.files("reprolam.trace").joinpath("migrations")
    assert folder.joinpath("0001_initial.sql").is_file()
    assert [number for number, _ in packaged_migrations("sqlite")] == list(
        range(1, SCHEMA_VERSION + 1)
    )


def _one_line(exc: pytest.ExceptionInfo[StoreError]) -> str:
    message = str(exc.value)
    assert "\n" not in message
    return message


@contextmanager
def untouched(directory: Path) -> Iterator[None]:
    """Asserts that what ``directory`` holds is the same, byte for byte, after the block."""

    def held() -> dict[str, bytes | None]:
        return {p.name: p.read_bytes() if p.is_file() else None for p in directory.iterdir()}

    before = held()
    yield
    assert held() == before


def test_corrupted_database(tmp_path: Path) -> None:
    (tmp_path / "trace.db").write_bytes(os.urandom(8192))
    with untouched(tmp_path), pytest.raises(StoreError) as info:
        SQLiteStore(tmp_path)
    message = _one_line(info)
    assert str(tmp_path / "trace.db") in message
    assert "move it aside" in message


def test_sqlite_database_that_is_not_a_store(tmp_path: Path) -> None:
    with closing(sqlite3.connect(tmp_path / "trace.db")) as conn:
        conn.execute("CREATE TABLE notes (text TEXT)")
        conn.execute("INSERT INTO notes VALUES ('kept as it was')")
        conn.commit()
    # Refused before anything is written: the switch to WAL rewrote the file's header (and
    # left trace.db-wal and -shm), and a lock file and artifacts/ were made beside it.
    with untouched(tmp_path), pytest.raises(StoreError, match="not a reprolam trace store") as info:
        SQLiteStore(tmp_path)
    assert str(tmp_path / "trace.db") in _one_line(info)
    with closing(sqlite3.connect(tmp_path / "trace.db")) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)


def test_newer_schema_version(tmp_path: Path) -> None:
    SQLiteStore(tmp_path).close()
    with closing(sqlite3.connect(tmp_path / "trace.db")) as conn, conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(StoreError) as info:
        SQLiteStore(tmp_path)
    assert _one_line(info).startswith(
        f"store schema version 99 is newer than this reprolam supports ({SCHEMA_VERSION}): "
        "upgrade reprolam"
    )


@pytest.mark.parametrize(
    "edit",
    ["DELETE FROM meta WHERE key = 'schema_version'", "DROP TABLE meta"],
    ids=["version row deleted", "meta dropped"],
)
def test_a_store_whose_meta_was_edited_is_not_called_another_applications(
    tmp_path: Path, edit: str
) -> None:
    # It was "a SQLite database but not a reprolam trace store: point --store at another
    # directory", of the user's own store.
    SQLiteStore(tmp_path).close()
    with closing(sqlite3.connect(tmp_path / "trace.db")) as conn, conn:
        conn.execute(edit)
    with pytest.raises(StoreError) as info:
        SQLiteStore(tmp_path)
    message = _one_line(info)
    assert "holds a reprolam trace store's tables, but its meta table does not record" in message
    assert message.endswith("edited outside reprolam; restore trace.db from a backup")


def test_a_schema_version_edited_back_is_named_not_sent_to_audit(tmp_path: Path) -> None:
    # Migration 0007 ran again and failed: "table artifact_keys already exists: if this
    # persists, check the store with `reprolam audit`", which failed the same way.
    SQLiteStore(tmp_path).close()
    with closing(sqlite3.connect(tmp_path / "trace.db")) as conn, conn:
        conn.execute("UPDATE meta SET value = '6' WHERE key = 'schema_version'")
    with pytest.raises(StoreError) as info:
        SQLiteStore(tmp_path)
    message = _one_line(info)
    assert "from schema version 6: migration 0007 failed (table artifact_keys" in message
    assert "reprolam audit" not in message
    assert message.endswith("edited outside reprolam; restore trace.db from a backup")


def test_location_under_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(StoreError) as info:
        SQLiteStore(tmp_path / "file" / "store")
    assert str(tmp_path / "file" / "store") in _one_line(info)
    with pytest.raises(StoreError, match="not a directory") as info:
        SQLiteStore(tmp_path / "file")
    assert str(tmp_path / "file") in _one_line(info)


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root ignores directory permissions"
)
def test_unwritable_directory(tmp_path: Path) -> None:
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(StoreError, match="not writable") as info:
            SQLiteStore(tmp_path)
        assert str(tmp_path) in _one_line(info)
    finally:
        tmp_path.chmod(0o700)


def test_directory_reported_unwritable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The chmod test above, for root too: what the OS says about access is what counts."""
    monkeypatch.setattr(os, "access", lambda *args, **kwargs: False)
    with pytest.raises(StoreError, match="not writable") as info:
        SQLiteStore(tmp_path / "store")
    assert str(tmp_path / "store") in _one_line(info)


def test_sqlite_errors_become_store_errors(sqlite_store: SQLiteStore) -> None:
    chain(sqlite_store, "run-a", 1)
    sqlite_store.flush()
    with closing(raw(sqlite_store)) as conn:
        conn.execute("DROP TABLE steps")
    with pytest.raises(StoreError, match="steps") as info:
        sqlite_store.own_steps("run-a")
    assert str(sqlite_store.db_path) in _one_line(info)
    sqlite_store.record(steps=[make_step("run-a", 1)])  # accepted: it is in the journal
    with pytest.raises(StoreError, match="steps"):
        sqlite_store.flush()
    journal = next((sqlite_store.directory / "journal").iterdir())
    with pytest.raises(StoreError, match="steps"):
        sqlite_store.close()
    assert journal.stat().st_size > 0  # what could not be applied is kept for recovery


# -- durability and concurrency -------------------------------------------------------------------

_RECORD_THEN_SIGKILL = """
import os, signal, sys
sys.path.insert(0, {tests!r})
from reprolam.testing.conformance import chain
from reprolam.trace import SQLiteStore

store = SQLiteStore(sys.argv[1])
chain(store, "killed", 3)
os.kill(os.getpid(), signal.SIGKILL)  # no close(), no atexit, no flush
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_committed_steps_survive_sigkill(tmp_path: Path) -> None:
    script = _RECORD_THEN_SIGKILL.format(tests=str(Path(__file__).parent))
    proc = subprocess.run([sys.executable, "-c", script, str(tmp_path)], timeout=60, check=False)
    assert proc.returncode == -9
    with SQLiteStore(tmp_path) as store:
        assert [s.index for s in store.own_steps("killed")] == [0, 1, 2]
        for step in store.own_steps("killed"):
            assert store.get_artifact(step.outputs["x"])[1] == f"killed/{step.index}".encode()


_WRITER = """
import sys, time
sys.path.insert(0, {tests!r})
from reprolam.testing.conformance import artifact, make_run, make_step
from reprolam.trace import SQLiteStore

store = SQLiteStore(sys.argv[1])
tag = sys.argv[2]
shared = artifact(b"written by every writer")
for r in range(20):
    run_id = f"{{tag}}-{{r:02d}}"
    store.create_run(make_run(run_id, created_at=time.time()))
    for i in range(5):
        own = artifact(f"{{run_id}}/{{i}}")
        uses = dict(inputs={{"s": shared[0].digest}}, outputs={{"x": own[0].digest}})
        step = make_step(run_id, i, **uses)
        store.record(steps=[step], artifacts=[shared, own])
store.close()
"""


def _check_writers(directory: Path, tags: list[str]) -> None:
    with SQLiteStore(directory) as store:
        assert len(store.list_runs()) == 20 * len(tags)
        for tag in tags:
            for r in range(20):
                steps = store.own_steps(f"{tag}-{r:02d}")
                assert [s.index for s in steps] == [0, 1, 2, 3, 4]
                for step in steps:
                    assert store.get_artifact(step.outputs["x"])[1] == (
                        f"{tag}-{r:02d}/{step.index}".encode()
                    )
                    assert store.artifact_producer(step.outputs["x"]) == Producer(
                        f"{tag}-{r:02d}", step.index, "x"
                    )
        shared = artifact(b"written by every writer")[0].digest
        assert store.artifact_producer(shared) is None  # only ever an input


def test_two_processes_write_one_store(tmp_path: Path) -> None:
    SQLiteStore(tmp_path).close()
    script = _WRITER.format(tests=str(Path(__file__).parent))
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(tmp_path), tag], stderr=subprocess.PIPE)
        for tag in ("p1", "p2")
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
    _check_writers(tmp_path, ["p1", "p2"])


def test_two_store_objects_write_one_directory(tmp_path: Path) -> None:
    stores = [SQLiteStore(tmp_path), SQLiteStore(tmp_path)]
    shared = artifact(b"written by every writer")

    def write(store: SQLiteStore, tag: str) -> None:
        for r in range(20):
            run_id = f"{tag}-{r:02d}"
            store.create_run(make_run(run_id, created_at=time.time()))
            for i in range(5):
                own = artifact(f"{run_id}/{i}")
                step = make_step(
                    run_id, i, inputs={"s": shared[0].digest}, outputs={"x": own[0].digest}
                )
                store.record(steps=[step], artifacts=[shared, own])

    threads = [
        threading.Thread(target=write, args=(store, tag))
        for store, tag in zip(stores, ["t1", "t2"], strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for store in stores:
        store.close()
    _check_writers(tmp_path, ["t1", "t2"])


def test_readers_read_while_a_write_is_open(sqlite_store: SQLiteStore) -> None:
    chain(sqlite_store, "run-a", 2)
    sqlite_store.flush()  # reads apply this process's journal first, which needs the write lock
    with closing(raw(sqlite_store)) as writer:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("UPDATE runs SET status = 'failed' WHERE id = 'run-a'")
        started = time.perf_counter()
        with SQLiteStore(sqlite_store.directory) as reader:  # another connection reads, at once
            assert reader.get_run("run-a").status is RunStatus.RUNNING
            assert len(reader.own_steps("run-a")) == 2
        assert sqlite_store.get_run("run-a").status is RunStatus.RUNNING
        assert time.perf_counter() - started < 2
        writer.execute("COMMIT")
    assert sqlite_store.get_run("run-a").status is RunStatus.FAILED


def test_a_writer_waits_for_another_writer(sqlite_store: SQLiteStore) -> None:
    sqlite_store.create_run(make_run())
    with closing(raw(sqlite_store)) as other:
        other.execute("BEGIN IMMEDIATE")
        release = threading.Timer(0.3, lambda: other.execute("COMMIT"))
        release.start()
        started = time.perf_counter()
        sqlite_store.record(steps=[make_step("run-a", 0)])  # journaled: no wait
        assert time.perf_counter() - started < 0.25
        sqlite_store.flush()  # waits for the lock instead of "database is locked"
        assert time.perf_counter() - started >= 0.25
        release.join()
    assert len(sqlite_store.own_steps("run-a")) == 1


def test_a_version_1_store_is_upgraded_in_place(tmp_path: Path) -> None:
    from reprolam.trace._sqlite_schema import _statements

    db = tmp_path / "trace.db"
    with closing(sqlite3.connect(db, isolation_level=None)) as conn:
        number, script = packaged_migrations("sqlite")[0]
        assert number == 1
        for statement in _statements(script):
            conn.execute(statement)
        conn.execute("INSERT INTO meta VALUES ('schema_version', '1'), ('application', 'reprolam')")
        conn.execute(
            "INSERT INTO runs (id, workflow, seed, created_at, planner, policy, status, overrides, "
            "outputs, host, pid) VALUES ('old', 'wf', 0, 1.0, '{}', '{}', 'succeeded', '{}', "
            "'{}', 'h', 1)"
        )
    with SQLiteStore(tmp_path) as store:
        assert store.get_run("old").verifies is None
        store.create_run(make_run("new", verifies="old"))
        assert [r.id for r in store.list_runs(verifies="old")] == ["new"]
    with closing(sqlite3.connect(db)) as conn:
        assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (
            str(SCHEMA_VERSION),
        )


_OPEN_WHEN_TOLD = """
import sys, time
from pathlib import Path
from reprolam.trace import SQLiteStore
while not Path(sys.argv[2]).exists():
    time.sleep(0.001)
SQLiteStore(sys.argv[1]).close()
"""


def test_processes_creating_one_store_at_once_all_succeed(tmp_path: Path) -> None:
    """A new database's switch to WAL does not wait for locks; opening is serialized."""
    for trial in range(5):
        store, go = tmp_path / f"store-{trial}", tmp_path / f"go-{trial}"
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", _OPEN_WHEN_TOLD, str(store), str(go)],
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(4)
        ]
        time.sleep(0.5)  # let them all reach the starting line
        go.touch()
        for proc in procs:
            _, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, err


@pytest.mark.parametrize(
    "edit",
    [
        "DELETE FROM artifact_keys; DELETE FROM artifact_keys_middle; "
        "DELETE FROM artifact_keys_recent",
        "DROP TABLE artifact_keys_recent",
        "DROP VIEW step_index; DELETE FROM step_keys_recent; DELETE FROM run_numbers",
    ],
    ids=["emptied", "dropped", "step keys"],
)
def test_lookup_keys_edited_away_are_rebuilt_when_the_store_opens(
    tmp_path: Path, edit: str
) -> None:
    # The key tables are derived from the artifacts and steps: emptied, every artifact
    # stored before read as missing ("no artifact ...") and was stored again by the next
    # run; dropped, every read failed ("no such table"). Nothing said how to get them back.
    with SQLiteStore(tmp_path) as store:
        steps = chain(store, "run-a", 3)
    with closing(sqlite3.connect(tmp_path / "trace.db")) as conn:
        conn.executescript(edit)
    with pytest.warns(RecoveryWarning, match="open the store once with write access"):
        SQLiteStore(tmp_path, read_only=True).close()
    with pytest.warns(RecoveryWarning, match=r"lookup keys .* rebuilt") as caught:
        store = SQLiteStore(tmp_path)
    with store:
        assert len(caught) == 1
        for step in steps:
            assert store.has_artifact(step.outputs["x"])
        (candidate,) = store.find_cached_steps(_probe(steps[1]))
        assert (candidate.run_id, candidate.index) == ("run-a", 1)
        chain(store, "run-b", 1)
    with closing(sqlite3.connect(tmp_path / "trace.db")) as conn:
        (stored,) = conn.execute("SELECT count(*) FROM artifacts").fetchone()
    assert stored == 4  # run-b's artifact is new; none of run-a's was stored twice
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # intact now: nothing to say
        SQLiteStore(tmp_path).close()


def _probe(step: StepRecord) -> StepRecord:
    """A step of another run with ``step``'s cache key (what a fork would look up)."""
    return dataclasses.replace(step, run_id="run-probe")


def test_an_older_store_opened_read_only_names_its_version_and_both_ways_to_read_it(
    tmp_path: Path,
) -> None:
    # A read-only medium cannot be opened with write access: the copy is the way there.
    with SQLiteStore(tmp_path) as store:
        chain(store, "run-a", 2)
    with closing(sqlite3.connect(tmp_path / "trace.db")) as conn, conn:
        conn.execute(
            "UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION - 1),)
        )
    with pytest.raises(StoreError) as info:
        SQLiteStore(tmp_path, read_only=True)
    message = _one_line(info)
    assert f"schema version {SCHEMA_VERSION - 1}" in message
    assert "open it once with write access" in message
    assert "copy the store directory somewhere writable" in message


def test_a_second_store_object_of_this_process_reads_what_the_first_just_recorded(
    tmp_path: Path,
) -> None:
    """A record() waits in the writer's journal for up to FLUSH_INTERVAL before trace.db has
    it, which other processes are told (README). Another store object of the same process
    (``reprolam.audit(run, store=PATH)`` right after rlam's ``add_result``) read the run as it
    was before: audit said its first step had never finished. It now reads it at once."""
    with SQLiteStore(tmp_path) as writer:
        chain(writer, "run-a", 3)
        with SQLiteStore(tmp_path) as reader:
            assert [s.index for s in reader.steps("run-a")] == [0, 1, 2]
        with SQLiteStore(tmp_path, read_only=True) as looker:
            assert len(looker.steps("run-a")) == 3
