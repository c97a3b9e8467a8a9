"""The SQLite applier's bulk statements: rows inserted 64 to a statement (``insert_rows``,
multi-row VALUES) leave the very table ``executemany`` of a one-row statement leaves, and
known artifacts are found by IN lists padded to a few lengths whatever a batch holds."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from reprolam.trace._sqlite_keys import ROWS_PER_STATEMENT, insert_rows, put_artifacts
from reprolam.trace.sqlite import SQLiteStore

_TABLE = "CREATE TABLE t (k INTEGER PRIMARY KEY, a, b)"
_UPSERT = "ON CONFLICT (k) DO UPDATE SET a = excluded.a, b = excluded.b"


def _rows(count: int, tag: str) -> list[tuple[object, ...]]:
    # every type a step row holds: text, int, float, NULL, bytes
    values: list[object] = [f"{tag}-é", 2**62, 0.1 + 0.2, None, b"\x00\xff"]
    return [(i, values[i % 5], values[(i + 1) % 5]) for i in range(count)]


def _table(rows_in: list[list[tuple[object, ...]]], *, many: bool) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(":memory:")
    conn.execute(_TABLE)
    for rows in rows_in:
        if many:
            conn.executemany(f"INSERT INTO t (k, a, b) VALUES (?, ?, ?) {_UPSERT}", rows)
        else:
            insert_rows(conn.cursor(), "INSERT INTO t (k, a, b)", rows, _UPSERT)
    return conn.execute("SELECT k, a, b, typeof(a), typeof(b) FROM t ORDER BY k").fetchall()


@pytest.mark.parametrize(
    "count", [0, 1, 2, 5, ROWS_PER_STATEMENT - 1, ROWS_PER_STATEMENT, 3 * ROWS_PER_STATEMENT + 37]
)
def test_rows_inserted_by_statements_of_many_rows_are_the_rows_executemany_inserts(
    count: int,
) -> None:
    batches = [_rows(count, "first"), _rows(count // 2, "second")]  # the second upserts
    assert _table(batches, many=False) == _table(batches, many=True)


def test_a_row_that_breaks_a_constraint_fails_the_statement_like_executemany() -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, a NOT NULL, b)")
    rows = [(i, None if i == 70 else i, i) for i in range(100)]
    with pytest.raises(sqlite3.IntegrityError):
        insert_rows(conn.cursor(), "INSERT INTO t (k, a, b)", rows)


def _digest(i: int, *, same_key: bool) -> str:
    if same_key:  # one lookup key (the first 8 digits) for all: rows compared in full
        return f"{i:064x}"
    return hashlib.sha256(str(i).encode()).hexdigest()


@pytest.mark.parametrize("same_key", [False, True])
def test_known_artifacts_are_found_whatever_the_batch_length(
    tmp_path: Path, same_key: bool
) -> None:
    with SQLiteStore(tmp_path) as store:
        cur = store._conn.cursor()

        def put(digests: list[str]) -> int:
            cur.execute("BEGIN IMMEDIATE")
            added = put_artifacts(cur, [(d, "json", 1, b"1", None, None, None) for d in digests])
            cur.execute("COMMIT")
            return added

        stored = {_digest(i, same_key=same_key) for i in range(0, 1400, 2)}
        assert put(sorted(stored)) == len(stored)
        for count in (1, 3, 5, 300, 513, 700):
            batch = [_digest(i, same_key=same_key) for i in range(count)]
            new = [d for d in batch if d not in stored]
            assert put(batch) == len(new)
            stored.update(new)
            (rows,) = cur.execute("SELECT count(*) FROM artifacts").fetchone()
            assert rows == len(stored)  # nothing known was stored twice
