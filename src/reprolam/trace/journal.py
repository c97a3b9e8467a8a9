"""The write-ahead journal: application-level group commit for the SQLite store.

A SQLite commit costs one WAL frame per B-tree page it touches (~45 µs per engine step on
a small VM). A ``record()`` call instead appends one checksummed frame to this process's
journal file with a single ``write()``; a batch of frames is then handed, with its journal
file, to the store's applier thread, which commits it to SQLite in one transaction and
removes the file (the next frames go to a new journal). Once ``write()`` returns the bytes
are in the kernel, so a record survives the process dying at any instant (SIGKILL
included) — the same durability class as SQLite's WAL with ``synchronous=NORMAL``; power
loss needs ``fsync=True``, which bypasses the journal.

Each journal file is ``flock``-ed by its writer. A journal whose lock can be taken belongs
to a dead process: the next store to open applies its complete frames (a torn last frame
is ignored: that ``record()`` never returned) and deletes it; journals are named by uuid7,
so a writer's several journals are recovered in the order they were written. Applying is idempotent
(steps are upserted, artifacts inserted once), so a journal applied in part before a
crash is simply applied again.
"""

from __future__ import annotations

import fcntl
import marshal
import os
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from reprolam.errors import ReprolamWarning, StoreError
from reprolam.ids import uuid7


class RecoveryWarning(ReprolamWarning):
    """Recovering a dead writer's journal found records it could not apply."""


_HEADER = struct.Struct("<II")  # payload length, crc32 of the payload
SUFFIX = ".journal"


def encode_frame(payload: Any) -> bytes:
    """One record() call's rows: only str/int/float/bytes/None in tuples and lists."""
    body = marshal.dumps(payload)
    return _HEADER.pack(len(body), zlib.crc32(body)) + body


class Journal:
    """This process's append-only journal file, locked while it is open."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / f"{uuid7()}{SUFFIX}"
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_EXCL, 0o644)
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def append(self, frame: bytes) -> None:
        written = os.write(self._fd, frame)
        if written != len(frame):  # pragma: no cover - a regular file writes whole frames
            raise StoreError(f"short write to journal {self.path}: disk full?")

    def close(self) -> None:
        """Remove the (applied) journal and release its lock."""
        self.path.unlink(missing_ok=True)
        os.close(self._fd)


def orphans(directory: Path) -> Iterator[tuple[Path, int]]:
    """Journals of dead writers, each yielded with its lock held (fd); the caller closes it."""
    if not directory.is_dir():
        return
    for path in sorted(directory.glob(f"*{SUFFIX}")):
        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:  # recovered by another process meanwhile
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # its writer is alive, or someone else is recovering it
            os.close(fd)
            continue
        if not path.exists():  # recovered and removed between our open and our lock
            os.close(fd)
            continue
        yield path, fd


def read_frames(path: Path) -> Iterator[Any]:
    """The complete frames of a journal, in order; stops at a torn or corrupt tail.

    A bad frame with more frames after it is no torn tail: those records were returned by
    ``record()``. ``StoreError`` then, so recovery keeps the journal and reports it instead
    of dropping them unseen.
    """
    data = path.read_bytes()
    offset = 0
    while offset + _HEADER.size <= len(data):
        length, crc = _HEADER.unpack_from(data, offset)
        end = offset + _HEADER.size + length
        body = data[offset + _HEADER.size : end]
        try:
            if len(body) != length or zlib.crc32(body) != crc:
                raise ValueError("checksum mismatch")
            frame = marshal.loads(body)
        except (EOFError, ValueError, TypeError) as exc:
            if end < len(data):
                raise StoreError(
                    f"journal {path.name}: the frame at byte {offset} is corrupt ({exc}) and "
                    f"{len(data) - end} bytes of frames follow it"
                ) from None
            return
        yield frame
        offset = end
