"""A content-addressed blob directory: one immutable file per artifact, named by its digest.

Layout ``<path>/<digest[:2]>/<digest[2:]>`` keeps directories small. A file is written
under a temporary name in its final directory and renamed into place, so a reader (or a
crash) never sees a partly written blob. Whether the bytes match the digest is checked by
the store when it reads them, not here.

A blob already there is kept, unless it is plainly damaged: not a regular file (a link, a
FIFO), or not the size of the bytes being stored (truncated, emptied, appended to), or found
damaged by a read through this directory (``found_damaged``: an edit that kept the size).
Then the bytes being stored replace it, once they are checked to hash to its digest. Only
an ``lstat`` is added to storing bytes that are there already: a full comparison would read
every re-recorded blob again.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import stat
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

from blake3 import blake3

from reprolam.errors import IntegrityError, NotFoundError, StoreError
from reprolam.hashing import DIGEST_HEX_LEN
from reprolam.hashing import digest as hash_bytes

INLINE_MAX = 32 * 1024  # bytes; larger artifacts go to the blob directory (SQL backends)

_DIGEST = re.compile(rf"[0-9a-f]{{{DIGEST_HEX_LEN}}}")
_WRITE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
CHUNK = 4 << 20  # streaming reads and writes: bounded memory, large enough for disk speed
INCOMING = ".incoming"  # streamed blobs are written here, then renamed into their shard


class StoredBlob:
    """Stands for bytes already in a blob directory: ``record`` writes only the row.

    Its length is the artifact's size, so a backend choosing between inline rows and blob
    files picks the blob file, whose ``put`` then finds the file already there.
    """

    __slots__ = ("size",)

    def __init__(self, size: int) -> None:
        self.size = size

    def __len__(self) -> int:
        return self.size


def file_chunks(path: str | os.PathLike[str], prefix: bytes = b"") -> Iterator[bytes]:
    """``prefix`` then the file's bytes, in chunks of at most ``CHUNK``.

    One buffer is reused: a chunk is valid only until the next one is requested (consume
    it, never keep it).
    """
    if prefix:
        yield prefix
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as f:
        while True:
            n = f.readinto(buffer)
            if not n:
                return
            yield bytes(view[:n]) if n < CHUNK else view  # type: ignore[misc]


class BlobDir:
    """Artifact bytes stored as files named by their digest."""

    def __init__(self, path: str | os.PathLike[str], *, fsync: bool = False) -> None:
        self.path = Path(path)
        self.fsync = fsync
        self._damaged: set[str] = set()  # digests a read found damaged: rewritten when put

    def found_damaged(self, digest: str) -> None:
        """A read found this blob's bytes damaged: the next store of its bytes replaces it."""
        self._damaged.add(digest)

    def holds(self, digest: str, size: int) -> bool:
        """Whether the blob of ``digest`` is there and, as far as one ``lstat`` tells (its
        kind and ``size``) and no read found otherwise, intact."""
        return self._holds(self.path_of(digest), digest, size)

    def _holds(self, final: Path, digest: str, size: int) -> bool:
        """Whether ``final`` is there and, as far as is known without reading it, intact."""
        try:
            found = os.lstat(final)
        except OSError:  # nothing there (or not reachable: writing it says why)
            return False
        if stat.S_ISDIR(found.st_mode):
            raise StoreError(
                f"artifact {digest}'s blob {final} is a directory: the artifacts directory was "
                "tampered with; remove that directory so the artifact can be stored again"
            )
        return stat.S_ISREG(found.st_mode) and found.st_size == size and digest not in self._damaged

    def path_of(self, digest: str) -> Path:
        """Where the blob for ``digest`` lives (whether or not it exists)."""
        if not _DIGEST.fullmatch(digest):
            raise StoreError(
                f"{digest!r} is not an artifact digest: expected {DIGEST_HEX_LEN} lowercase "
                "hex characters (BLAKE3), as recorded in the trace"
            )
        return self.path / digest[:2] / digest[2:]

    def exists(self, digest: str) -> bool:
        return self.path_of(digest).is_file()

    def put(self, digest: str, data: bytes) -> Path:
        """Store ``data`` under ``digest`` atomically; an intact blob already there is kept
        (content-addressed: the same name holds the same bytes), a damaged one replaced."""
        final = self.path_of(digest)
        if self._holds(final, digest, len(data)):
            return final
        if os.path.lexists(final) and (isinstance(data, StoredBlob) or hash_bytes(data) != digest):
            return final  # a repair only with the digest's own bytes (rare: hashed here)
        shard = final.parent
        tmp = shard / f".{digest[2:]}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        try:
            try:
                fd = os.open(tmp, _WRITE_FLAGS, 0o666)
            except FileNotFoundError:
                shard.mkdir(parents=True, exist_ok=True)
                fd = os.open(tmp, _WRITE_FLAGS, 0o666)
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                    if self.fsync:
                        f.flush()
                        os.fsync(f.fileno())
                os.replace(tmp, final)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
            if self.fsync:
                _fsync_dir(shard)
        except OSError as exc:
            raise StoreError(
                f"cannot write artifact {digest} to {final}: {exc.strerror or exc}: "
                f"check free space and write permission on {self.path}"
            ) from exc
        return final

    def put_stream(self, chunks: Iterable[bytes]) -> tuple[str, int]:
        """Store a stream of bytes without holding it: hashed while written, then renamed.

        Returns ``(digest, size)``. If a blob with that digest exists, the copy is dropped.
        """
        incoming = self.path / INCOMING
        incoming.mkdir(parents=True, exist_ok=True)
        tmp = incoming / f"{os.getpid()}.{secrets.token_hex(8)}.tmp"
        hasher = blake3(max_threads=blake3.AUTO)
        size = 0
        try:
            fd = os.open(tmp, _WRITE_FLAGS, 0o666)
            with os.fdopen(fd, "wb", buffering=0) as f:
                for chunk in chunks:
                    hasher.update(chunk)
                    f.write(chunk)
                    size += len(chunk)
                if self.fsync:
                    os.fsync(f.fileno())
            key = hasher.hexdigest()
            final = self.path_of(key)
            if self._holds(final, key, size):
                tmp.unlink()
                return key, size
            self._place(tmp, key)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise StoreError(
                f"cannot write a streamed artifact to {self.path}: {exc.strerror or exc}: "
                "check free space and write permission"
            ) from exc
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return key, size

    def put_file(self, source: str | os.PathLike[str], prefix: bytes = b"") -> tuple[str, int]:
        """Store ``prefix`` + a file's bytes: ``(digest, size)``, at close to ``cp`` speed.

        The kernel copies the file (``copy_file_range``, no user-space buffer) in a thread
        while this one hashes it chunk by chunk: two passes over the page cache in parallel
        instead of one hash-then-write loop. Memory stays at one chunk. If the file changes
        while it is stored, the blob will not match its name and every read refuses it.
        """
        incoming = self.path / INCOMING
        incoming.mkdir(parents=True, exist_ok=True)
        tmp = incoming / f"{os.getpid()}.{secrets.token_hex(8)}.tmp"
        failure: list[BaseException] = []

        def copy() -> None:
            try:
                with open(source, "rb") as src, open(tmp, "xb") as out:
                    out.write(prefix)
                    out.flush()
                    _kernel_copy(src.fileno(), out.fileno())
                    if self.fsync:
                        os.fsync(out.fileno())
            except BaseException as exc:  # reported by the caller's thread
                failure.append(exc)

        copier = threading.Thread(target=copy, name="reprolam-blob-copy")
        copier.start()
        hasher = blake3(max_threads=blake3.AUTO)
        size = 0
        try:
            for chunk in file_chunks(source, prefix):
                hasher.update(chunk)
                size += len(chunk)
        finally:
            copier.join()
        try:
            if failure:
                raise failure[0]
            if tmp.stat().st_size != size:
                raise StoreError(f"{source} changed while it was stored: store it again")
            key = hasher.hexdigest()
            final = self.path_of(key)
            if self._holds(final, key, size):
                tmp.unlink()
                return key, size
            self._place(tmp, key)
        except OSError as exc:
            raise StoreError(
                f"cannot store {source} in {self.path}: {exc.strerror or exc}: "
                "check free space and write permission"
            ) from exc
        finally:
            tmp.unlink(missing_ok=True)
        return key, size

    def _place(self, tmp: Path, digest: str) -> None:
        """Rename a verified streamed copy into place (replacing a damaged blob, if any)."""
        final = self.path_of(digest)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, final)
        self._damaged.discard(digest)
        if self.fsync:
            _fsync_dir(final.parent)

    def copy_out(self, digest: str, target: str | os.PathLike[str], skip: int = 0) -> str:
        """Copy a blob (from byte ``skip``) to a new file while hashing it; the actual digest.

        As in ``put_file``, the kernel copies in a thread while this thread hashes.
        """
        source = self.chunks(digest)  # NotFoundError if absent
        path = self.path_of(digest)
        failure: list[BaseException] = []

        def copy() -> None:
            try:
                with open(path, "rb") as src, open(target, "xb") as out:
                    src.seek(skip)
                    _kernel_copy(src.fileno(), out.fileno())
            except BaseException as exc:
                failure.append(exc)

        copier = threading.Thread(target=copy, name="reprolam-blob-copy")
        copier.start()
        hasher = blake3(max_threads=blake3.AUTO)
        try:
            for chunk in source:
                hasher.update(chunk)
        finally:
            copier.join()
        if failure:
            raise failure[0]
        return str(hasher.hexdigest())

    def chunks(self, digest: str) -> Iterator[bytes]:
        """The blob's bytes in chunks (unverified: the caller hashes them); ``NotFoundError``."""
        path = self.path_of(digest)
        if not path.is_file():
            raise NotFoundError(
                f"artifact {digest} has no blob file at {path}: the artifacts directory "
                "was moved or damaged; restore it or point {artifacts} at it"
            )
        return file_chunks(path)

    def get(self, digest: str, limit: int | None = None) -> bytes:
        """The blob's bytes (with ``limit``, at most ``limit + 1`` of them: enough to tell a
        blob bigger than recorded); ``NotFoundError`` (naming digest and path) if there is
        no file, ``IntegrityError`` if it is not a regular file.

        Opened without blocking and checked before reading: a FIFO put in its place would
        wait forever for a writer, a symlink to ``/dev/zero`` would never end.
        """
        path = self.path_of(digest)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
            with os.fdopen(fd, "rb") as f:
                if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                    raise IntegrityError(
                        f"artifact {digest}'s blob {path} is not a regular file (a FIFO, device "
                        "or directory was put in its place): the artifacts directory was "
                        "tampered with; restore the blob from a copy"
                    )
                return f.read() if limit is None else f.read(limit + 1)
        except FileNotFoundError:
            raise NotFoundError(
                f"artifact {digest} has no blob file at {path}: the artifacts directory "
                "was moved or damaged; restore it or point {artifacts} at it"
            ) from None
        except OSError as exc:
            raise StoreError(
                f"cannot read artifact {digest} from {path}: {exc.strerror or exc}: "
                "check read permission on the artifacts directory"
            ) from exc


def _kernel_copy(src: int, dst: int) -> None:
    """Copy the rest of ``src`` into ``dst`` in the kernel where possible."""
    try:
        while os.copy_file_range(src, dst, 1 << 30):
            pass
    except (AttributeError, OSError):  # another OS or file system: a buffered copy
        with open(src, "rb", closefd=False) as fin, open(dst, "wb", closefd=False) as fout:
            shutil.copyfileobj(fin, fout, CHUNK)


def _fsync_dir(path: Path) -> None:
    """Make a rename survive power loss (POSIX; a no-op where directories cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
