"""The PostgreSQL trace store: tables in one database (schema) plus a blob directory.

For teams and concurrent agents: any number of processes, on any number of machines,
record runs into one server while others read. ``PostgresStore(dsn, artifacts_dir=...)``.

* ``record()`` is one transaction sent as one pipeline (BEGIN, the statements, COMMIT, one
  Sync): one network round trip, and the server commits all of it or none of it, as
  durably as its ``synchronous_commit`` says (power-loss safe by default).
* Artifact rows are inserted in digest order (writers cannot deadlock on them) with ``ON
  CONFLICT DO NOTHING`` (an existing row is not locked). A call the server rolls back for
  a deadlock or serialization failure anyway is retried whole.
* Reads run in autocommit mode and see everything committed before them. One connection
  per store object, behind a lock (threads share it); a broken one is replaced on next use.

Artifacts up to ``INLINE_MAX`` bytes live in ``artifacts.data`` (bytea); larger ones in
the blob directory, which every process using the store must see (a shared filesystem for
several machines). Blob files are fsynced before the rows that reference them commit:
the server's commits survive power loss, and a row must never outlive its blob.

Schema changes are numbered SQL files in ``migrations_pg/``, applied in order on first
use under an advisory lock, so processes starting together migrate once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reprolam.errors import LeaseLostError, NotFoundError, ReprolamError, StoreError
from reprolam.trace import _rows, crashpoints
from reprolam.trace._dsn import hide_password, redact
from reprolam.trace._pg_liveness import (
    abandoned,
    lease_key,
    mark_abandoned_runs,
    still_ours,
    try_lock,
    unmark_abandoned,
)
from reprolam.trace._sql_queries import METRICS_DELETE, SqlRunQueries
from reprolam.trace._sql_reads import SqlArtifactReads
from reprolam.trace._sql_snapshots import SqlSnapshots
from reprolam.trace.blobs import INLINE_MAX, BlobDir
from reprolam.trace.contract import (
    SCHEMA_VERSION,
    TraceStore,
    cached_pages,
    stale_extension_error,
)
from reprolam.trace.forks import ForkGuard
from reprolam.trace.leases import held_error
from reprolam.trace.migrations_dir import packaged_migrations
from reprolam.trace.queries import POSTGRES
from reprolam.trace.records import ArtifactRecord, RunRecord, RunStatus, StepRecord

if TYPE_CHECKING:
    from psycopg import Connection, Cursor

CONNECT_TIMEOUT = 10  # seconds, unless the DSN or PGCONNECT_TIMEOUT says otherwise
RETRIES = 3  # attempts for a record() the server rolled back for a deadlock/serialization
_MIGRATION_LOCK = 0x72706C6D  # advisory lock class "rplm", keyed by schema within it
_TABLES = ("meta", "runs", "steps", "artifacts")
_RETRY_STATES = ("40001", "40P01")  # serialization_failure, deadlock_detected
# extend_run: the run's extension lock, held to the end of the transaction, then a check
# that fails the transaction (a text that is no number) when the step is there already
_EXTENSION_LOCK = "SELECT pg_advisory_xact_lock(%s)"
_STALE_EXTENSION = "stale extension"
_NO_STEP_AT = (
    "SELECT (CASE WHEN EXISTS (SELECT 1 FROM steps WHERE run_id = %s AND idx = %s) "
    f"THEN '{_STALE_EXTENSION}' ELSE '0' END)::int"
)
_NO_RUN_STATE = "22012"  # division_by_zero: how _RUN_UPDATE says the run is missing

_Row = tuple[Any, ...]

# -- SQL --------------------------------------------------------------------------------------

_RUN_COLUMNS = ", ".join(_rows.RUN_COLUMNS)
_STEP_COLUMNS = ", ".join(_rows.STEP_COLUMNS)
_RUN_INSERT = (
    f"INSERT INTO runs ({_RUN_COLUMNS}) VALUES ({', '.join(['%s'] * len(_rows.RUN_COLUMNS))})"
)
# The update must fail inside the transaction when the run is missing, since the whole call
# is one pipeline and nothing can be checked between its statements: 1 / 0 rows updated.
_RUN_UPDATE = (
    "WITH updated AS (UPDATE runs SET "
    + ", ".join(f"{c} = %s" for c in _rows.RUN_COLUMNS[1:])
    + " WHERE id = %s RETURNING 1) SELECT 1 / count(*) FROM updated"
)
_METRICS_STALE = METRICS_DELETE.format(p="%s")  # its record changed: indexed again
_QUIET = logging.NullHandler()  # one handler, added once however many stores open
_STEP_UPSERT = (
    f"INSERT INTO steps ({_STEP_COLUMNS}) VALUES ({', '.join(['%s'] * len(_rows.STEP_COLUMNS))}) "
    "ON CONFLICT (run_id, idx) DO UPDATE SET "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in _rows.STEP_COLUMNS if c not in ("run_id", "idx"))
)
# A known artifact keeps its bytes and its first producer (DO NOTHING takes no row lock);
# one stored without a producer (an external input) gets the first step that outputs it.
_ARTIFACT_INSERT = (
    "INSERT INTO artifacts (digest, codec, size, data, producer_run, producer_idx, producer_name) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (digest) DO NOTHING"
)
_PRODUCER_UPDATE = (
    "UPDATE artifacts SET producer_run = %s, producer_idx = %s, producer_name = %s "
    "WHERE digest = %s AND producer_run IS NULL"
)
_RUN_SELECT = f"SELECT {_RUN_COLUMNS} FROM runs"
_STEP_SELECT = f"SELECT {_STEP_COLUMNS} FROM steps WHERE run_id = %s ORDER BY idx"
_STEP_SELECT_ONE = f"SELECT {_STEP_COLUMNS} FROM steps WHERE run_id = %s AND idx = %s"
_STEP_SELECT_RANGE = (
    f"SELECT {_STEP_COLUMNS} FROM steps WHERE run_id = %s AND idx >= %s AND idx < %s ORDER BY idx"
)
# The store-wide step cache (see TraceStore.find_cached_steps), on migration 0005's index:
# a page of candidates after a (run id, index).
_STEP_CACHED = (
    f"SELECT {_STEP_COLUMNS} FROM steps WHERE action = %s AND fingerprint = %s "
    "AND seed IS NOT DISTINCT FROM %s AND kind = 'action' AND status = 'succeeded' "
    "AND action_version = %s AND params = %s AND inputs = %s AND (run_id, idx) > (%s, %s) "
    "ORDER BY run_id, idx LIMIT %s"
)

# Columns holding numbers as exact JSON text (see migrations_pg/0001_initial.sql), by
# position in a row; each column is named after its record field.
_RUN_NUMBERS = {_rows.RUN_COLUMNS.index(c): c for c in ("seed", "created_at", "finished_at")}
_STEP_NUMBERS = {_rows.STEP_COLUMNS.index(c): c for c in ("started_at", "seed", "duration")}


# -- rows -------------------------------------------------------------------------------------


def _row_out(row: _Row, record: RunRecord | StepRecord, numbers: dict[int, str]) -> _Row:
    values = list(row)
    try:
        for i, name in numbers.items():
            value = getattr(record, name)
            values[i] = None if value is None else _rows.to_json(value)
    except (TypeError, ValueError) as exc:
        raise StoreError(
            f"cannot store {type(record).__name__} of run {values[0]!r}: {type(exc).__name__}: "
            f"{exc}: seeds, times and durations must be numbers"
        ) from exc
    return tuple(values)


def _row_in(row: _Row, numbers: dict[int, str]) -> _Row:
    values = list(row)
    for i in numbers:
        if values[i] is not None:
            # Edited outside reprolam into something else than a number: kept as text, so
            # the record's hash tells.
            with contextlib.suppress(ValueError):
                values[i] = _rows.from_json(values[i])
    return tuple(values)


# -- the store --------------------------------------------------------------------------------


class PostgresStore(ForkGuard, SqlSnapshots, SqlRunQueries, SqlArtifactReads, TraceStore):
    """A ``TraceStore`` in a PostgreSQL database; safe across threads, processes and hosts."""

    PARAM = "%s"
    DIALECT = POSTGRES

    def __init__(
        self,
        dsn: str,
        *,
        artifacts_dir: str | os.PathLike[str] | None,
        create: bool = True,
    ) -> None:
        self.location = redact(dsn)
        if not artifacts_dir:
            raise StoreError(
                f"the PostgreSQL store {self.location} needs an artifacts directory for "
                f"artifacts over {INLINE_MAX // 1024} KiB: pass {{artifacts=PATH}} or set "
                "REPROLAM_ARTIFACTS (the same directory for every process using this store)"
            )
        try:  # imported here: the PostgreSQL backend is an optional extra
            import psycopg
        except ImportError as exc:
            raise StoreError(
                f"the PostgreSQL store needs psycopg 3, which is not installed ({exc}): "
                "pip install 'reprolam[postgres]'"
            ) from exc
        self._pg = psycopg
        # psycopg logs what it ignores while ending a pipeline on a lost connection ("error
        # ignored terminating <Pipeline [BAD]>"); with no logging configured Python printed it
        # on stderr, amid the run's output. The store reports and recovers the loss itself;
        # the records still reach logging when the application configures it.
        logging.getLogger("psycopg").addHandler(_QUIET)
        # What a call can fail with once it reaches psycopg: server errors, and text that
        # cannot be encoded (lone surrogates) on our side.
        self._errors: tuple[type[Exception], ...] = (self._pg.Error, UnicodeError)
        self._dsn = dsn
        self.blobs = BlobDir(Path(artifacts_dir).expanduser().absolute(), fsync=True)
        self.table_label = f"the artifacts table of {self.location}"
        if create or self.blobs.path.is_dir():
            _make_dir(self.blobs.path)
        else:  # a command that only reads: a mistyped path creates nothing
            raise StoreError(
                f"there is no artifacts directory {self.blobs.path}: pass {{artifacts=PATH}} (or "
                "REPROLAM_ARTIFACTS) naming the directory this store's artifacts are in"
            )
        self._lock = threading.Lock()
        self._closed = False
        self._conn = self._connect()
        self._guard_forks()
        self._leases: dict[str, int] = {}  # run id -> advisory lock key held on self._conn
        self._taken_over: set[str] = set()  # leased runs others took while we were cut off
        try:
            _migrate(self._conn, self.location, create=create)
            mark_abandoned_runs(self._conn)
        except BaseException as exc:
            # said before closing: a closed connection would read as a lost one
            failure = self._error("open", exc) if isinstance(exc, self._pg.Error) else None
            self._conn.close()
            if failure is not None:
                raise failure from exc
            raise

    def __repr__(self) -> str:
        return f"PostgresStore({self.location!r})"

    # -- writes -------------------------------------------------------------------------------

    def create_run(self, run: RunRecord) -> None:
        row = _row_out(_rows.run_to_row(run), run, _RUN_NUMBERS)
        with self._lock:
            cur = self._cursor()
            try:
                crashpoints.before_write()
                cur.execute(_RUN_INSERT, row)
                crashpoints.after_write()
            except self._pg.IntegrityError as exc:
                raise self._create_refusal(run, exc) from exc
            except self._errors as exc:
                raise self._error(f"create run {run.id!r}", exc) from exc

    def _create_refusal(self, run: RunRecord, exc: Exception) -> ReprolamError:
        state = getattr(exc, "sqlstate", None)
        if state == "23505":  # unique_violation: the primary key
            return _rows.run_exists_error(run.id, self.location)
        if state == "23503":  # foreign_key_violation: the parent, or the run it verifies
            known = self._known_runs(r for r in (run.parent_id, run.verifies) if r)
            if run.parent_id is not None and run.parent_id not in known:
                return _rows.no_parent_error(run, self.location)
            if run.verifies is not None and run.verifies not in known:
                return NotFoundError(
                    f"cannot create run {run.id!r}: the run it verifies, {run.verifies!r}, is "
                    f"not in {self.location}: reproduce a run stored in the same store"
                )
        return self._error(f"create run {run.id!r}", exc)

    def record(
        self,
        *,
        steps: Sequence[StepRecord] = (),
        artifacts: Sequence[tuple[ArtifactRecord, bytes]] = (),
        run: RunRecord | None = None,
    ) -> None:
        self._record(steps, artifacts, run)

    def extend_run(
        self,
        run_id: str,
        length: int,
        *,
        steps: Sequence[StepRecord],
        artifacts: Sequence[tuple[ArtifactRecord, bytes]] = (),
        run: RunRecord | None = None,
    ) -> None:
        """``record`` in a transaction that first takes the run's extension lock (processes
        extending one run take turns) and checks that step ``length`` is not there yet."""
        self._record(steps, artifacts, run, extends=(run_id, length))

    def _record(
        self,
        steps: Sequence[StepRecord],
        artifacts: Sequence[tuple[ArtifactRecord, bytes]],
        run: RunRecord | None,
        extends: tuple[str, int] | None = None,
    ) -> None:
        # Everything that can fail without the server fails here, before the transaction;
        # large artifacts reach their blob files here too, before any row references them.
        step_rows = [_row_out(_rows.step_to_row(s), s, _STEP_NUMBERS) for s in steps]
        run_update = None if run is None else _row_out(_rows.run_to_row(run), run, _RUN_NUMBERS)
        producers = _rows.producers(steps) if artifacts else {}
        artifact_rows = [self._artifact_row(a, data, producers) for a, data in artifacts]
        # Digest order: writers storing the same artifacts lock them in the same order, so
        # they cannot deadlock. Duplicates are harmless: the first row of a digest is kept
        # (stable sort, DO NOTHING) and its producer set by whichever row names one.
        artifact_rows.sort(key=lambda row: row[0])
        produced = [(*r[4:], r[0]) for r in artifact_rows if r[4] is not None]
        if not (step_rows or artifact_rows or run_update):
            return
        if self._taken_over:
            self._refuse_taken_over(steps, run)
        with self._lock:
            for attempt in range(1, RETRIES + 1):
                cur = self._cursor()
                try:
                    # BEGIN/COMMIT travel in the same pipeline (still one round trip); they
                    # make a failure on our side mid-pipeline roll back what was already sent.
                    with cur.connection.pipeline():
                        cur.execute("BEGIN")
                        if extends is not None:
                            cur.execute(_EXTENSION_LOCK, (lease_key(f"{extends[0]}/extension"),))
                            cur.execute(_NO_STEP_AT, extends)
                        if artifact_rows:
                            cur.executemany(_ARTIFACT_INSERT, artifact_rows)
                        if produced:
                            cur.executemany(_PRODUCER_UPDATE, produced)
                        if step_rows:
                            cur.executemany(_STEP_UPSERT, step_rows)
                        if run_update is not None:  # the id goes last, in WHERE
                            cur.execute(_RUN_UPDATE, (*run_update[1:], run_update[0]), prepare=True)
                            cur.execute(_METRICS_STALE, (run_update[0],), prepare=True)
                        crashpoints.before_write()
                        cur.execute("COMMIT")
                    crashpoints.after_write()
                    return
                except BaseException as exc:
                    self._rollback()
                    if not isinstance(exc, self._errors):
                        raise
                    if extends is not None and _STALE_EXTENSION in str(exc):
                        if attempt > 1 and self._committed_before(steps, extends):
                            return  # the try the connection dropped under had committed
                        raise stale_extension_error(*extends) from None
                    # Rolled back whole, and every statement is idempotent: safe to send again.
                    retry = getattr(exc, "sqlstate", None) in _RETRY_STATES or self._lost()
                    if retry and attempt < RETRIES:
                        continue
                    raise self._record_error(exc, steps, run) from exc

    def _record_error(
        self, exc: Exception, steps: Sequence[StepRecord], run: RunRecord | None
    ) -> ReprolamError:
        """Say which record broke a constraint (the server only says that one did)."""
        if isinstance(exc, UnicodeEncodeError):
            return _rows.unstorable_text_error(exc, self.location)
        state = getattr(exc, "sqlstate", None)
        if state == _NO_RUN_STATE and run is not None:
            return _rows.no_run_for_update_error(run.id, self.location)
        if state == "23503":
            known = self._known_runs({s.run_id for s in steps})
            for step in steps:
                if step.run_id not in known:
                    return _rows.no_run_for_step_error(step, self.location)
        return self._error("record", exc)

    def _committed_before(self, steps: Sequence[StepRecord], extends: tuple[str, int]) -> bool:
        """Whether step ``extends[1]`` of the run is the first of ``steps``, hash and all: a
        call retried after its connection dropped finds what its first try committed (the
        server committed, the answer was lost) and must not call it another writer's."""
        if not steps or steps[0].hash is None:
            return False
        try:
            cur = self._cursor()
            cur.execute("SELECT hash FROM steps WHERE run_id = %s AND idx = %s", extends)
            row = cur.fetchone()
        except (self._pg.Error, StoreError):
            return False
        return row is not None and row[0] == steps[0].hash

    def _known_runs(self, run_ids: Iterable[str]) -> set[str]:
        """Which of these runs exist (on a refusal's error path: every id if it cannot tell,
        so the server's own message is reported)."""
        ids = list(run_ids)
        try:
            cur = self._cursor()
            cur.execute("SELECT id FROM runs WHERE id = ANY(%s)", (ids,))
            return {run_id for (run_id,) in cur.fetchall()}
        except (self._pg.Error, UnicodeError, StoreError):
            return set(ids)

    def _artifact_row(
        self, record: ArtifactRecord, data: bytes, producers: dict[str, _rows.ProducerRow]
    ) -> _Row:
        data = _rows.artifact_bytes(record, data)
        where = producers.get(record.digest, (None, None, None))
        if len(data) <= INLINE_MAX:
            return (record.digest, record.codec, record.size, data, *where)
        crashpoints.before_write()
        self.blobs.put(record.digest, data)
        crashpoints.after_write()
        return (record.digest, record.codec, record.size, None, *where)

    # -- liveness -----------------------------------------------------------------------------

    @contextmanager
    def lease(self, run_id: str) -> Iterator[None]:
        """A session-level advisory lock on the run, held by this store's connection.

        The server drops it when the session ends, however the process ends (SIGKILL, a lost
        machine: TCP keepalive), so any opener on any machine tells a dead run from a live one.
        """
        key = lease_key(run_id)
        with self._lock:
            self._cursor()  # a live connection
            try:
                taken = try_lock(self._conn, key)
            except self._errors as exc:
                raise self._error(f"lease run {run_id!r}", exc) from exc
            if not taken:
                raise held_error(run_id, f"an advisory lock in {self.location}")
            self._leases[run_id] = key
        try:
            yield
        finally:
            with self._lock:
                self._leases.pop(run_id, None)
                if not self._closed and not self._lost():
                    with contextlib.suppress(*self._errors):
                        self._conn.execute("SELECT pg_advisory_unlock(%s)", (key,))

    def _retake_leases(self) -> None:
        """After a reconnect: the old session's locks are gone; take them again, or stop.

        While they were gone, another process may have resumed the run, and even finished it
        (its lock is free again): the run's record then names that process, and this one
        must write nothing more of it, or it would overwrite the other's steps.
        """
        lost = []
        for run_id, key in list(self._leases.items()):  # every one: the others stay leased
            if try_lock(self._conn, key):
                if still_ours(self._conn, run_id):
                    unmark_abandoned(self._conn, run_id)
                    continue
                self._conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
            del self._leases[run_id]
            self._taken_over.add(run_id)
            lost.append(run_id)
        if lost:
            raise self._taken_over_error(lost[0])

    def _refuse_taken_over(self, steps: Sequence[StepRecord], run: RunRecord | None) -> None:
        """Nothing more of a run another process took over (``_retake_leases``) is written."""
        for run_id in sorted({s.run_id for s in steps} | ({run.id} if run else set())):
            if run_id in self._taken_over:
                raise self._taken_over_error(run_id)

    def _taken_over_error(self, run_id: str) -> LeaseLostError:
        return LeaseLostError(
            f"lost the lease on run {run_id}: the connection to {self.location} dropped and "
            "another process has taken the run over meanwhile (resumed it); this process "
            f"stops recording it: `reprolam show {run_id}` shows what the other recorded"
        )

    # -- reads --------------------------------------------------------------------------------

    def get_run(self, run_id: str) -> RunRecord:
        row = self._one(f"{_RUN_SELECT} WHERE id = %s", (run_id,))
        if row is None:
            raise _rows.no_run_error(run_id, self.location)
        return self._run_from_row(row)

    def find_run_ids(self, prefix: str, *, limit: int = 2) -> list[str]:
        # Ids sort as bytes ("C" collation): the matches are the first rows from the prefix on.
        rows = self._all(
            "SELECT id FROM runs WHERE id >= %s ORDER BY id LIMIT %s", (prefix, max(limit, 0))
        )
        return [run_id for (run_id,) in rows if run_id.startswith(prefix)]

    def list_runs(
        self, *, limit: int | None = None, verifies: str | None = None
    ) -> list[RunRecord]:
        count = None if limit is None else max(limit, 0)  # LIMIT NULL: no limit
        where, params = ("", ()) if verifies is None else ("WHERE verifies = %s ", (verifies,))
        sql = f"{_RUN_SELECT} {where}ORDER BY created_order DESC, id DESC LIMIT %s"
        rows = self._all(sql, (*params, count))
        return [self._run_from_row(row) for row in rows]

    def own_steps(self, run_id: str) -> list[StepRecord]:
        rows = self._all(_STEP_SELECT, (run_id,))
        if not rows and not self._run_exists(run_id):
            raise _rows.no_run_error(run_id, self.location)
        return _rows.steps_from_rows(_row_in(row, _STEP_NUMBERS) for row in rows)

    def own_step(self, run_id: str, index: int) -> StepRecord:
        row = self._one(_STEP_SELECT_ONE, (run_id, index))
        if row is None:
            if not self._run_exists(run_id):
                raise _rows.no_run_error(run_id, self.location)
            raise _rows.no_step_error(run_id, index, self.location)
        return _rows.step_from_row(_row_in(row, _STEP_NUMBERS))

    def own_steps_between(self, run_id: str, start: int, stop: int | None) -> list[StepRecord]:
        return _rows.steps_from_rows(self.own_step_rows(run_id, start, stop))

    def own_step_rows(self, run_id: str, start: int, stop: int | None) -> list[_Row]:
        rows = self._all(_STEP_SELECT_RANGE, (run_id, start, 2**62 if stop is None else stop))
        return [_row_in(row, _STEP_NUMBERS) for row in rows]

    def _runs_by_id(self, ids: Sequence[str]) -> dict[str, RunRecord]:
        rows = self._all(f"{_RUN_SELECT} WHERE id = ANY(%s)", (list(ids),))
        return {row[0]: self._run_from_row(row) for row in rows}

    def _run_from_row(self, row: _Row) -> RunRecord:
        """A run as it is now: one recorded as ``running`` whose process has ended since this
        store was opened (a dashboard stays open for days), or that this user may not mark
        (SELECT only), is ``interrupted``; the mark is written when this user may."""
        run = _rows.run_from_row(_row_in(row, _RUN_NUMBERS))
        if run.status is not RunStatus.RUNNING or run.pid == 0 or run.id in self._leases:
            return run  # (a lease this session holds would be taken again: re-entrant)
        with self._lock:
            cur = self._cursor()
            try:
                reason = abandoned(cur.connection, run.id, run.pid, run.host, run.verifies)
            except self._errors as exc:
                raise self._error("read", exc) from exc
        return run if reason is None else replace(run, status=RunStatus.INTERRUPTED, error=reason)

    def _write(self, statements: Sequence[tuple[str, Sequence[_Row]]]) -> None:
        """Beside-the-trace writes (annotations, metric index): one transaction."""
        with self._lock:
            cur = self._cursor()
            try:
                with cur.connection.transaction():
                    for sql, rows in statements:
                        if rows:
                            cur.executemany(sql, rows)
            except self._errors as exc:
                raise self._error("write", exc) from exc

    def find_cached_steps(self, probe: StepRecord) -> Iterator[StepRecord]:
        row = _row_out(_rows.step_to_row(probe), probe, _STEP_NUMBERS)
        sql = _STEP_CACHED
        if row[11] is not None:  # plain equality, so the index serves the lookup
            sql = sql.replace("seed IS NOT DISTINCT FROM %s", "seed = %s")
        key = (row[3], row[7], row[11], row[6], row[8], row[9])
        return cached_pages(
            lambda after, limit: [
                _rows.step_from_row(_row_in(found, _STEP_NUMBERS))
                for found in self._all(sql, (*key, *after, limit))
            ]
        )

    def _run_exists(self, run_id: str) -> bool:
        return self._one("SELECT 1 FROM runs WHERE id = %s", (run_id,)) is not None

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._conn.close()

    # -- plumbing -----------------------------------------------------------------------------

    def _connect(self) -> Connection[_Row]:
        pg = self._pg
        # libpq's own error, which may quote the DSN as it misread it, is not chained: a
        # traceback (logging.exception) would print it, password pieces and all
        try:
            params = pg.conninfo.conninfo_to_dict(self._dsn)
        except pg.Error as exc:
            raise StoreError(
                f"{self.location} is not a valid PostgreSQL DSN: "
                f"{hide_password(_first_line(exc), self._dsn)}: use "
                "postgresql://USER:PASSWORD@HOST:PORT/DATABASE"
            ) from None
        extra: dict[str, Any] = {}
        if "connect_timeout" not in params and not os.environ.get("PGCONNECT_TIMEOUT"):
            extra["connect_timeout"] = CONNECT_TIMEOUT
        if "application_name" not in params and not os.environ.get("PGAPPNAME"):
            extra["application_name"] = "reprolam"
        try:
            conn: Connection[_Row] = pg.Connection.connect(self._dsn, autocommit=True, **extra)
        except pg.Error as exc:
            said = hide_password(_first_line(exc), self._dsn)
            raise _connect_error(self.location, said) from None
        encoding = conn.info.parameter_status("server_encoding")
        if encoding != "UTF8":
            conn.close()
            raise StoreError(
                f"database {params.get('dbname', '')!r} at {self.location} uses encoding "
                f"{encoding}, not UTF8: reprolam stores text as UTF-8; "
                "create the database with ENCODING 'UTF8' (createdb -E UTF8 -T template0)"
            )
        return conn

    def _cursor(self) -> Cursor[_Row]:
        """A cursor on a live connection (call with the lock held)."""
        if self._closed:
            raise self._closed_error()
        if self._lost():
            # The server restarted or the network dropped: the store keeps working once the
            # server is back; the call that saw the failure has already reported it.
            self._conn.close()
            self._conn = self._connect()
            self._retake_leases()
        return self._conn.cursor()

    def _one(self, sql: str, params: _Row) -> Any:
        rows = self._all(sql, params)
        return rows[0] if rows else None

    def _all(self, sql: str, params: _Row) -> list[Any]:
        with self._lock:
            for attempt in (1, 2):
                cur = self._cursor()
                try:
                    cur.execute(sql, params)
                    return cur.fetchall()
                except self._errors as exc:
                    if attempt == 1 and self._lost():  # server restart: once more, reconnected
                        continue
                    raise self._error("read", exc) from exc
            raise AssertionError("unreachable")

    def _lost(self) -> bool:
        return self._conn.closed or self._conn.broken

    def _rollback(self) -> None:
        """End a transaction a failed call left open; drop the connection if that fails too."""
        conn = self._conn
        try:
            if (
                not conn.closed
                and conn.info.transaction_status != self._pg.pq.TransactionStatus.IDLE
            ):
                conn.execute("ROLLBACK")
        except BaseException:
            conn.close()  # replaced by a fresh one on the next call

    def _error(self, operation: str, exc: Exception) -> StoreError:
        if self._closed:
            return self._closed_error()
        hint = (
            "the connection to the server was lost; the store reconnects on the next call"
            if self._lost()
            else _hint(exc)
        )
        return StoreError(f"{operation} failed on {self.location}: {_first_line(exc)}: {hint}")


