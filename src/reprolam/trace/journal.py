"""The write-ahead journal: application-level group commit for the SQLite store.

A SQLite commit costs one WAL frame per B-tree page it touches (~45 µs per engine step on
a small VM). A ``record()`` call instead appends one checksummed frame to this process's
journal file; a batch of frames is then handed, with its journal file, to the store's
applier thread, which commits it to SQLite in one transaction and removes the file (the next
frames go to a new journal).

The journal file is allocated ahead (``posix_fallocate``: a full disk is a ``StoreError``
when it is allocated, never a ``SIGBUS`` when the map is written) and mapped shared into
memory: appending a frame is two copies into the kernel's page cache, its header first (see
``Journal.append``), with no system call (a ``write()`` per frame cost 5-10 % of a recorded
step on a 2-core VM, in part by handing the GIL to the applier thread; where a file system
cannot map the file, each frame is one ``pwrite`` into it instead). The rest of the file is
zeros: a zero header ends the frames, and a frame cut short (the writer killed inside its
copy) fails its checksum with nothing but zeros after it. Once ``append`` returns the bytes
are in the kernel, so a record survives the process dying at any instant (SIGKILL included)
— the same durability class as SQLite's WAL with ``synchronous=NORMAL``; power loss needs
``fsync=True``, which bypasses the journal.

Each journal file is ``flock``-ed by its writer. A journal whose lock can be taken belongs
to a dead process: the next store to open applies its complete frames (a torn last frame
is ignored: that ``record()`` never returned) and deletes it; journals are named by uuid7,
so a writer's several journals are recovered in the order they were written. Applying is idempotent
(steps are upserted, artifacts inserted once), so a journal applied in part before a
crash is simply applied again.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import marshal
import mmap
import os
import struct
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from reprolam.errors import ReprolamWarning, StoreError
from reprolam.ids import uuid7


class RecoveryWarning(ReprolamWarning):
    """Recovering a dead writer's journal found records it could not apply."""


_HEADER = struct.Struct("<II")  # payload length, crc32 of the payload
SUFFIX = ".mjournal"  # a journal written through a map (see above)
# The journals recovered: also "*.journal", written with write() by reprolam before 2026-12
# (no zeros after the frames). Its recovery reads the zeros as a corrupt frame, so mapped
# journals have their own suffix: an older version opening the store leaves them alone.
SUFFIXES = (SUFFIX, ".journal")
MAKING = ".making"  # after a journal's name while it is made (see Journal)
_STALE = 60.0  # seconds after which a journal left half made by a crash is removed


def encode_frame(payload: Any) -> bytes:
    """One record() call's rows: only str/int/float/bytes/None in tuples and lists."""
    body = marshal.dumps(payload)
    return _HEADER.pack(len(body), zlib.crc32(body)) + body


