"""Streamed artifact writes and reads for the backends that keep large artifacts as blob files.

A file is hashed while it is copied into the blob directory (``BlobDir.put_stream``), and
only then is its row recorded, exactly as ``record`` does for any large artifact: bytes
before the row that references them. Reads stream the blob file and compare the digest
at the end. Memory stays at one chunk (``blobs.CHUNK``) whatever the file's size.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from blake3 import blake3

from reprolam.trace import _rows
from reprolam.trace.blobs import CHUNK, BlobDir, StoredBlob
from reprolam.trace.contract import TraceStore
from reprolam.trace.records import ArtifactRecord


class BlobDirStreams:
    """Mixed into a ``TraceStore`` with ``blobs``, ``record`` and ``_one`` (SQL backends)."""

    blobs: BlobDir
    PARAM: ClassVar[str]

    def _one(self, sql: str, params: tuple[Any, ...]) -> Any:
        raise NotImplementedError

    def _artifacts_matching(self, count: int) -> str:
        """FROM clause (after ``FROM``) of the artifact rows whose digests are the ``count``
        parameters (SQLite overrides it: it finds them through key tables). Selected columns
        must be artifact columns other than ``seq``."""
        if count == 1:
            return f"artifacts WHERE digest = {self.PARAM}"
        return f"artifacts WHERE digest IN ({', '.join([self.PARAM] * count)})"

    def put_file(
        self, path: str | os.PathLike[str], *, codec: str, prefix: bytes = b""
    ) -> ArtifactRecord:
        if os.path.getsize(path) < CHUNK:  # small: the ordinary path (maybe an inline row)
            return TraceStore.put_file(self, path, codec=codec, prefix=prefix)  # type: ignore[arg-type]
        key, size = self.blobs.put_file(path, prefix)
        record = ArtifactRecord(key, codec, size)
        self.record(artifacts=[(record, StoredBlob(size))])  # type: ignore[attr-defined]
        return record

    def artifact_to_file(
        self, digest: str, target: str | os.PathLike[str], *, skip: int = 0
    ) -> None:
        row = self._one(f"SELECT data FROM {self._artifacts_matching(1)}", (digest,))
        if row is None or row[0] is not None:  # unknown (raises) or inline: the plain way
            TraceStore.artifact_to_file(self, digest, target, skip=skip)  # type: ignore[arg-type]
            return
        path = self.blobs.path_of(digest)
        try:
            actual = self.blobs.copy_out(digest, target, skip)
        except BaseException:
            Path(target).unlink(missing_ok=True)
            raise
        if actual != digest:
            Path(target).unlink(missing_ok=True)
            self.blobs.found_damaged(digest)
            raise _rows.corrupt_artifact_error(digest, str(path), actual, blob=True)

    def artifact_chunks(self, digest: str) -> Iterator[bytes]:
        row = self._one(f"SELECT data FROM {self._artifacts_matching(1)}", (digest,))
        if row is None:
            raise _rows.no_artifact_error(digest, getattr(self, "location", "?"))
        if row[0] is not None:
            yield from TraceStore.artifact_chunks(self, digest)  # type: ignore[arg-type]
            return
        hasher = blake3(max_threads=blake3.AUTO)
        for chunk in self.blobs.chunks(digest):
            hasher.update(chunk)
            yield chunk
        actual = hasher.hexdigest()
        if actual != digest:
            self.blobs.found_damaged(digest)
            where = str(self.blobs.path_of(digest))
            raise _rows.corrupt_artifact_error(digest, where, actual, blob=True)
