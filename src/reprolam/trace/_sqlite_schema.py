"""Opening a SQLite trace database: connection settings, friendly errors, migrations.

Schema changes are numbered SQL files in ``migrations/``, applied in order on open, each in
one transaction, with the version recorded in ``meta('schema_version')``.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from reprolam.errors import StoreError
from reprolam.trace._sqlite_keys import register_functions
from reprolam.trace.contract import SCHEMA_VERSION
from reprolam.trace.migrations_dir import packaged_migrations

BUSY_TIMEOUT = 30.0  # seconds a writer waits for another writer's transaction


def make_writable_dir(path: Path, what: str) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise StoreError(
            f"{what} {path} exists and is not a directory: pass a directory "
            "(reprolam keeps trace.db and artifacts/ in it)"
        ) from None
    except OSError as exc:
        raise StoreError(
            f"cannot create {what} {path}: {exc.strerror or exc}: choose a location you "
            "can write to ({store} / REPROLAM_STORE)"
        ) from exc
    if not os.access(path, os.W_OK | os.X_OK):
        raise StoreError(
            f"{what} {path} is not writable: fix its permissions or choose another "
            "location ({store} / REPROLAM_STORE)"
        )


@contextmanager
def opening_lock(directory: Path) -> Iterator[None]:
    """Serialize opening a store across processes (held for milliseconds).

    Switching a new database to WAL needs an exclusive lock that SQLite does not wait for
    (no busy handler): several processes creating one store at once would see "database is
    locked". Migrations are serialized by the same lock.
    """
    fd = os.open(directory / ".open.lock", os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def create_if_missing(db_path: Path) -> None:
    """Give a new store its database, whole: schema and WAL mode, or nothing at all.

    Call with the opening lock held. Created in place, the database would cost 8 fsyncs
    (the switch to WAL through a rollback journal, then the first WAL commit, each with
    their directory). Built beside it without syncing, then synced once and renamed into
    place, it costs 2, and no crash can leave a half-made ``trace.db`` behind: at worst a
    ``trace.db.creating`` that the next creation replaces.
    """
    if db_path.exists():
        return
    partial = db_path.with_name(db_path.name + ".creating")
    partial.unlink(missing_ok=True)  # a creation interrupted by a crash
    try:
        conn = sqlite3.connect(partial, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode = MEMORY")  # nothing to protect yet
            conn.execute("PRAGMA synchronous = OFF")
            migrate(conn, partial)
            conn.execute("PRAGMA journal_mode = WAL")  # recorded in the file's header
        finally:
            conn.close()
        fd = os.open(partial, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(partial, db_path)
        fd = os.open(db_path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)  # the new name
        finally:
            os.close(fd)
    except sqlite3.Error as exc:
        partial.unlink(missing_ok=True)
        raise open_error(db_path, exc) from exc
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise StoreError(
            f"cannot create trace database {db_path}: {exc.strerror or exc}: check that "
            "the store directory is writable and the disk has room"
        ) from exc


def _bind_none_and_bytes_directly() -> None:
    """Let ``sqlite3`` find an adapter for ``None`` and ``bytes`` at its first try.

    It binds an exact int, float or str as it is, but looks every other parameter up in
    its adapter table and, not finding it there, probes two attributes that do not exist
    (``__adapt__``, ``__conform__``): about a tenth of the instructions of recording a
    step went there (the NULL columns of a step row, the bytes of an artifact). Identity
    adapters (C callables: ``{}.get`` returns ``None`` for ``None``, ``bytes`` returns
    bytes unchanged) bind the very same values, found by one dict lookup. Registering an
    adapter for these two types leaves every other type's adaptation as it was.
    """
    none_to_none: dict[None, None] = {}
    sqlite3.register_adapter(type(None), none_to_none.get)
    sqlite3.register_adapter(bytes, bytes)


_bind_none_and_bytes_directly()

WAL_PAGES = 10_000  # ~40 MiB of WAL between automatic checkpoints (SQLite's default: 1,000)
CACHE_KIB = 32 * 1024  # page cache of the writing connection (SQLite's default: 2 MiB)


def connect(db_path: Path, *, fsync: bool) -> sqlite3.Connection:
    try:
        conn = sqlite3.connect(
            db_path,
            timeout=BUSY_TIMEOUT,
            isolation_level=None,  # we issue BEGIN IMMEDIATE / COMMIT ourselves
            check_same_thread=False,  # the store's lock serializes use across threads
            cached_statements=64,
        )
    except sqlite3.Error as exc:
        raise open_error(db_path, exc) from exc
    try:
        # Another application's database is refused before anything is written to it: the
        # switch to WAL below rewrites its header (and leaves -wal and -shm files beside it).
        _schema_version(conn, db_path)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {'FULL' if fsync else 'NORMAL'}")
        conn.execute("PRAGMA foreign_keys = ON")
        # Content-addressed keys (artifact digests, the step cache's) land on random pages of
        # large B-trees: in a big store every batch dirties ~1,000 pages, and the default
        # checkpoint (every 1,000 WAL pages, with an fsync) then ran after nearly every batch.
        # Checkpointing every WAL_PAGES pages and keeping CACHE_KIB of pages hot lets pages
        # touched by several batches be written back once.
        conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_PAGES}")
        conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
    except sqlite3.Error as exc:
        conn.close()
        raise open_error(db_path, exc) from exc
    except BaseException:
        conn.close()
        raise
    return conn


def is_read_only(directory: Path, db_path: Path) -> bool:
    """An existing store this process cannot write to (it can still be read)."""
    if not db_path.is_file():
        return False
    return not (os.access(directory, os.W_OK | os.X_OK) and os.access(db_path, os.W_OK))


def connect_read_only(db_path: Path) -> sqlite3.Connection:
    """A connection that never writes: not the database, its WAL, or a lock file.

    ``mode=ro`` reads a WAL store being written by others (it needs the ``-shm`` file to
    exist); a store closed cleanly has none, and a read-only directory cannot get one, so
    then it is opened ``immutable`` (nobody can be writing it: there is no WAL).
    """
    uri = db_path.resolve().as_uri()
    error: sqlite3.Error | None = None
    for mode in ("mode=ro", "immutable=1"):
        try:
            conn = sqlite3.connect(
                f"{uri}?{mode}", uri=True, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            error = exc
            continue
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return conn
        except sqlite3.Error as exc:
            error = exc
            conn.close()
    assert error is not None
    raise open_error(db_path, error)


def check_readable(conn: sqlite3.Connection, db_path: Path) -> None:
    """A store opened read-only cannot be migrated: it must be at this code's version."""
    version = _schema_version(conn, db_path)
    if version == 0:
        raise StoreError(f"{db_path} holds no reprolam trace store yet: nothing to read")
    version = _layout_version(conn, version)
    if version < SCHEMA_VERSION:
        raise StoreError(
            f"{db_path} has schema version {version}, older than this reprolam's "
            f"({SCHEMA_VERSION}), and cannot be upgraded without write access: open it once "
            "with write access (any command) to upgrade it, or copy the store directory "
            "somewhere writable and open the copy"
        )