# -- opening ------------------------------------------------------------------------------------


def _make_dir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
        usable = os.access(path, os.W_OK | os.X_OK)
    except OSError as exc:
        usable, why = False, f": {exc.strerror or exc}"
    else:
        why = ": not writable"
    if not usable:
        raise StoreError(
            f"cannot use the artifacts directory {path}{why}: pass {{artifacts=PATH}} (or "
            "REPROLAM_ARTIFACTS) naming a directory you can write to"
        )


def _first_line(exc: BaseException) -> str:
    """A server or libpq message as one line (they come with DETAIL/HINT lines and tabs)."""
    text = " ".join(str(exc).split())
    for marker in (" DETAIL: ", " HINT: ", " Is the server running"):
        text = text.split(marker, 1)[0]
    return text.removeprefix("connection failed: ").rstrip(" .") or type(exc).__name__


_CONNECT_FIXES = (  # what the libpq message says -> how to fix it
    ("password authentication failed", "check the user and password in the DSN (or PGPASSWORD)"),
    ("no password supplied", "put the password in the DSN, PGPASSWORD or ~/.pgpass"),
    ('database "', "create it (createdb -E UTF8 NAME) or name an existing database in the DSN"),
    ('role "', "create that role on the server, or connect as an existing user"),
    ("refused", "start the server, or fix the host and port in the DSN"),
    ("No such file", "start the server, or fix the host and port in the DSN"),
    ("host", "fix the host name in the DSN"),
    ("timeout", "the server did not answer in time: check the host, port and firewall"),
)


