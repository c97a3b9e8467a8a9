"""Runs the shared conformance suite (reprolam.testing) against every store backend.

To add a backend: write a ``StoreFactory`` for it below and list it in ``FACTORIES``.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

import pg
from reprolam.testing import *  # noqa: F403  (the suite's test classes and fixtures)
from reprolam.testing import StoreFactory
from reprolam.trace import MemoryStore, SQLiteStore, TraceStore
from reprolam.trace.postgres import PostgresStore


class MemoryFactory(StoreFactory):
    name = "memory"

    def __call__(self) -> TraceStore:
        return MemoryStore()

    def tamper_artifact(self, store: TraceStore, digest: str, data: bytes) -> None:
        assert isinstance(store, MemoryStore)
        codec, size, _ = store._artifacts[digest]
        store._artifacts[digest] = (codec, size, data)


class SQLiteFactory(StoreFactory):
    name = "sqlite"
    durable = True

    def __init__(self, root: Path) -> None:
        self.root = root / "store"

    def __call__(self) -> TraceStore:
        return SQLiteStore(self.root)

    @property
    def location(self) -> str:
        return str(self.root)

    def tamper_artifact(self, store: TraceStore, digest: str, data: bytes) -> None:
        assert isinstance(store, SQLiteStore)
        store.flush()  # tamper with what is on disk, not with what is still in the journal
        blob = store.blobs.path_of(digest)
        if blob.exists():
            blob.write_bytes(data)
            return
        with closing(sqlite3.connect(store.db_path)) as conn, conn:
            conn.execute("UPDATE artifacts SET data = ? WHERE digest = ?", (data, digest))

    def break_artifact_write(self, store: TraceStore, digest: str) -> bool:
        assert isinstance(store, SQLiteStore)
        shard = store.blobs.path_of(digest).parent
        shard.write_bytes(b"")  # a file where the blob's directory should be
        return True


class PostgresFactory(StoreFactory):
    """A fresh schema per test in one database of the session's server (tests/pg.py)."""

    name = "postgres"
    durable = True

    def __init__(self, dsn: str, artifacts: Path) -> None:
        self.dsn = dsn
        self.artifacts = artifacts

    def __call__(self) -> TraceStore:
        return PostgresStore(self.dsn, artifacts_dir=self.artifacts)

    @property
    def location(self) -> str:
        return self.dsn  # the artifacts directory reaches other processes as REPROLAM_ARTIFACTS

    def tamper_artifact(self, store: TraceStore, digest: str, data: bytes) -> None:
        assert isinstance(store, PostgresStore)
        blob = store.blobs.path_of(digest)
        if blob.exists():
            blob.write_bytes(data)
            return
        import psycopg

        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute("UPDATE artifacts SET data = %s WHERE digest = %s", (data, digest))

    def break_artifact_write(self, store: TraceStore, digest: str) -> bool:
        assert isinstance(store, PostgresStore)
        store.blobs.path_of(digest).parent.write_bytes(b"")  # a file where a directory goes
        return True


FACTORIES: dict[str, type[StoreFactory]] = {
    "memory": MemoryFactory,
    "sqlite": SQLiteFactory,
    "postgres": PostgresFactory,
}


@pytest.fixture(params=sorted(FACTORIES))
def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> StoreFactory:
    factory = FACTORIES[request.param]
    if factory is PostgresFactory:  # the server starts only if a PostgreSQL test runs
        server: pg.PgServer = request.getfixturevalue("postgres")
        artifacts = tmp_path / "artifacts"
        request.getfixturevalue("monkeypatch").setenv("REPROLAM_ARTIFACTS", str(artifacts))
        return PostgresFactory(server.create_schema(server.database("conformance")), artifacts)
    return factory() if factory is MemoryFactory else factory(tmp_path)  # type: ignore[call-arg]
