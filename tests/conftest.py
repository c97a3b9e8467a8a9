"""Shared fixtures. Store fixtures give a fresh, empty store of one backend; the suite every
backend must pass is tests/conformance.py (wired in tests/test_store_conformance.py)."""

from __future__ import annotations

import signal
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

import pg
from reprolam.trace import MemoryStore, SQLiteStore
from reprolam.trace.contract import ArtifactRead


def pytest_configure(config: pytest.Config) -> None:
    """Ctrl-C behaves as in a terminal whatever started the suite: a shell that runs it in
    the background (``pytest &``, a CI step started so) hands it SIGINT ignored, which the
    processes the tests start inherit, and the tests of Ctrl-C would test nothing."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture
def memory_store() -> Iterator[MemoryStore]:
    store = MemoryStore()
    yield store
    store.close()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[SQLiteStore]:
    store = SQLiteStore(tmp_path / "store")
    yield store
    store.close()


# -- PostgreSQL (a throwaway server per test session; see tests/pg.py) ---------------------------


@pytest.fixture(scope="session")
def postgres() -> Iterator[pg.PgServer]:
    """A running PostgreSQL server; tests using it skip only when no binaries exist."""
    bindir = pg.find_bindir()
    if bindir is None:
        pytest.skip(
            f"PostgreSQL server binaries (initdb, pg_ctl) not found on PATH or in {pg.SEARCH}: "
            "install postgresql (`.ci/run` does)"
        )
    with pg.running_server(bindir) as server:
        yield server


@pytest.fixture
def pg_dsn(postgres: pg.PgServer) -> str:
    """The DSN of a fresh, empty database."""
    return postgres.create_database()


@pytest.fixture
def artifact_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every digest SQLite stores are asked to read (``read_artifacts``), in order."""
    read: list[str] = []
    original = SQLiteStore.read_artifacts

    def counted(self: SQLiteStore, digests: Sequence[str]) -> Iterator[ArtifactRead]:
        read.extend(digests)
        return original(self, digests)

    monkeypatch.setattr(SQLiteStore, "read_artifacts", counted)
    return read
