"""The SQLite trace store: ``<directory>/trace.db`` plus a blob directory for large artifacts.

Durability and concurrency:

* WAL journal: readers never block the writer and the writer never blocks readers, in
  this process or any other. Writes run in ``BEGIN IMMEDIATE`` transactions, so two
  writers queue on the write lock (up to ``BUSY_TIMEOUT`` seconds) instead of failing with
  "database is locked".
* ``synchronous=NORMAL``: a committed ``record()`` survives the process dying at any point
  (exceptions, ``kill -9``); only an OS crash or power loss can drop the last commits.
  ``fsync=True`` sets ``synchronous=FULL`` (and fsyncs blob files) for power-loss
  durability, at the cost of an fsync per commit.
* One connection per store object, guarded by a lock, so a store can be shared by threads.

Artifacts up to ``INLINE_MAX`` bytes live in the ``artifacts`` table; larger ones in the
blob directory, written (atomically) before the transaction that references them, so a
committed row never points at a missing file. A failed call can leave an unreferenced
blob behind; it is harmless (content-addressed, reused by the next put of those bytes).

Schema changes are numbered SQL files in ``migrations/``, applied in order on open.

Cost: a commit costs roughly one WAL frame (page write) per B-tree page it touches, so the
schema is laid out for locality: steps clustered by run, artifacts appended in the order
stored, and the lookup keys by digest and by step cache key (random by nature) gathered in
small tables merged into the large ones in bulk (``_sqlite_keys``), so recording into a big
store touches about as many pages as recording into an empty one.
``benchmarks/bench_store.py`` measures the engine's per-step ``record()``.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import warnings
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reprolam.errors import ReprolamError, StoreError
from reprolam.trace import _rows, _sqlite_windows, crashpoints
from reprolam.trace import _sqlite_keys as _keys
from reprolam.trace._sql_queries import METRICS_DELETE, SqlRunQueries
from reprolam.trace._sql_reads import SqlArtifactReads
from reprolam.trace._sql_snapshots import SNAPSHOT_UPSERT, SqlSnapshots, snapshot_rows
from reprolam.trace._sqlite_key_repair import keys_intact, rebuild_keys
from reprolam.trace._sqlite_schema import (
    check_readable,
    connect,
    connect_read_only,
    create_if_missing,
    hint,
    is_read_only,
    make_writable_dir,
    migrate,
    open_error,
    opening_lock,
)
from reprolam.trace.blobs import INLINE_MAX, BlobDir
from reprolam.trace.contract import ArtifactRead, TraceStore, cached_pages, stale_extension_error
from reprolam.trace.forks import ForkGuard, open_stores
from reprolam.trace.journal import (
    Journal,
    RecoveryWarning,
    encode_frame,
    has_frames,
    journal_files,
    orphans,
    read_frames,
)
from reprolam.trace.leases import Leases, interrupted_reason
from reprolam.trace.queries import SQLITE
from reprolam.trace.records import ArtifactRecord, RunRecord, RunStatus, StepRecord
from reprolam.trace.snapshot import StateSnapshot

if TYPE_CHECKING:
    from reprolam.trace._apply_process import ApplyHelper

JOURNAL_DIR = "journal"
LEASE_DIR = "leases"
MAX_PENDING = 512  # journal frames applied per SQLite transaction, at most
APPLY_HERE = 16  # pending frames a flush applies itself (_apply_pending_here)
HELPER_QUEUE = 8  # full batches that may wait for the apply helper (_applied_by_helper)
HELPER_START = 10.0  # seconds the apply helper may take to open the store
FLUSH_INTERVAL = 0.2  # seconds: how stale other processes' view of this writer can get
DB_NAME = "trace.db"
UNAPPLIED = ".unapplied"  # what recovery could not apply, kept beside the journal

_RUN_COLUMNS = ", ".join(_rows.RUN_COLUMNS)
_STEP_COLUMNS = ", ".join(_rows.STEP_COLUMNS)
_RUN_INSERT = (
    f"INSERT INTO runs ({_RUN_COLUMNS}) VALUES ({', '.join('?' * len(_rows.RUN_COLUMNS))})"
)
# ?1 is the id (first column of a run row); every other column is replaced.
_RUN_UPDATE = "UPDATE runs SET {} WHERE id = ?1".format(
    ", ".join(f"{c} = ?{i}" for i, c in enumerate(_rows.RUN_COLUMNS, 1) if c != "id")
)
_METRICS_STALE = METRICS_DELETE.format(p="?")  # its record changed: indexed again
_STEP_INSERT = f"INSERT INTO steps ({_STEP_COLUMNS})"
_STEP_AT = "SELECT 1 FROM steps WHERE run_id = ? AND idx = ?"  # extend_run's check
_STEP_ON_CONFLICT = "ON CONFLICT (run_id, idx) DO UPDATE SET " + ", ".join(
    f"{c} = excluded.{c}" for c in _rows.STEP_COLUMNS if c not in ("run_id", "idx")
)
_RUN_SELECT = f"SELECT {_RUN_COLUMNS} FROM runs"
_STEP_SELECT = f"SELECT {_STEP_COLUMNS} FROM steps WHERE run_id = ? ORDER BY idx"
_STEP_SELECT_ONE = f"SELECT {_STEP_COLUMNS} FROM steps WHERE run_id = ? AND idx = ?"
_STEP_SELECT_RANGE = (
    f"SELECT {_STEP_COLUMNS} FROM steps WHERE run_id = ? AND idx >= ? AND idx < ? ORDER BY idx"
)

# The store-wide step cache (see TraceStore.find_cached_steps), found through step_keys.
_STEP_CACHED = _keys.cached_step_sql(_STEP_COLUMNS)

_Row = tuple[Any, ...]
_NO_PRODUCER = (None, None, None)  # an artifact no step of the call outputs (an input)
_Frame = tuple[list[_Row], list[_Row], _Row | None]  # one record() call: steps, artifacts, run


def _collapse(frames: Sequence[_Frame]) -> tuple[list[_Row], list[_Row], list[_Row]]:
    """The net effect of applying frames in order: the last row per step and per run wins
    (a step's ``started`` row is superseded by its ``finished`` one in the same batch), and
    the first row per artifact (an artifact keeps its first bytes and producer)."""
    artifacts: dict[str, _Row] = {}
    steps: dict[tuple[str, int], _Row] = {}
    runs: dict[str, _Row] = {}
    for step_rows, artifact_rows, run_row in frames:
        for row in artifact_rows:
            known = artifacts.get(row[0])
            if known is None or (known[4] is None and row[4] is not None):
                artifacts[row[0]] = row if known is None else (*known[:4], *row[4:])
        for row in step_rows:
            steps[row[0], row[1]] = row
        if run_row is not None:
            runs[run_row[0]] = run_row
    return list(artifacts.values()), list(steps.values()), list(runs.values())


def _not_now(exc: BaseException) -> bool:
    """Whether a write failed for the database's state now (a full disk, an I/O error, a
    lock), not for what was written: the same write may succeed later."""
    return isinstance(exc.__cause__, sqlite3.OperationalError)


def _set_aside(journal: Path) -> Path:
    """Keep a journal recovery could not apply in full beside it, as ``*.unapplied``."""
    kept = journal.with_suffix(UNAPPLIED)
    os.replace(journal, kept)
    return kept


def _as_frame(value: Any) -> _Frame:
    if not (isinstance(value, tuple) and len(value) == 3):
        raise StoreError(f"unexpected journal frame {type(value).__name__}: the journal is damaged")
    return value


class SQLiteStore(ForkGuard, SqlSnapshots, SqlRunQueries, SqlArtifactReads, TraceStore):
    """A durable ``TraceStore`` in one directory; safe across threads and processes."""

    PARAM = "?"
    DIALECT = SQLITE
    # The helper process that applies long runs' batches (_applied_by_helper), whether one
    # may be started (writable stores only), and how many full batches may wait unapplied.
    _helper: ApplyHelper | None = None
    _helper_allowed = False
    _queue_limit = 1

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        artifacts_dir: str | os.PathLike[str] | None = None,
        fsync: bool = False,
        read_only: bool | None = None,
    ) -> None:
        self.location = str(Path(directory).expanduser())  # as given, for messages
        # Absolute from the start: an action may change the working directory mid-run.
        self.directory = Path(self.location).absolute()
        self.db_path = self.directory / DB_NAME
        self.fsync = fsync
        blob_path = (
            Path(artifacts_dir).expanduser().absolute()
            if artifacts_dir
            else self.directory / "artifacts"
        )
        self.blobs = BlobDir(blob_path, fsync=fsync)
        self.table_label = f"the artifacts table of {self.db_path}"
        self._commit_siblings()
        if read_only is None:
            read_only = is_read_only(self.directory, self.db_path)
        self.read_only = read_only
        self._lock = threading.Lock()
        self._closed = False
        self._guard_forks()
        self.notes: list[str] = []  # what opening found and could not fix (also warned)
        self._leases = Leases(self.directory / LEASE_DIR)
        if read_only:
            self._open_read_only()
            return
        make_writable_dir(self.directory, "store directory")
        # An existing database is checked to be a reprolam store before anything is written
        # to it or beside it (a lock file, artifacts/): another application's is refused.
        conn = connect(self.db_path, fsync=fsync) if self.db_path.is_file() else None
        with opening_lock(self.directory):
            if conn is None:
                create_if_missing(self.db_path)
                conn = connect(self.db_path, fsync=fsync)
            self._conn = conn
            try:
                migrate(self._conn, self.db_path, self._leases.held)
            except sqlite3.Error as exc:
                self._conn.close()
                raise open_error(self.db_path, exc) from exc
            except BaseException:
                self._conn.close()
                raise
        self._check_keys()
        make_writable_dir(blob_path, "artifacts directory")
        self._cur = self._conn.cursor()
        self._keys_added = 0  # lookup keys added since the recent tables were last counted
        self._known_runs: set[str] = set()
        # run-state snapshot rows, by the batch (its journal) they are written after
        self._snapshot_rows: dict[Journal | None, list[tuple[Any, ...]]] = {}
        # Group commit (see journal.py); fsync=True writes straight through instead.
        self._pending: list[_Frame] = []
        self._journal: Journal | None = None
        # Handed off to the applier thread, in order: frames and the journal file holding them
        self._batches: deque[tuple[list[_Frame], Journal]] = deque()
        self._changed = threading.Condition(self._lock)
        self._flusher: threading.Thread | None = None
        self._background_error: ReprolamError | None = None
        self._helper_allowed = not crashpoints.armed()  # kill points count our own writes
        if self._recover_orphan_journals():  # else a dead run's last records may be unapplied
            self._mark_abandoned_runs()

    def _commit_siblings(self) -> None:
        """Commit what other store objects of this process recorded into this database, so
        this one reads it at once (``reprolam.audit(run, store=PATH)`` right after
        ``ExecutionTrace.add_result``), not within ``FLUSH_INTERVAL`` as another process
        does. Best effort: a sibling that cannot commit says so to its own caller."""
        for other in open_stores():
            if (
                isinstance(other, SQLiteStore)
                and other is not self
                and other.db_path == self.db_path
                and not other._closed
                and not other.read_only
                and getattr(other, "_background_error", True) is None  # opened, and well
            ):
                with contextlib.suppress(Exception):
                    other.flush()

    def _check_keys(self) -> None:
        """Rebuild the lookup keys if they were edited away (``_sqlite_key_repair``); a
        store this process may only read is reported instead."""
        if keys_intact(self._conn):
            return
        where = f"the lookup keys of {self.db_path} (tables artifact_keys*, step_keys*)"
        if self.read_only:
            self._report(
                f"{where} were emptied or dropped outside reprolam: artifacts stored before "
                "read as missing; open the store once with write access to rebuild them"
            )
            return
        try:
            rebuild_keys(self._conn)
        except sqlite3.Error as exc:
            self._conn.close()
            raise open_error(self.db_path, exc) from exc
        self._report(
            f"{where} were emptied or dropped outside reprolam: rebuilt from the artifacts, "
            "steps and runs tables"
        )

    def _open_read_only(self) -> None:
        """Readers need no write access: no migration, recovery, marking or journal."""
        if not self.db_path.is_file():
            raise StoreError(f"there is no trace store in {self.directory} (no {DB_NAME}) to read")
        self._conn = connect_read_only(self.db_path)
        try:
            check_readable(self._conn, self.db_path)
        except BaseException:
            self._conn.close()
            raise
        self._check_keys()
        self._cur = self._conn.cursor()
        self._keys_added = 0
        self._known_runs = set()
        self._snapshot_rows = {}
        self._pending = []
        self._journal = None
        self._batches = deque()
        self._changed = threading.Condition(self._lock)
        self._flusher = None
        self._background_error = None
        if any(has_frames(path) for path in journal_files(self.directory / JOURNAL_DIR)):
            self._report(
                f"{self.directory} is read-only here and has journals of writers not yet "
                "applied: the newest records of a running (or dead) writer may be missing"
            )

    def _writable(self) -> None:
        if self.read_only:
            raise StoreError(
                f"the trace store {self.directory} is open read-only (this process cannot "
                "write to it): reading works; to record, use a store you can write to"
            )

    def __repr__(self) -> str:
        return f"SQLiteStore({self.location!r})"

    # -- writes -------------------------------------------------------------------------------

    def create_run(self, run: RunRecord) -> None:
        self._writable()
        row = _rows.run_to_row(run)
        with self._lock:
            self._flush_locked()
            cur = self._cur
            try:
                cur.execute("BEGIN IMMEDIATE")
                cur.execute(_RUN_INSERT, row)
                crashpoints.before_write()
                cur.execute("COMMIT")
                crashpoints.after_write()
                self._known_runs.add(run.id)
            except BaseException as exc:
                self._rollback()
                if isinstance(exc, sqlite3.IntegrityError):
                    raise self._create_refusal(run, exc) from exc
                if isinstance(exc, sqlite3.Error):
                    raise self._error(f"create run {run.id!r}", exc) from exc
                if isinstance(exc, UnicodeEncodeError):
                    raise _rows.unstorable_text_error(exc, self.location) from exc
                raise

    def _create_refusal(self, run: RunRecord, exc: sqlite3.IntegrityError) -> ReprolamError:
        try:
            if self._exists("SELECT 1 FROM runs WHERE id = ?", run.id):
                return _rows.run_exists_error(run.id, self.location)
            if run.parent_id is not None and not self._exists(
                "SELECT 1 FROM runs WHERE id = ?", run.parent_id
            ):
                return _rows.no_parent_error(run, self.location)
        except sqlite3.Error:
            pass
        return self._error(f"create run {run.id!r}", exc)

    def record(
        self,
        *,
        steps: Sequence[StepRecord] = (),
        artifacts: Sequence[tuple[ArtifactRecord, bytes]] = (),
        run: RunRecord | None = None,
    ) -> None:
        # Everything that can fail without the database fails here, before the transaction;
        # large artifacts reach their blob files here too, before any row references them.
        if self.read_only:
            self._writable()
        step_rows = [
            row if (row := step.rendered) is not None else _rows.step_to_row(step) for step in steps
        ]
        run_row = None if run is None else _rows.run_to_row(run)
        artifact_rows = self._artifact_rows(artifacts, steps) if artifacts else []
        frame: _Frame = (step_rows, artifact_rows, run_row)
        with self._lock:
            if self._closed:
                raise self._closed_error()
            if self.fsync:
                self._apply([frame], steps)
                return
            if self._background_error is not None:  # a batch failed: say so before going on
                self._raise_background_error()
            self._check_runs_known(steps, run_row)
            if self._journal is None:
                self._start_journal()
            assert self._journal is not None
            crashpoints.before_write()
            self._journal.append(encode_frame(frame))
            crashpoints.after_write()
            self._pending.append(frame)
            if len(self._pending) >= MAX_PENDING:
                # A full batch goes to the applier thread, which commits it while the engine
                # records the next one; only if _queue_limit batches are still waiting (1; 8
                # while the apply helper starts) does this call wait for them. Measured
                # on 10,000-step chains, two cores, interleaved: 89 vs 94 us per step for
                # waiting on every batch (on older, slower record paths the GIL contention
                # cost more than the overlap gained, 93 -> 114 us).
                if len(self._batches) >= self._queue_limit:
                    self._flush_locked()
                else:
                    self._hand_off_locked()

    def _apply(self, frames: Sequence[_Frame], steps: Sequence[StepRecord] = ()) -> None:
        """Write frames to SQLite in one transaction (call with the lock held)."""
        cur = self._cur
        artifact_rows, step_rows, run_rows = _collapse(frames)
        try:
            cur.execute("BEGIN IMMEDIATE")
            added = _keys.put_artifacts(cur, artifact_rows)
            _keys.insert_rows(cur, _STEP_INSERT, step_rows, _STEP_ON_CONFLICT)
            added += _keys.put_step_keys(cur, step_rows)
            for run_row in run_rows:
                cur.execute(_RUN_UPDATE, run_row)
                if cur.rowcount != 1:
                    raise _rows.no_run_for_update_error(run_row[0], self.location)
                cur.execute(_METRICS_STALE, (run_row[0],))
            crashpoints.before_write()
            cur.execute("COMMIT")
            crashpoints.after_write()
        except BaseException as exc:
            self._rollback()
            if isinstance(exc, sqlite3.IntegrityError):
                raise self._refusal(steps, exc) from exc
            if isinstance(exc, sqlite3.Error):
                raise self._error("record", exc) from exc
            if isinstance(exc, UnicodeEncodeError):
                raise _rows.unstorable_text_error(exc, self.location) from exc
            raise
        self._keys_added += added
        if self._keys_added >= _keys.CHECK_EVERY:
            self._keys_added = 0
            self._merge_keys_if_due()

    def _merge_keys_if_due(self) -> None:
        """Merge full levels of the key tables into the next (see _sqlite_keys)."""
        cur = self._cur
        try:
            cur.execute("BEGIN IMMEDIATE")
            _keys.merge_full_levels(cur)
            cur.execute("COMMIT")
        except sqlite3.Error:  # the records are committed and found; merged next time
            self._rollback()
        except BaseException:
            self._rollback()
            raise

    def _check_runs_known(self, steps: Sequence[StepRecord], run_row: _Row | None) -> None:
        """Refuse a call for a run that does not exist now, as a direct write would."""
        for step in steps:
            if step.run_id not in self._known_runs:
                if not self._run_exists(step.run_id):
                    raise _rows.no_run_for_step_error(step, self.location)
                self._known_runs.add(step.run_id)
        if run_row is not None and run_row[0] not in self._known_runs:
            if not self._run_exists(run_row[0]):
                raise _rows.no_run_for_update_error(run_row[0], self.location)
            self._known_runs.add(run_row[0])

    def _run_exists(self, run_id: str) -> bool:
        self._flush_locked()  # the connection is the applier's while a batch is handed off
        try:
            return self._exists("SELECT 1 FROM runs WHERE id = ?", run_id)
        except sqlite3.Error as exc:
            raise self._error("read", exc) from exc

    # -- group commit -------------------------------------------------------------------------

    def _start_journal(self) -> None:
        self._journal = Journal(self.directory / JOURNAL_DIR)
        if self._flusher is None:
            self._flusher = threading.Thread(
                target=self._apply_in_background,
                name=f"reprolam-apply-{self.location}",
                daemon=True,
            )
            self._flusher.start()

    def _hand_off_locked(self) -> None:
        """Pass the pending frames, with the journal file holding them, to the applier thread;
        the next record starts a new journal. Call with the lock held."""
        if not self._pending or self._journal is None:
            return
        self._batches.append((self._pending, self._journal))
        self._pending, self._journal = [], None
        self._changed.notify_all()

    def _flush_locked(self) -> None:
        """Apply everything recorded so far to SQLite and wait for it (call with the lock
        held). On return the connection is idle: the applier only touches it while a batch
        is handed off, and hand-offs need the lock."""
        if self._closed:
            raise self._closed_error()
        self._raise_background_error()
        if not self._batches and 0 < len(self._pending) <= APPLY_HERE:
            self._apply_pending_here()
        self._hand_off_locked()
        while self._batches:
            if self._flusher is None or not self._flusher.is_alive():  # e.g. in a forked child
                self._apply_batches_here()
                return
            self._changed.wait(1.0)  # woken when a batch is done; the timeout rechecks liveness
            self._raise_background_error()
        if None in self._snapshot_rows:  # queued with no batch to follow: the connection is idle
            self._apply_snapshots(self._snapshot_rows.pop(None))

    def _apply_pending_here(self) -> None:
        """Apply the few pending frames on the calling thread (lock held, nothing handed
        off: the connection is idle). A reader waiting for a couple of frames (a run
        created after its environment was stored, a fork reading its parent) would
        otherwise wait for a hand-off to the applier, or a round trip to its helper
        process, for microseconds of work. A failure leaves them pending, to be tried
        again, as a failed handed-off batch is."""
        journal = self._journal
        assert journal is not None
        try:
            self._apply_batch(self._pending, self._snapshot_rows.pop(journal, []))
        except Exception as exc:
            raise self._batch_failure(exc) from exc
        self._pending, self._journal = [], None
        journal.close()

    def _apply_batches_here(self) -> None:
        """Apply handed-off batches on the calling thread (call with the lock held)."""
        while self._batches:
            frames, journal = self._batches[0]
            self._apply(frames)
            self._batches.popleft()
            journal.close()

    def _raise_background_error(self) -> None:
        if self._background_error is not None:
            error, self._background_error = self._background_error, None
            self._changed.notify_all()  # the applier tries the failed batch again
            raise error

    def flush(self) -> None:
        """Commit everything recorded so far to ``trace.db`` now (reads do this themselves)."""
        with self._lock:
            self._flush_locked()

    def _apply_in_background(self) -> None:
        """The applier thread: commits handed-off batches in order.

        A full batch is handed off by ``record``, which waits only while the one before is
        still being applied; every
        ``FLUSH_INTERVAL`` the applier also takes what is pending, without anyone waiting,
        which bounds how stale other processes' view of this writer can get. A batch's
        journal file is removed once its frames are committed; until then a crash leaves it
        for recovery (journals are recovered oldest first). A failed batch stays first in
        line and is tried again after the error has been reported to a caller
        (``_flush_locked``).
        """
        while True:
            with self._lock:
                while not self._closed and (not self._batches or self._background_error):
                    if not self._changed.wait(FLUSH_INTERVAL) and self._pending:
                        self._hand_off_locked()
                if self._closed:
                    return
                frames, journal = self._batches[0]
                snapshots = self._snapshot_rows.pop(journal, [])  # see put_snapshots
            try:
                if not self._applied_by_helper(frames, journal, snapshots):
                    self._apply_batch(frames, snapshots)
            except Exception as exc:
                with self._lock:
                    self._background_error = self._batch_failure(exc)
                    self._changed.notify_all()
                continue
            with self._lock:
                self._batches.popleft()
                self._changed.notify_all()
                try:
                    journal.close()
                except OSError as exc:  # the frames are committed; a stale file is re-applied
                    self._background_error = StoreError(
                        f"cannot remove applied journal {journal.path}: {exc}"
                    )

    def _apply_batch(self, frames: list[_Frame], snapshots: list[tuple[Any, ...]]) -> None:
        """A handed-off batch, then its run-state snapshots (derived data: if they fail,
        forks and resumes read the steps). The applier thread's and the helper's work."""
        self._apply(frames)
        if snapshots:
            with contextlib.suppress(ReprolamError):
                self._apply_snapshots(snapshots)

    def _batch_failure(self, exc: Exception) -> ReprolamError:
        """What a failed batch apply is reported as, to the next call that waits for it."""
        if isinstance(exc, ReprolamError):
            return exc
        return StoreError(f"record failed on {self.db_path}: {exc!r}")

    def _applied_by_helper(
        self, frames: list[_Frame], journal: Journal, snapshots: list[tuple[Any, ...]]
    ) -> bool:
        """Apply a batch in the helper process (``_apply_process``) if it is up; False: the
        caller applies it. The first full batch starts the helper (applier thread only)."""
        helper = self._helper
        if helper is None:
            if len(frames) < MAX_PENDING or not self._helper_allowed:
                return False  # a short run never imports _apply_process (~5 ms)
            from reprolam.trace._apply_process import ApplyHelper, helper_wanted

            self._helper_allowed = False  # one helper per store, started once
            if not helper_wanted():
                return False
            helper = self._helper = ApplyHelper.start(self.directory, self.blobs.path)
            if helper is None:
                return False
            # While it starts (~0.1-0.3 s), batches queue for it: applying them here would
            # cost the recording thread their time again.
            self._queue_limit = HELPER_QUEUE
        from reprolam.trace._apply_process import HelperGone

        try:
            helper.wait_ready(HELPER_START)
            helper.apply(journal.path, snapshots)
        except HelperGone:  # it died, or never started: this thread applies from now on
            self._helper, self._queue_limit = None, 1
            helper.close()
            return False
        return True

    def extend_run(
        self,
        run_id: str,
        length: int,
        *,
        steps: Sequence[StepRecord],
        artifacts: Sequence[tuple[ArtifactRecord, bytes]] = (),
        run: RunRecord | None = None,
    ) -> None:
        """``record`` under the run's step count (``Leases.extension``): processes extending
        one run take turns, and one that read the run before another's record finds a
        higher count. The table is asked only when the count says less than ``length`` (a
        writer died between its record and its count) or nothing (none written yet): it
        cannot say more, as steps in another live writer's journal are not in it yet."""
        self._writable()
        with self._leases.extension(run_id) as count:
            counted = count.read()
            if counted is not None and counted > length:
                raise stale_extension_error(run_id, length)
            if counted != length and self._one(_STEP_AT, (run_id, length)) is not None:
                raise stale_extension_error(run_id, length)
            self.record(steps=steps, artifacts=artifacts, run=run)
            count.write(length + len(steps))

    def lease(self, run_id: str) -> AbstractContextManager[None]:
        self._writable()
        return self._leases.hold(run_id)

    def _mark_abandoned_runs(self) -> None:
        """Runs still ``running`` whose process is gone become ``interrupted`` (see leases.py)."""
        with self._lock:
            rows = self._cur.execute("SELECT id FROM runs WHERE status = 'running'").fetchall()
        for (run_id,) in rows:
            with self._leases.claim(run_id) as abandoned:
                if not abandoned:
                    continue
                run = self.get_run(run_id)  # again, under the lease: it may have finished
                if run.status is RunStatus.RUNNING:
                    reason = interrupted_reason(run.pid, run.host, run.verifies)
                    marked = replace(run, status=RunStatus.INTERRUPTED, error=reason)
                    try:  # committed at once, not journaled: a failure leaves nothing pending
                        with self._lock:
                            self._apply([([], [], _rows.run_to_row(marked))])
                    except ReprolamError as exc:  # a full disk, say: reads still work
                        self._report(
                            f"run {run_id} was left running by a process that is gone, and "
                            f"cannot be marked interrupted now ({exc}); the next open of this "
                            "store marks it"
                        )
                        return
                self._leases.release(run_id)

    def _recover_orphan_journals(self) -> bool:
        """Apply the journals of writers that died before flushing, then delete them; False
        if one must wait for a later open (the database cannot take its records now).

        What cannot be applied is kept next to the journal as ``*.unapplied`` and reported,
        instead of making the store unusable: a damaged journal whole (its frames before the
        damage are applied: their ``record()`` calls returned), and the steps and run updates
        of runs that are not in ``trace.db`` (e.g. one restored from a backup after the
        writer died).
        """
        for path, fd in orphans(self.directory / JOURNAL_DIR):
            try:
                if not self._recover_journal(path):
                    return False  # the newer ones wait too: journals apply oldest first
            finally:
                os.close(fd)
        return True

    def _recover_journal(self, path: Path) -> bool:
        """Apply one dead writer's journal (held locked by the caller); False if the
        database cannot take its records now, and the journal stays for a later open."""
        frames: list[_Frame] = []
        damage: ReprolamError | None = None
        try:
            frames.extend(_as_frame(f) for f in read_frames(path))
        except ReprolamError as exc:
            damage = exc
        try:
            with self._lock:
                unapplied, reasons = self._apply_recovered(frames) if frames else ([], [])
        except ReprolamError as exc:
            if _not_now(exc):  # the database cannot take it now: the journal is fine
                self._report(
                    f"journal {path.name} of a dead writer cannot be applied now ({exc}); it "
                    "stays, and the next open of this store applies it"
                )
                return False
            kept = _set_aside(path)
            self._report(
                f"journal {path} of a dead writer cannot be applied ({exc}); moved to {kept}: "
                "nothing in it was applied"
            )
            return True
        if damage is not None:
            kept = _set_aside(path)
            self._report(
                f"journal {path} of a dead writer is damaged ({damage}); the {len(frames)} "
                f"record() calls journaled before it were applied, and the whole journal is "
                f"kept in {kept}"
            )
            return True
        if unapplied:
            kept = path.with_suffix(UNAPPLIED)
            kept.write_bytes(b"".join(encode_frame(frame) for frame in unapplied))
            steps = sum(len(f[0]) for f in unapplied)
            runs = sum(f[2] is not None for f in unapplied)
            why = "; ".join(dict.fromkeys(reasons))
            self._report(
                f"journal {path.name} of a dead writer holds {steps} steps and {runs} run "
                f"updates that cannot be applied ({why}): the rest was applied; these are "
                f"kept in {kept}"
            )
        path.unlink(missing_ok=True)
        return True

    def _apply_recovered(self, frames: list[_Frame]) -> tuple[list[_Frame], list[str]]:
        """Apply what can be: the rows that cannot, and why. Those are rows of runs missing
        from the database, and the frames it refuses (text that is not valid Unicode); each
        frame is then applied on its own, in order, so one refused frame costs only itself."""
        try:
            self._apply(frames)
            return [], []
        except ReprolamError as exc:
            if _not_now(exc):
                raise
        known = {run_id for (run_id,) in self._cur.execute("SELECT id FROM runs").fetchall()}
        dropped: list[_Frame] = []
        reasons: list[str] = []
        for frame in frames:
            step_rows, artifact_rows, run_row = frame
            good = [r for r in step_rows if r[0] in known]
            bad = [r for r in step_rows if r[0] not in known]
            orphan_run = run_row is not None and run_row[0] not in known
            try:
                self._apply([(good, artifact_rows, None if orphan_run else run_row)])
            except ReprolamError as exc:
                if _not_now(exc):
                    raise
                dropped.append(frame)
                reasons.append(str(exc))
                continue
            if bad or orphan_run:
                dropped.append((bad, [], run_row if orphan_run else None))
                reasons.append(
                    f"runs that are not in {self.db_path} (was it restored from a backup?)"
                )
        return dropped, reasons

    def _report(self, message: str) -> None:
        self.notes.append(message)
        warnings.warn(message, RecoveryWarning, stacklevel=4)

    def _artifact_rows(
        self, artifacts: Sequence[tuple[ArtifactRecord, bytes]], steps: Sequence[StepRecord]
    ) -> list[_Row]:
        """Artifact rows, each with the first step in ``steps`` that outputs it (or none)."""
        producers = _rows.producers(steps)
        rows = []
        for record, given in artifacts:
            digest = record.digest
            data = given
            if type(data) is not bytes or len(data) != record.size:
                data = _rows.artifact_bytes(record, given)  # converts, or says what is wrong
            where = producers.get(digest, _NO_PRODUCER)
            if len(data) > INLINE_MAX:
                crashpoints.before_write()
                self.blobs.put(digest, data)
                crashpoints.after_write()
                rows.append((digest, record.codec, record.size, None, *where))
            else:
                rows.append((digest, record.codec, record.size, data, *where))
        return rows

    def _refusal(self, steps: Sequence[StepRecord], exc: sqlite3.IntegrityError) -> ReprolamError:
        """Say which record broke a constraint (the database only says that one did)."""
        try:
            for step in steps:
                if not self._exists("SELECT 1 FROM runs WHERE id = ?", step.run_id):
                    return _rows.no_run_for_step_error(step, self.location)
        except sqlite3.Error:  # the original error says enough
            pass
        return self._error("record", exc)

    # -- reads --------------------------------------------------------------------------------

    def get_run(self, run_id: str) -> RunRecord:
        row = self._one(f"{_RUN_SELECT} WHERE id = ?", (run_id,))
        if row is None:
            raise _rows.no_run_error(run_id, self.location)
        return _rows.run_from_row(row)

    def find_run_ids(self, prefix: str, *, limit: int = 2) -> list[str]:
        # Ids sort as text, so the matches are the first rows at or after the prefix.
        rows = self._all(
            "SELECT id FROM runs WHERE id >= ? ORDER BY id LIMIT ?", (prefix, max(limit, 0))
        )
        return [run_id for (run_id,) in rows if run_id.startswith(prefix)]

    def list_runs(
        self, *, limit: int | None = None, verifies: str | None = None
    ) -> list[RunRecord]:
        count = -1 if limit is None else max(limit, 0)
        if verifies is None:
            sql = f"{_RUN_SELECT} ORDER BY created_at DESC, id DESC LIMIT ?"
            params: tuple[Any, ...] = (count,)
        else:
            sql = f"{_RUN_SELECT} WHERE verifies = ? ORDER BY created_at DESC, id DESC LIMIT ?"
            params = (verifies, count)
        rows = self._all(sql, params)
        return [_rows.run_from_row(row) for row in rows]

    def own_steps(self, run_id: str) -> list[StepRecord]:
        steps = self._steps(_STEP_SELECT, (run_id,))
        if not steps and self._one("SELECT 1 FROM runs WHERE id = ?", (run_id,)) is None:
            raise _rows.no_run_error(run_id, self.location)
        return steps

    def own_step(self, run_id: str, index: int) -> StepRecord:
        row = self._one(f"{_STEP_SELECT_ONE}", (run_id, index))
        if row is None:
            if self._one("SELECT 1 FROM runs WHERE id = ?", (run_id,)) is None:
                raise _rows.no_run_error(run_id, self.location)
            raise _rows.no_step_error(run_id, index, self.location)
        return _rows.step_from_row(row)

    def put_snapshots(self, snapshots: Sequence[StateSnapshot]) -> None:
        """Written by the applier thread right after the batch holding the steps they cover,
        in their own transaction: the recording thread never waits for them. Derived data:
        lost with the process if it dies first."""
        self._writable()
        rows = snapshot_rows(snapshots)
        with self._lock:
            for run_id, *_ in rows:
                if run_id not in self._known_runs:
                    if not self._run_exists(run_id):
                        raise _rows.no_run_for_update_error(run_id, self.location)
                    self._known_runs.add(run_id)
            # The journal now collecting frames holds the steps they cover (or none is
            # pending: then the next flush writes them, with the connection idle).
            self._snapshot_rows.setdefault(self._journal, []).extend(rows)

    def _apply_snapshots(self, rows: list[tuple[Any, ...]]) -> None:
        self._commit([(SNAPSHOT_UPSERT.format(p="?"), rows)], "record run-state snapshots")

    def own_steps_between(self, run_id: str, start: int, stop: int | None) -> list[StepRecord]:
        return self._steps(_STEP_SELECT_RANGE, (run_id, start, 2**62 if stop is None else stop))

    def own_step_rows(self, run_id: str, start: int, stop: int | None) -> list[tuple[Any, ...]]:
        return self._all(_STEP_SELECT_RANGE, (run_id, start, 2**62 if stop is None else stop))

    def read_artifacts(self, digests: Sequence[str]) -> Iterator[ArtifactRead]:
        # A page of a run's artifacts is mostly one range of their storage order.
        keyed = super().read_artifacts
        return _sqlite_windows.read_artifacts(self._all, keyed, digests)

    def find_cached_steps(self, probe: StepRecord) -> Iterator[StepRecord]:
        row = _rows.step_to_row(probe)
        return cached_pages(
            lambda after, limit: self._steps(
                _STEP_CACHED, _keys.cached_step_params(row, after, limit)
            )
        )

    def close(self) -> None:
        try:
            with self._lock:
                if self._closed:
                    return
                try:
                    self._flush_locked()
                finally:
                    # An unapplied journal stays on disk (locked until we exit) for recovery.
                    if self._journal is not None and not self._pending:
                        self._journal.close()
                    self._closed = True
                    self._changed.notify_all()
                    self._conn.close()
        finally:
            helper, self._helper = self._helper, None
            if helper is not None:  # idle: the applier thread has stopped
                helper.close()

    # -- plumbing -----------------------------------------------------------------------------

    def _artifacts_matching(self, count: int) -> str:
        return _keys.artifacts_matching(count)

    def _one(self, sql: str, params: tuple[Any, ...]) -> Any:
        with self._lock:
            self._flush_locked()
            try:
                return self._cur.execute(sql, params).fetchone()
            except sqlite3.Error as exc:
                raise self._error("read", exc) from exc

    def _all(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        with self._lock:
            self._flush_locked()
            try:
                return self._cur.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise self._error("read", exc) from exc

    def _steps(self, sql: str, params: tuple[Any, ...]) -> list[StepRecord]:
        """Step rows decoded as they are read: no list of 10,000 rows beside the records (the
        garbage collector took ~15% of reading a long run walking both)."""
        with self._lock:
            self._flush_locked()
            try:
                return _rows.steps_from_rows(self._cur.execute(sql, params))
            except sqlite3.Error as exc:
                raise self._error("read", exc) from exc

    def _runs_by_id(self, ids: Sequence[str]) -> dict[str, RunRecord]:
        rows = self._all(f"{_RUN_SELECT} WHERE id IN ({self._in(ids)})", tuple(ids))
        return {row[0]: _rows.run_from_row(row) for row in rows}

    def _write(self, statements: Sequence[tuple[str, Sequence[tuple[Any, ...]]]]) -> None:
        """Beside-the-trace writes (annotations, metric index): one transaction."""
        with self._lock:
            self._flush_locked()
            self._commit(statements, "write")

    def _commit(
        self, statements: Sequence[tuple[str, Sequence[tuple[Any, ...]]]], what: str
    ) -> None:
        """Run ``statements`` in one transaction (call with the connection to ourselves)."""
        cur = self._cur
        try:
            cur.execute("BEGIN IMMEDIATE")
            for sql, rows in statements:
                cur.executemany(sql, rows)
            cur.execute("COMMIT")
        except BaseException as exc:
            self._rollback()
            if isinstance(exc, sqlite3.Error):
                raise self._error(what, exc) from exc
            raise

    def _exists(self, sql: str, value: str) -> bool:
        """For use with the lock held."""
        return self._cur.execute(sql, (value,)).fetchone() is not None

    def _rollback(self) -> None:
        if self._closed:
            return
        try:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # the original error is the one worth reporting

    def _error(self, operation: str, exc: sqlite3.Error) -> StoreError:
        if self._closed:
            return self._closed_error()
        return StoreError(f"{operation} failed on {self.db_path}: {exc}: {hint(exc)}")
