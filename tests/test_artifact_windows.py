"""SQLite reads a page of a trace's artifacts as a range of their storage order
(``trace._sqlite_windows``): whatever the window settles must read exactly as the lookup by
digest reads it, and whatever it cannot settle must go to that lookup."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import closing
from pathlib import Path

import pytest

from reprolam.testing.conformance import INLINE_THRESHOLD, artifact
from reprolam.trace import SQLiteStore, _sqlite_windows
from reprolam.trace._sql_reads import SqlArtifactReads
from reprolam.trace.contract import ArtifactRead


def by_key(store: SQLiteStore, digests: Sequence[str]) -> list[ArtifactRead]:
    """What the lookup by digest alone reads (the reference)."""
    return list(SqlArtifactReads.read_artifacts(store, digests))


def compared(reads: list[ArtifactRead]) -> list[tuple[object, ...]]:
    """Reads with their errors as (type, message): exceptions do not compare equal."""
    return [(*read[:4], type(read.error), str(read.error)) for read in reads]


@pytest.fixture
def stored(tmp_path: Path) -> Iterator[tuple[SQLiteStore, list[str]]]:
    """A store holding 300 small artifacts stored in order, and their digests."""
    with SQLiteStore(tmp_path / "store") as store:
        pairs = [artifact(f"value {i}") for i in range(300)]
        for start in range(0, 300, 50):  # several batches, as a run records them
            store.record(artifacts=pairs[start : start + 50])
        store.flush()
        yield store, [record.digest for record, _ in pairs]


def edit(store: SQLiteStore, sql: str, params: tuple[object, ...]) -> None:
    store.flush()
    with closing(sqlite3.connect(store.db_path)) as conn, conn:
        conn.execute(sql, params)


def counting_keyed(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Patch the lookup by digest to count the digests it is asked for."""
    asked: list[int] = []
    original = SqlArtifactReads.read_artifacts

    def keyed(self: SqlArtifactReads, digests: Sequence[str]) -> Iterator[ArtifactRead]:
        asked.append(len(digests))
        return original(self, digests)

    monkeypatch.setattr(SqlArtifactReads, "read_artifacts", keyed)
    return asked


def test_a_run_of_artifacts_in_storage_order_is_read_by_range(
    stored: tuple[SQLiteStore, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, digests = stored
    expected = by_key(store, digests)
    asked = counting_keyed(monkeypatch)
    reads = list(store.read_artifacts(digests))
    assert compared(reads) == compared(expected)
    assert all(read.error is None and read.data is not None for read in reads)
    assert sum(asked) == 0  # every page settled by its window


@pytest.mark.parametrize("order", ["reversed", "scattered", "repeated"])
def test_any_order_reads_as_the_lookup_by_digest(
    stored: tuple[SQLiteStore, list[str]], order: str
) -> None:
    store, digests = stored
    if order == "reversed":
        wanted = digests[::-1]
    elif order == "scattered":
        wanted = digests[::7] + digests[3::11]
    else:
        wanted = digests[:5] * 3 + digests[250:260]
    assert compared(list(store.read_artifacts(wanted))) == compared(by_key(store, wanted))


def test_what_the_window_cannot_settle_is_read_by_digest(
    stored: tuple[SQLiteStore, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Damaged bytes, a wrong size, a digest edited on its row, a missing row and an
    artifact stored elsewhere, all inside one window: each read (and worded) as before."""
    store, digests = stored
    outside, outside_data = artifact("stored later, by another run")
    store.record(artifacts=[(outside, outside_data)])
    edit(store, "UPDATE artifacts SET data = ? WHERE digest = ?", (b"tampered", digests[10]))
    edit(store, "UPDATE artifacts SET size = size + 1 WHERE digest = ?", (digests[20],))
    edit(store, "UPDATE artifacts SET digest = ? WHERE digest = ?", ("f" * 64, digests[30]))
    edit(store, "DELETE FROM artifacts WHERE digest = ?", (digests[40],))
    missing = "0" * 64
    wanted = [*digests[:60], outside.digest, missing, *digests[60:128]]
    expected = by_key(store, wanted)
    asked = counting_keyed(monkeypatch)
    reads = list(store.read_artifacts(wanted))
    assert compared(reads) == compared(expected)
    assert [read.digest for read in reads if read.error is not None] == [
        digests[10],
        digests[20],
        digests[30],
        digests[40],
        missing,
    ]
    assert sum(asked) == 6  # the five above and the one stored outside the window


def test_blob_files_in_a_window_are_read_by_digest(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "store") as store:
        pairs = [artifact(f"small {i}") for i in range(5)]
        pairs.insert(2, artifact(b"L" * (INLINE_THRESHOLD + 1)))
        store.record(artifacts=pairs)
        store.flush()
        wanted = [record.digest for record, _ in pairs]
        reads = list(store.read_artifacts(wanted))
        assert compared(reads) == compared(by_key(store, wanted))
        assert [read.data for read in reads] == [data for _, data in pairs]
        store.blobs.path_of(wanted[2]).write_bytes(b"L" * 7)  # a damaged blob file
        reads = list(store.read_artifacts(wanted))
        assert compared(reads) == compared(by_key(store, wanted))
        assert reads[2].error is not None


def test_the_window_is_bounded(
    stored: tuple[SQLiteStore, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two digests stored far apart do not make the window scan everything between."""
    store, digests = stored
    scanned: list[tuple[int, int]] = []
    original = _sqlite_windows._window

    def window(query: _sqlite_windows.Query, chunk: Sequence[str]) -> dict[str, ArtifactRead]:
        def spied(sql: str, params: tuple[object, ...]) -> list[object]:
            rows = query(sql, params)
            if sql == _sqlite_windows._RANGE:
                scanned.append((len(chunk), len(rows)))
            return rows

        return original(spied, chunk)

    monkeypatch.setattr(_sqlite_windows, "_window", window)
    wanted = [digests[0], digests[299]]
    assert compared(list(store.read_artifacts(wanted))) == compared(by_key(store, wanted))
    assert scanned == [(2, _sqlite_windows.SPAN * 2)]