def _connect_error(location: str, text: str) -> StoreError:
    fix = next(
        (fix for marker, fix in _CONNECT_FIXES if marker in text),
        "check the DSN and that the server accepts connections from this host",
    )
    return StoreError(f"cannot connect to PostgreSQL store {location}: {text}: {fix}")


_HINTS = {  # SQLSTATE (class) -> what to do
    "42501": "grant the user CREATE and USAGE on the schema, and rights on reprolam's tables",
    "53": "the server is out of resources (disk, memory or connections); free some",
    "57": "the server is shutting down or cancelled the statement; retry",
    "40": f"the transaction was rolled back {RETRIES} times by concurrent writers; retry",
}


def _hint(exc: Exception) -> str:
    state = getattr(exc, "sqlstate", None) or ""
    if isinstance(exc, UnicodeError) or "NUL" in str(exc):
        return "PostgreSQL text cannot hold NUL characters or lone surrogates; remove them"
    default = "if this persists, check the server log and the store with `reprolam audit`"
    return next((hint for key, hint in _HINTS.items() if state.startswith(key)), default)


def _migrate(conn: Connection[_Row], location: str, *, create: bool) -> None:
    """Bring the schema up to ``SCHEMA_VERSION``; refuse stores this code cannot read."""
    version = _schema_version(conn, location)
    if version == SCHEMA_VERSION:
        return
    try:
        _apply_migrations(conn, location, create=create)
    except Exception as exc:
        if version and getattr(exc, "sqlstate", None) == "42501":  # insufficient privilege
            raise StoreError(
                f"store schema version {version} in {location} is older than this "
                f"reprolam's ({SCHEMA_VERSION}), and this user may not upgrade it "
                f"({_first_line(exc)}): open it once with any command as a user with rights "
                "on reprolam's tables and CREATE on the schema (its owner); this user can "
                "read it after that"
            ) from exc
        raise


