"""The SQLite store's lookup keys (``_sqlite_keys``) checked when a store opens, and rebuilt.

The key tables are derived data: ``artifact_keys*`` from the artifacts table, ``step_keys*``
and ``run_numbers`` from the steps and runs. Emptied or dropped outside reprolam, they made
every artifact stored before read as missing ("no artifact ..." from replay, audit, get,
fork), a new run store its artifacts a second time, and a dropped one made every read fail.
Opening the store checks, in a few index lookups, that the key tables are there and not
emptied while rows they derive from exist; if not, the keys are rebuilt from those rows, as
migration 0007 first built them.
"""

from __future__ import annotations

import sqlite3

from reprolam.trace._sqlite_keys import STEP_KEY_COLUMNS, register_functions

# Keys missing wholesale: artifacts stored but none found by key, or succeeded steps (among
# the first few rows: never a scan of the whole table) but no step key at all.
_KEYS_GONE = (
    "SELECT (EXISTS (SELECT 1 FROM artifacts) AND NOT EXISTS (SELECT 1 FROM artifact_index)) "
    "OR (EXISTS (SELECT 1 FROM "
    "(SELECT kind, status FROM steps LIMIT 64) WHERE kind = 'action' AND status = 'succeeded') "
    "AND NOT EXISTS (SELECT 1 FROM step_index))"
)

_TABLES = (
    *(
        f"CREATE TABLE IF NOT EXISTS artifact_keys{level} (key TEXT NOT NULL, "
        "seq INTEGER NOT NULL, PRIMARY KEY (key, seq)) WITHOUT ROWID"
        for level in ("", "_middle", "_recent")
    ),
    *(
        f"CREATE TABLE IF NOT EXISTS step_keys{level} (key INTEGER NOT NULL, "
        "num INTEGER NOT NULL, idx INTEGER NOT NULL, PRIMARY KEY (key, num, idx)) WITHOUT ROWID"
        for level in ("", "_middle", "_recent")
    ),
    "CREATE TABLE IF NOT EXISTS run_numbers (num INTEGER PRIMARY KEY, run_id TEXT NOT NULL UNIQUE)",
    "CREATE VIEW IF NOT EXISTS artifact_index AS SELECT key, seq FROM artifact_keys "
    "UNION ALL SELECT key, seq FROM artifact_keys_middle "
    "UNION ALL SELECT key, seq FROM artifact_keys_recent",
    "CREATE VIEW IF NOT EXISTS step_index AS SELECT key, num, idx FROM step_keys "
    "UNION ALL SELECT key, num, idx FROM step_keys_middle "
    "UNION ALL SELECT key, num, idx FROM step_keys_recent",
)
_REBUILD = (
    *(
        f"DELETE FROM {table}{level}"
        for table in ("artifact_keys", "step_keys")
        for level in ("", "_middle", "_recent")
    ),
    "INSERT INTO artifact_keys (key, seq) SELECT substr(digest, 1, 8), seq FROM artifacts "
    "ORDER BY 1, 2",
    "INSERT OR IGNORE INTO run_numbers (run_id) SELECT id FROM runs ORDER BY id",
    f"INSERT OR IGNORE INTO step_keys (key, num, idx) SELECT reprolam_step_key("
    f"{STEP_KEY_COLUMNS}), r.num, s.idx "
    "FROM steps AS s JOIN run_numbers AS r ON r.run_id = s.run_id "
    "WHERE s.kind = 'action' AND s.status = 'succeeded' ORDER BY 1, 2, 3",
)


def keys_intact(conn: sqlite3.Connection) -> bool:
    """Whether the key tables are there and not emptied (a single key edited is not looked
    for: the lookups it breaks read as a missing artifact, which audit reports)."""
    try:
        return not conn.execute(_KEYS_GONE).fetchone()[0]
    except sqlite3.OperationalError:  # a key table or view was dropped
        return False


def rebuild_keys(conn: sqlite3.Connection) -> None:
    """Every key table made again from the rows its keys are derived from, in one
    transaction (another writer waits; a crash leaves the keys as they were)."""
    register_functions(conn)
    conn.execute("BEGIN IMMEDIATE")
    try:
        for statement in (*_TABLES, *_REBUILD):
            conn.execute(statement)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
