"""The artifact reads both SQL backends share; only the parameter placeholder differs."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

from reprolam.errors import IntegrityError, NotFoundError, ReprolamError
from reprolam.hashing import digest as hash_bytes
from reprolam.trace import _rows
from reprolam.trace._streams import BlobDirStreams
from reprolam.trace.blobs import BlobDir
from reprolam.trace.contract import ArtifactRead, Producer
from reprolam.trace.records import ArtifactRecord

_BATCH = 500  # digests per query (SQLite allows 32,766 parameters; keep statements small)
# Digests per query when the bytes are read too: inline artifacts are at most
# blobs.INLINE_MAX (32 KiB), so a page holds at most 4 MiB whatever the run's length.
_READ_BATCH = 128


def _read(fields: tuple[Any, ...]) -> ArtifactRead:
    return tuple.__new__(ArtifactRead, fields)  # without NamedTuple's Python-level __new__


class SqlArtifactReads(BlobDirStreams):
    """Mixed into a ``TraceStore`` that has ``_one(sql, params)``, ``blobs`` and ``location``."""

    PARAM: ClassVar[str]  # "?" (sqlite3) or "%s" (psycopg)
    blobs: BlobDir
    location: str
    table_label: str  # where inline artifacts live, for error messages

    def _one(self, sql: str, params: tuple[Any, ...]) -> Any:
        raise NotImplementedError

    def _all(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        raise NotImplementedError

    def get_artifact(self, digest: str) -> tuple[ArtifactRecord, bytes]:
        row = self._one(f"SELECT codec, size, data FROM {self._artifacts_matching(1)}", (digest,))
        if row is None:
            raise _rows.no_artifact_error(digest, self.location)
        codec, size, data = row
        return ArtifactRecord(digest, codec, size), self._checked(digest, size, data)

    def read_artifacts(self, digests: Sequence[str]) -> Iterator[ArtifactRead]:
        for start in range(0, len(digests), _READ_BATCH):
            chunk = list(digests[start : start + _READ_BATCH])
            sql = f"SELECT digest, codec, size, data FROM {self._artifacts_matching(len(chunk))}"
            rows = {row[0]: row for row in self._all(sql, tuple(chunk))}
            for key in chunk:
                row = rows.get(key)
                if row is None:
                    missing = _rows.no_artifact_error(key, self.location)
                    yield ArtifactRead(key, None, None, None, missing)
                    continue
                _, codec, size, data = row
                if type(data) is bytes and len(data) == size and hash_bytes(data) == key:
                    yield _read((key, codec, size, data, None))  # inline and intact
                    continue
                try:
                    data = self._checked(key, size, data)
                except ReprolamError as exc:  # damaged, its blob missing or unreadable
                    yield ArtifactRead(key, codec, size, None, exc)
                else:
                    yield ArtifactRead(key, codec, size, data, None)

    def _checked(self, digest: str, size: int, data: Any) -> bytes:
        """An artifact row's bytes (inline, or its blob file's), verified against its digest."""
        in_blob = data is None
        if in_blob:
            path = self.blobs.path_of(digest)
            try:
                data = self.blobs.get(digest, size)  # no more than recorded (+1, to tell)
            except NotFoundError as exc:
                raise IntegrityError(
                    f"artifact {digest} is recorded but its blob file {path} is missing: the "
                    "artifacts directory was moved or damaged; restore it, or pass "
                    "{artifacts} with its location"
                ) from exc
            where = str(path)
        else:
            where = self.table_label
            if isinstance(data, str):  # edited with SQL's text functions: its text's bytes
                data = data.encode("utf-8", "surrogatepass")
            elif not isinstance(data, bytes | bytearray | memoryview):
                raise IntegrityError(
                    f"artifact {digest} is corrupted: its bytes in {where} are a "
                    f"{type(data).__name__}, edited outside reprolam: restore the store from a "
                    f"backup ({_rows.ONLY_COPY})"
                )
            data = bytes(data)  # psycopg gives a memoryview; bytes(bytes) does not copy
        actual = hash_bytes(data)
        if actual != digest:
            if in_blob:  # storing its bytes again (a step that re-creates them) repairs it
                self.blobs.found_damaged(digest)
            raise _rows.corrupt_artifact_error(digest, where, actual, blob=in_blob)
        if len(data) != size:
            raise _rows.wrong_size_error(digest, size, len(data))
        return data  # type: ignore[no-any-return]

    def get_artifact_record(self, digest: str) -> ArtifactRecord:
        row = self._one(f"SELECT codec, size FROM {self._artifacts_matching(1)}", (digest,))
        if row is None:
            raise _rows.no_artifact_error(digest, self.location)
        return ArtifactRecord(digest, row[0], row[1])

    def artifact_records(self, digests: Sequence[str]) -> dict[str, ArtifactRecord]:
        found: dict[str, ArtifactRecord] = {}
        for start in range(0, len(digests), _BATCH):
            chunk = list(digests[start : start + _BATCH])
            where = self._artifacts_matching(len(chunk))
            sql = f"SELECT digest, codec, size FROM {where}"
            for key, codec, size in self._all(sql, tuple(chunk)):
                found[key] = ArtifactRecord(key, codec, size)
        return found

    def has_artifact(self, digest: str) -> bool:
        sql = f"SELECT 1 FROM {self._artifacts_matching(1)}"
        return self._one(sql, (digest,)) is not None

    def has_artifact_bytes(self, digest: str) -> bool:
        """Unverified, but a blob file of the wrong size or kind (truncated, a link) is not
        its bytes: storing them again replaces it."""
        sql = f"SELECT data IS NULL, size FROM {self._artifacts_matching(1)}"
        row = self._one(sql, (digest,))
        return row is not None and (not row[0] or self.blobs.holds(digest, row[1]))

    def artifact_producer(self, digest: str) -> Producer | None:
        row = self._one(
            f"SELECT producer_run, producer_idx, producer_name FROM {self._artifacts_matching(1)}",
            (digest,),
        )
        if row is None:
            raise _rows.no_artifact_error(digest, self.location)
        return _rows.producer_from_row(digest, row)