class Journal:
    """This process's append-only journal file, locked while it is open (see above)."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / f"{uuid7()}{SUFFIX}"
        # Made under another name and named a journal only once locked: recovery by another
        # process takes every journal it can lock, and would take (and remove) this one.
        making = self.path.with_name(self.path.name + MAKING)
        self._fd = os.open(making, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            _allocate(self._fd, 0, _CHUNK, self.path)
            self._map = _shared_map(self._fd, _CHUNK)
            os.rename(making, self.path)
        except BaseException:
            making.unlink(missing_ok=True)
            os.close(self._fd)
            raise
        self._size = _CHUNK  # bytes allocated
        self._end = 0  # where the next frame goes, when there is no map

    def append(self, frame: bytes) -> None:
        """Append one ``encode_frame`` result: its header, then its body, copied into the map.

        Two copies, in that order. One copy of the whole frame stores its bytes in the order
        ``memcpy`` chooses, which is not ascending (for a frame of a few hundred bytes glibc
        stores the first 32 bytes last), and a writer is killed inside a copy more often than
        its length suggests: when its copy first touches a page of the map, the fault is where a
        pending SIGKILL lands. A header stored last left a frame's middle after a zero header,
        which recovery must take for damage (the whole journal was then set aside, records
        that ``record()`` had returned included). With the header stored first, a copy cut
        short leaves a header whose body fails its checksum, with zeros after it: a torn tail.
        """
        journal = self._map
        if journal is None:
            self._write(frame)  # one pwrite: the kernel copies it in ascending order
            return
        end = journal.tell() + len(frame)
        if end > self._size:  # allocated before either copy: a full disk writes nothing
            self._grow(end)
        view = memoryview(frame)
        journal.write(view[: _HEADER.size])
        journal.write(view[_HEADER.size :])

    def _write(self, frame: bytes) -> None:
        """Where the file system cannot map the file: one ``pwrite`` at the end."""
        end = self._end + len(frame)
        if end > self._size:
            self._grow(end)
        if os.pwrite(self._fd, frame, self._end) != len(frame):  # pragma: no cover
            raise StoreError(f"short write to journal {self.path}: disk full?")
        self._end = end

    def _grow(self, needed: int) -> None:
        size = max(2 * self._size, needed + _CHUNK)
        _allocate(self._fd, self._size, size - self._size, self.path)
        if self._map is not None:
            self._map.resize(size)
        self._size = size

    def close(self) -> None:
        """Remove the (applied) journal and release its lock."""
        self.path.unlink(missing_ok=True)
        if self._map is not None:
            self._map.close()
        os.close(self._fd)


def _shared_map(fd: int, size: int) -> mmap.mmap | None:
    """The file mapped shared, or None where its file system cannot (some FUSE mounts)."""
    try:
        return mmap.mmap(fd, size)
    except OSError:
        return None


_CHUNK = 1 << 20  # bytes allocated at a time: 512 frames of a trivial step take ~0.4 MiB


def _allocate(fd: int, offset: int, length: int, path: Path) -> None:
    """Reserve disk blocks for a journal region, so writing it through the map cannot fail."""
    try:
        try:
            os.posix_fallocate(fd, offset, length)
        except (AttributeError, OSError) as exc:  # macOS has none; some file systems refuse
            if isinstance(exc, OSError) and exc.errno not in _UNSUPPORTED:
                raise
            os.pwrite(fd, bytes(length), offset)  # zeros written reserve the blocks as well
    except OSError as exc:
        raise StoreError(
            f"cannot allocate {length} bytes for journal {path}: {exc.strerror or exc} (disk "
            "full?): free some space and record again; everything recorded before is kept"
        ) from exc


_UNSUPPORTED = {errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS}


def orphans(directory: Path) -> Iterator[tuple[Path, int]]:
    """Journals of dead writers, each yielded with its lock held (fd); the caller closes it.

    Journals left half made by a crash (they hold no frame: a journal is named before its
    first frame) are removed once they are old enough that no writer is still making them.
    """
    if not directory.is_dir():
        return
    for path in directory.glob(f"*{MAKING}"):
        with contextlib.suppress(OSError):
            if path.stat().st_mtime < time.time() - _STALE:
                path.unlink()
    for path in journal_files(directory):
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


def journal_files(directory: Path) -> list[Path]:
    """The journals in ``directory``, oldest first (named by uuid7)."""
    return sorted(
        (path for suffix in SUFFIXES for path in directory.glob(f"*{suffix}")),
        key=lambda path: path.stem,
    )


def has_frames(path: Path) -> bool:
    """Whether a journal holds a frame (its first header is set; a new one is all zeros)."""
    try:
        with path.open("rb") as f:
            return any(f.read(_HEADER.size))
    except FileNotFoundError:  # applied and removed meanwhile
        return False


def read_frames(path: Path) -> Iterator[Any]:
    """The complete frames of a journal, in order; stops at the zeros after the last one, or
    at a torn or corrupt tail.

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
        if len(body) != length and path.suffix == SUFFIX:
            # A frame's room is allocated before it is copied in (see ``Journal.append``), so
            # no crash leaves one running past the end of the file: the file was cut short,
            # or the frame's header was damaged.
            raise StoreError(
                f"journal {path.name}: the frame at byte {offset} runs past the end of the "
                f"file ({len(body)} of its {length} bytes are there): the file was cut short "
                "or the frame's header damaged"
            )
        try:
            if length == 0:
                raise ValueError("no frame")
            if len(body) != length or zlib.crc32(body) != crc:
                raise ValueError("checksum mismatch")
            frame = marshal.loads(body)
        except (EOFError, ValueError, TypeError) as exc:
            following = len(data[end:].rstrip(b"\0"))  # the allocated rest is zeros
            if following:
                raise StoreError(
                    f"journal {path.name}: the frame at byte {offset} is corrupt ({exc}) and "
                    f"{following} bytes of frames follow it"
                ) from None
            return
        yield frame
        offset = end
