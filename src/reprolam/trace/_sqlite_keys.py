"""The SQLite store's lookup keys, kept so that recording never inserts at a random place in
a big B-tree (migration 0007).

Content addresses are random: a table clustered by artifact digest, or an index on the step
cache's key, takes each new entry on a random page, and in a store of a million steps every
such page is one more page written to the WAL per commit and written back by the next
checkpoint (most of the extra cost of recording into a big store). So:

* ``artifacts`` is a rowid table in the order artifacts were stored (``seq``): a new artifact
  is appended next to the previous one.
* Lookups go through narrow key tables in three levels, like a log-structured merge tree:
  new keys land in a tiny ``*_recent`` table, merged now and then into a small ``*_middle``
  one, merged in turn into the large main table in one sorted pass (``LEVELS``), so a page
  of a large table is written once for many keys rather than once per key.
  - ``artifact_keys(key, seq)``: ``key`` is the digest's first 8 hex digits; the full digest
    is compared on the row, so prefixes may collide.
  - ``step_keys(key, num, idx)``: ``key`` hashes the step cache key (action, version,
    code fingerprint, params, inputs, seed), ``num`` is the run's number in ``run_numbers``
    (an integer is 5x narrower than a run id); every column is compared on the step row.

All levels are read together (the ``*_index`` views); a key in two (a journal applied again
after a crash) is harmless: lookups compare the rows themselves.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Sequence
from functools import cache
from typing import Any

# Table-name suffixes of the levels above the main table, newest first, and how many keys
# fill each: ``_recent`` takes every new key and stays tiny (its pages are written back once
# per checkpoint however many keys they took); ``_middle`` takes a merge of ``_recent``
# (touching at most its own few hundred pages); the main table a merge of ``_middle`` (each of
# its pages written once per 131,072 keys). Each key is written about three times in all.
LEVELS: tuple[tuple[str, int], ...] = (("_recent", 8_192), ("_middle", 131_072))
CHECK_EVERY = 2_048  # keys this store added between counts of the recent tables
_CHUNK = 512  # keys per IN (...) list, at most (a power of two: see _padded)


def step_key(
    action: Any,
    version: Any,
    fingerprint: Any,
    params: Any,
    inputs: Any,
    seed: Any,
    _blake2b: Any = hashlib.blake2b,
    _from_bytes: Any = int.from_bytes,
) -> int:
    """A signed 64-bit hash of a step row's cache-key columns as stored (texts; the seed an
    int, a decimal text beyond 64 bits, or NULL). Also SQL ``reprolam_step_key`` (0007)."""
    text = f"{action}\x00{version}\x00{fingerprint}\x00{params}\x00{inputs}\x00{seed!r}"
    raw = _blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return _from_bytes(raw, "big", signed=True)  # type: ignore[no-any-return]


def stored_step_key(*columns: Any) -> int:
    """``step_key`` of a stored row's columns, its texts handed over as blobs (SQL
    ``reprolam_step_key``): Python's sqlite3 cannot hand a function a text that is not UTF-8
    (a damaged row), and failed the whole statement. A UTF-8 text decodes to itself, so the
    key is the one ``step_key`` gives; a damaged one is decoded with escapes (its row is
    reported by audit and never serves a cache hit)."""
    return step_key(
        *(c.decode("utf-8", "surrogateescape") if type(c) is bytes else c for c in columns)
    )


# The arguments of SQL reprolam_step_key for a steps row ``s``: its texts as blobs.
STEP_KEY_COLUMNS = (
    "CAST(s.action AS BLOB), CAST(s.action_version AS BLOB), CAST(s.fingerprint AS BLOB), "
    "CAST(s.params AS BLOB), CAST(s.inputs AS BLOB), "
    "CASE typeof(s.seed) WHEN 'text' THEN CAST(s.seed AS BLOB) ELSE s.seed END"
)


def register_functions(conn: sqlite3.Connection) -> None:
    """What migration 0007 needs to index the steps already stored."""
    conn.create_function("reprolam_step_key", 6, stored_step_key, deterministic=True)


def artifacts_matching(count: int) -> str:
    """FROM clause (after ``FROM``) of the artifact rows whose digests are the ``count``
    parameters: found by key in every level, compared in full. (A join: as fast as the old
    lookup by digest; ``seq IN (subquery)`` was twice as slow.)"""
    if count == 1:
        return (
            "artifact_index AS k JOIN artifacts ON artifacts.seq = k.seq "
            "WHERE k.key = substr(?1, 1, 8) AND artifacts.digest = ?1"
        )
    params = [f"?{i}" for i in range(1, count + 1)]
    keys = ", ".join(f"substr({p}, 1, 8)" for p in params)
    return (
        "artifact_index AS k JOIN artifacts ON artifacts.seq = k.seq "
        f"WHERE k.key IN ({keys}) AND artifacts.digest IN ({', '.join(params)})"
    )


def cached_step_sql(columns: str) -> str:
    """The store-wide step cache lookup (``TraceStore.find_cached_steps``): candidates by key
    in every level, each compared on every cache-key column of its row; a page of them, after
    a (run id, index), in that order."""
    return (
        f"SELECT {columns} FROM steps WHERE (run_id, idx) IN (SELECT r.run_id, k.idx "
        "FROM step_index AS k JOIN run_numbers AS r ON r.num = k.num WHERE k.key = ?) "
        "AND action = ? AND fingerprint = ? AND seed IS ? "
        "AND kind = 'action' AND status = 'succeeded' "
        "AND action_version = ? AND params = ? AND inputs = ? AND (run_id, idx) > (?, ?) "
        "ORDER BY run_id, idx LIMIT ?"
    )


def cached_step_params(row: Sequence[Any], after: tuple[str, int], limit: int) -> tuple[Any, ...]:
    """``cached_step_sql``'s parameters for a probe step's row, and a page of candidates."""
    return (
        step_key(row[3], row[6], row[7], row[8], row[9], row[11]),
        row[3],
        row[7],
        row[11],
        row[6],
        row[8],
        row[9],
        *after,
        limit,
    )


ROWS_PER_STATEMENT = 64  # rows one multi-row INSERT binds (see insert_rows)


def insert_rows(
    cur: sqlite3.Cursor, head: str, rows: Sequence[Sequence[Any]], tail: str = ""
) -> None:
    """``head VALUES (?, ...), (?, ...) tail`` for ``rows``, ROWS_PER_STATEMENT rows a statement.

    The same effect as ``executemany`` of a one-row statement, in one SQLite step per 64
    rows instead of one per row: each step costs Python's sqlite3 a statement reset and a
    release and re-take of the GIL. About 10,000 fewer instructions per recorded step; the
    SQLite store's applier thread (which the recording thread waits for) runs these.
    """
    if not rows:
        return
    width = len(rows[0])
    start, count = 0, ROWS_PER_STATEMENT
    while start < len(rows):
        # full statements, then the rest in power-of-two sizes: few statement texts to cache
        while count > len(rows) - start:
            count //= 2
        # the rows' values in one flat list: list.extend copies a tuple at C speed (2.5x
        # faster than chain.from_iterable, which steps through every value)
        params: list[Any] = []
        add = params.extend
        for row in rows[start : start + count]:
            add(row)
        cur.execute(_values_sql(head, width, count, tail), params)
        start += count


@cache
def _values_sql(head: str, width: int, count: int, tail: str) -> str:
    row = f"({', '.join('?' * width)})"
    return f"{head} VALUES {', '.join([row] * count)} {tail}"


def put_artifacts(cur: sqlite3.Cursor, rows: Sequence[Sequence[Any]]) -> int:
    """Store artifact rows ``(digest, codec, size, data, producer_run, producer_idx,
    producer_name)`` (one per digest) in the open transaction: a new digest is appended and
    its key added; a known one keeps its bytes and first producer, and one stored without a
    producer (an external input) gets the first step that outputs it. Returns the keys added.
    """
    if not rows:
        return 0
    known = _known(cur, [row[0] for row in rows])
    new = [row for row in rows if row[0] not in known] if known else rows
    (last,) = cur.execute("SELECT coalesce(max(seq), 0) FROM artifacts").fetchone()
    insert_rows(cur, _INSERT, new)  # seq is the rowid: each one appended, max(seq) + 1
    cur.execute(_KEYS_OF_APPENDED, (last,))
    if known:
        produced = [
            (*row[4:], known[row[0]][0])
            for row in rows
            if row[0] in known and known[row[0]][1] is None and row[4] is not None
        ]
        if produced:
            cur.executemany(
                "UPDATE artifacts SET producer_run = ?, producer_idx = ?, producer_name = ? "
                "WHERE seq = ? AND producer_run IS NULL",
                produced,
            )
    return len(new)


def _known(cur: sqlite3.Cursor, digests: list[str]) -> dict[str, tuple[int, Any]]:
    """digest -> (seq, producer_run) of those already stored. Keys first: a new digest (the
    usual case) is told apart by its key alone, without reading any artifact row."""
    keys: set[str] = set()
    for start in range(0, len(digests), _CHUNK):
        chunk = _padded(list({d[:8] for d in digests[start : start + _CHUNK]}))
        marks = ", ".join("?" * len(chunk))
        keys.update(
            k
            for (k,) in cur.execute(f"SELECT key FROM artifact_index WHERE key IN ({marks})", chunk)
        )
    candidates = [d for d in digests if d[:8] in keys]
    known: dict[str, tuple[int, Any]] = {}
    for start in range(0, len(candidates), _CHUNK):
        chunk = _padded(candidates[start : start + _CHUNK])
        sql = f"SELECT digest, artifacts.seq, producer_run FROM {artifacts_matching(len(chunk))}"
        for digest, seq, producer_run in cur.execute(sql, chunk):
            known.setdefault(digest, (seq, producer_run))
    return known


def _padded(values: list[str]) -> list[str]:
    """``values`` with its last one repeated up to a power-of-two length (a key twice in an
    IN list matches what it matched once). The lookups of a batch then take one of ten
    statement texts, which sqlite3 keeps prepared: preparing a new one for every batch's
    length (an IN list of hundreds of keys on a view of three tables) cost about 8,000
    instructions per recorded step."""
    size = 1 << (len(values) - 1).bit_length()
    return values + values[-1:] * (size - len(values))


_INSERT = (
    "INSERT INTO artifacts (digest, codec, size, data, producer_run, producer_idx, producer_name)"
)
# The keys of the rows appended after seq ?, copied inside SQLite (substr(digest, 1, 8)).
_KEYS_OF_APPENDED = (
    "INSERT OR IGNORE INTO artifact_keys_recent (key, seq) "
    "SELECT substr(digest, 1, 8), seq FROM artifacts WHERE seq > ?"
)


def put_step_keys(cur: sqlite3.Cursor, step_rows: Sequence[Sequence[Any]]) -> int:
    """Add the cache keys of succeeded action steps (in the open transaction)."""
    keyed = [row for row in step_rows if row[2] == "action" and row[4] == "succeeded"]
    if not keyed:
        return 0
    numbers: dict[str, int] = {}
    for run_id in {row[0] for row in keyed}:
        cur.execute("INSERT OR IGNORE INTO run_numbers (run_id) VALUES (?)", (run_id,))
        (numbers[run_id],) = cur.execute(
            "SELECT num FROM run_numbers WHERE run_id = ?", (run_id,)
        ).fetchone()
    insert_rows(
        cur,
        "INSERT OR IGNORE INTO step_keys_recent (key, num, idx)",
        [
            (step_key(row[3], row[6], row[7], row[8], row[9], row[11]), numbers[row[0]], row[1])
            for row in keyed
        ],
    )
    return len(keyed)


def merge_full_levels(cur: sqlite3.Cursor) -> None:
    """Merge every level that is full into the next (see ``LEVELS``), in the open
    transaction; a level below fills only when the one above is merged into it."""
    for index, (level, full) in enumerate(LEVELS):
        below = LEVELS[index + 1][0] if index + 1 < len(LEVELS) else ""
        merged = False
        for table, columns in (("artifact_keys", "key, seq"), ("step_keys", "key, num, idx")):
            (count,) = cur.execute(f"SELECT count(*) FROM {table}{level}").fetchone()
            if count >= full:
                cur.execute(
                    f"INSERT OR IGNORE INTO {table}{below} ({columns}) "
                    f"SELECT {columns} FROM {table}{level}"
                )
                cur.execute(f"DELETE FROM {table}{level}")
                merged = True
        if not merged:
            return
