"""A content-addressed blob directory: one immutable file per artifact, named by its digest.

Layout ``<path>/<digest[:2]>/<digest[2:]>`` keeps directories small. A file is written
under a temporary name in its final directory and renamed into place, so a reader (or a
crash) never sees a partly written blob. Whether the bytes match the digest is checked by
the store when it reads them, not here.
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

from reprolam.errors import NotFoundError, StoreError
from reprolam.hashing import DIGEST_HEX_LEN

INLINE_MAX = 32 * 1024  # bytes; larger artifacts go to the blob directory (SQL backends)

_DIGEST = re.compile(rf"[0-9a-f]{{{DIGEST_HEX_LEN}}}")
_WRITE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)


class BlobDir:
    """Artifact bytes stored as files named by their digest."""

    def __init__(self, path: str | os.PathLike[str], *, fsync: bool = False) -> None:
        self.path = Path(path)
        self.fsync = fsync

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
        """Store ``data`` under ``digest`` atomically; a blob that already exists is kept."""
        final = self.path_of(digest)
        if final.exists():  # content-addressed: the same name always holds the same bytes
            return final
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

    def get(self, digest: str) -> bytes:
        """The blob's bytes; ``NotFoundError`` (naming digest and path) if there is no file."""
        path = self.path_of(digest)
        try:
            return path.read_bytes()
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