def open_error(db_path: Path, exc: sqlite3.Error) -> StoreError:
    text = str(exc)
    if "not a database" in text or "malformed" in text:
        return StoreError(
            f"{db_path} is not a reprolam trace database (SQLite: {text}): it is damaged or "
            "another file; move it aside, or point {store} at another directory"
        )
    return StoreError(f"cannot open trace database {db_path}: {text}: {hint(exc)}")


def hint(exc: sqlite3.Error) -> str:
    text = str(exc)
    if "locked" in text or "busy" in text:
        return f"another process held the write lock for over {BUSY_TIMEOUT:.0f} s; retry"
    if "readonly" in text or "unable to open" in text:
        return "check that the store directory and trace.db are writable"
    if "not a database" in text or "malformed" in text:
        return "trace.db is damaged; restore it from a backup"
    if "decode to UTF-8" in text:  # reprolam writes only UTF-8: the database was edited
        return (
            "a row holds text that is not UTF-8, which reprolam never writes: trace.db was "
            "edited or damaged outside reprolam; restore it from a backup"
        )
    if "full" in text or "I/O" in text:
        return "check free disk space and the health of the disk"
    if "closed" in text:
        return "the store is closed; open it again with reprolam.open(STORE)"
    return "if this persists, check the store with `reprolam audit`"