def _apply_migrations(conn: Connection[_Row], location: str, *, create: bool) -> None:
    with conn.transaction():
        # Processes opening a new store together: one migrates, the others wait here and
        # then find the schema up to date. The lock is per schema and ends with the commit.
        conn.execute(
            "SELECT pg_advisory_xact_lock(%s, hashtext(current_schema()))", (_MIGRATION_LOCK,)
        )
        version = _schema_version(conn, location)
        if version == 0 and not create:
            raise NotFoundError(
                f"there is no reprolam trace store in {location}: check the DSN (database "
                "and search_path), or run something into it first"
            )
        for number, script in packaged_migrations("postgresql"):
            if number > version:
                conn.execute(script)
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema_version', %s) "
                    "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                    (str(number),),
                )
        if version == 0:
            conn.execute("INSERT INTO meta (key, value) VALUES ('application', 'reprolam')")


def _schema_version(conn: Connection[_Row], location: str) -> int:
    """0 for a schema without reprolam's tables; the recorded version for a reprolam store."""
    row = conn.execute(
        "SELECT current_schema(), array(SELECT c.relname::text FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = current_schema() AND c.relname = ANY(%s) AND c.relkind IN ('r', 'p'))",
        (list(_TABLES),),
    ).fetchone()
    assert row is not None
    schema, tables = row
    if schema is None:
        raise StoreError(
            f"{location} has no schema to keep the trace in: its search_path names no existing "
            "schema; create one (CREATE SCHEMA ...) or fix options=-csearch_path=... in the DSN"
        )
    if not tables:
        return 0
    meta: dict[str, str] = {}
    if "meta" in tables:
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
    if meta.get("application") != "reprolam" or not str(meta.get("schema_version")).isdigit():
        if {"runs", "steps", "artifacts"} <= set(tables):
            raise StoreError(
                f"schema {schema!r} of {location} holds a reprolam trace store's tables, but "
                "its meta table does not record a reprolam schema version (application "
                f"{meta.get('application')!r}, schema_version {meta.get('schema_version')!r}): "
                "it was edited outside reprolam; restore the database from a backup"
            )
        raise StoreError(
            f"schema {schema!r} of {location} holds tables named {', '.join(sorted(tables))} "
            "that are not a reprolam trace store: use another database, or another schema "
            "(options=-csearch_path%3DNAME in the DSN)"
        )
    version = int(meta["schema_version"])
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"store schema version {version} in {location} is newer than this reprolam "
            f"supports ({SCHEMA_VERSION}): upgrade reprolam to open it"
        )
    return version
