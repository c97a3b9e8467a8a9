"""A new SQLite store's database appears whole (schema, WAL mode) or not at all."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from reprolam.errors import StoreError
from reprolam.trace.contract import SCHEMA_VERSION
from reprolam.trace.sqlite import SQLiteStore


def _meta(db: Path) -> tuple[str, dict[str, str]]:
    conn = sqlite3.connect(db)
    try:
        (mode,) = conn.execute("PRAGMA journal_mode").fetchone()
        return mode, dict(conn.execute("SELECT key, value FROM meta"))
    finally:
        conn.close()


def test_a_new_store_is_created_in_wal_mode_at_the_current_schema(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "s") as store:
        assert store.list_runs() == []
    mode, meta = _meta(tmp_path / "s" / "trace.db")
    assert mode == "wal"
    assert meta == {"application": "reprolam", "schema_version": str(SCHEMA_VERSION)}
    assert not (tmp_path / "s" / "trace.db.creating").exists()


def test_a_creation_interrupted_by_a_crash_is_replaced(tmp_path: Path) -> None:
    directory = tmp_path / "s"
    directory.mkdir()
    (directory / "trace.db.creating").write_bytes(b"half a database")
    with SQLiteStore(directory) as store:
        assert store.list_runs() == []
    assert _meta(directory / "trace.db")[1]["application"] == "reprolam"
    assert not (directory / "trace.db.creating").exists()


def test_an_existing_database_is_opened_not_recreated(tmp_path: Path) -> None:
    directory = tmp_path / "s"
    directory.mkdir()
    (directory / "trace.db").write_bytes(b"not a database at all" * 100)
    with pytest.raises(StoreError, match="not a reprolam trace database"):
        SQLiteStore(directory)
    assert (directory / "trace.db").read_bytes() == b"not a database at all" * 100