def migrate(
    conn: sqlite3.Connection, db_path: Path, live_runs: Callable[[], list[str]] = list
) -> None:
    """Bring the schema up to ``SCHEMA_VERSION``; refuse stores this code cannot read.

    ``live_runs`` names the runs being executed now: in a store at an older version, by an
    older reprolam, whose next write an upgrade would make fail (and leave its run's record
    at odds with its seal); such a store is not upgraded until they end.
    """
    found = _layout_version(conn, _schema_version(conn, db_path))
    if found == SCHEMA_VERSION:
        return
    if found and (running := live_runs()):
        raise StoreError(
            f"{db_path} has schema version {found}, older than this reprolam's "
            f"({SCHEMA_VERSION}), and an older reprolam is executing run(s) "
            f"{', '.join(running)} in it: upgrading it now would make that run fail; wait for "
            "it to end (or stop it), then open the store again"
        )
    register_functions(conn)
    conn.execute("BEGIN IMMEDIATE")
    try:
        # another process may have migrated it
        version = _layout_version(conn, _schema_version(conn, db_path))
        for number, script in packaged_migrations("sqlite"):
            if number > version:
                try:
                    for statement in _statements(script):
                        conn.execute(statement)
                except sqlite3.OperationalError as exc:
                    raise _migration_error(db_path, version, number, exc) from exc
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema_version', ?) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (str(number),),
                )
        if version == 0:
            conn.execute("INSERT INTO meta (key, value) VALUES ('application', 'reprolam')")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


_REPROLAM_TABLES = frozenset({"runs", "steps", "artifacts"})  # in every schema version


def _schema_version(conn: sqlite3.Connection, db_path: Path) -> int:
    """0 for an empty database; the recorded version for a reprolam store."""
    tables = {
        name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    }
    if not tables:
        return 0
    meta = dict(conn.execute("SELECT key, value FROM meta")) if "meta" in tables else {}
    if meta.get("application") != "reprolam" or not str(meta.get("schema_version")).isdigit():
        if tables >= _REPROLAM_TABLES:
            raise StoreError(
                f"{db_path} holds a reprolam trace store's tables, but its meta table does not "
                f"record a reprolam schema version (application {meta.get('application')!r}, "
                f"schema_version {meta.get('schema_version')!r}): it was edited outside "
                "reprolam; restore trace.db from a backup"
            )
        raise StoreError(
            f"{db_path} is a SQLite database but not a reprolam trace store: point {{store}} "
            "at another directory (reprolam keeps its trace.db there)"
        )
    version = int(meta["schema_version"])
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"store schema version {version} is newer than this reprolam supports "
            f"({SCHEMA_VERSION}): upgrade reprolam to open {db_path}"
        )
    return version


def _layout_version(conn: sqlite3.Connection, version: int) -> int:
    """The schema version whose tables the store holds, from the one its meta records.

    reprolam between 4b299f8 and 384c468 (2026-11-30/12-01) numbered the run-state
    snapshots migration 0007, after a no-op 0006, and recorded schema version 7; the
    snapshots became 0006 and 0007 the append-only keys. Such a store records 7 but holds
    schema 6's tables (run_snapshots, artifacts keyed by digest, no seq): it needs 0007.
    """
    if version != 7:
        return version
    columns = {name for (_, name, *_) in conn.execute("PRAGMA table_info(artifacts)")}
    return 6 if "seq" not in columns and "digest" in columns else version


def _migration_error(
    db_path: Path, version: int, number: int, exc: sqlite3.OperationalError
) -> StoreError:
    """A migration that fails on its own statements: the tables are not those of the version
    ``meta`` records (``table ... already exists``), unless the disk or a lock is the cause."""
    text = str(exc)
    if "already exists" in text or "no such" in text or "duplicate column" in text:
        return StoreError(
            f"cannot upgrade {db_path} from schema version {version}: migration {number:04d} "
            f"failed ({text}): the store's tables are not those of the version its meta table "
            "records, which was edited outside reprolam; restore trace.db from a backup"
        )
    return StoreError(f"cannot upgrade {db_path} (migration {number:04d}): {text}: {hint(exc)}")


def _statements(script: str) -> Iterator[str]:
    """Split a script into statements (trigger bodies included) to run inside one transaction.

    ``executescript`` would commit first, so it cannot be part of our transaction.
    """
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            yield buffer
            buffer = ""
    if buffer.strip() and not all(
        not line.strip() or line.lstrip().startswith("--") for line in buffer.splitlines()
    ):
        raise StoreError(f"unterminated statement in a reprolam migration: {buffer.strip()[:80]!r}")
