"""Shared fixtures. Store fixtures give a fresh, empty store of one backend; the suite every
backend must pass is tests/conformance.py (wired in tests/test_store_conformance.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from reprolam.trace import MemoryStore, SQLiteStore


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
