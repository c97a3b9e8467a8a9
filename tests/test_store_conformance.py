"""Runs the shared conformance suite (tests/conformance.py) against every store backend.

To add a backend: write a ``StoreFactory`` for it below and list it in ``FACTORIES``.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from conformance import *  # noqa: F403  (the suite's test classes and fixtures)
from conformance import StoreFactory
from reprolam.trace import MemoryStore, SQLiteStore, TraceStore


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


FACTORIES: dict[str, type[StoreFactory]] = {"memory": MemoryFactory, "sqlite": SQLiteFactory}


@pytest.fixture(params=sorted(FACTORIES))
def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> StoreFactory:
    factory = FACTORIES[request.param]
    return factory() if factory is MemoryFactory else factory(tmp_path)  # type: ignore[call-arg]
