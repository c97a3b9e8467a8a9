"""Run leases: how a store knows that a ``running`` run's process has died.

The process executing a run holds an exclusive ``flock`` on ``<store>/leases/<run_id>``
for as long as it runs. The kernel drops the lock when the process dies, however it dies
(SIGKILL included), so the next store to open finds running runs whose lease can be taken
and marks them ``interrupted``. The lease is taken before the run's record is written.

A lease is exclusive: a second process trying to execute the same run (two ``resume``s at
once) is refused instead of waiting and then running it again. When the run ends with an
exception the lease file is kept, so a run whose end could not be recorded (the store
failed too) is still recognized as abandoned once the process is gone.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from reprolam.errors import StoreError
from reprolam.hashing import digest
from reprolam.ids import names_a_file

EXTENSION = ".steps"  # after a lease file's name: a hand-built run's step count (extension)


class ExtensionCount:
    """How many steps a hand-built run had after the last step a process recorded in it:
    a number in a small file, read and written under its lock (``Leases.extension``)."""

    _WIDTH = 20  # digits, space-padded: a new count overwrites the old one whole

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def read(self) -> int | None:
        """The count, or None when no process has written one (or the file is damaged)."""
        text = os.pread(self._fd, self._WIDTH, 0).strip()
        return int(text) if text.isdigit() else None

    def write(self, count: int) -> None:
        os.pwrite(self._fd, f"{count:>{self._WIDTH}}".encode(), 0)


class Leases:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, run_id: str) -> Path:
        """The run's lease file: named by its id, or, for an id that is not a plain file name
        (``../trace.db``, from a hostile crate or a hand-made record), by the id's digest, so
        no lease ever leaves this directory (releasing one deletes it)."""
        if not names_a_file(run_id) or len(run_id) > 200:
            return self.directory / f"~{digest(run_id.encode('utf-8', 'surrogatepass'))}"
        return self.directory / run_id

    @contextmanager
    def hold(self, run_id: str) -> Iterator[None]:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.path(run_id)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise held_error(run_id, str(path)) from None
            yield
        except BaseException:
            os.close(fd)  # the lock goes with the fd; the file stays (see the docstring)
            raise
        path.unlink(missing_ok=True)
        os.close(fd)

    @contextmanager
    def claim(self, run_id: str) -> Iterator[bool]:
        """True, with the lease held, if the run was leased and its holder is gone.

        Held while the caller re-reads the run and marks it, so a run that finished (and
        released its lease) in the meantime is seen as finished, not marked.
        A run without a lease file was never executed by an engine (or finished cleanly).
        """
        try:
            fd = os.open(self.path(run_id), os.O_RDONLY)
        except FileNotFoundError:
            yield False
            return
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
            os.close(fd)

    @contextmanager
    def extension(self, run_id: str) -> Iterator[ExtensionCount]:
        """Held (waiting for it) while a process records the next steps of a run built by
        hand; the file beside the run's lease counts its steps (``SQLiteStore.extend_run``)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(f"{self.path(run_id)}{EXTENSION}", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # held for one record() call: a short wait at most
            yield ExtensionCount(fd)
        finally:
            os.close(fd)  # the lock goes with the fd

    def held(self) -> list[str]:
        """The lease files a live process holds (runs being executed now), by name."""
        names = []
        for path in sorted(self.directory.glob("*")) if self.directory.is_dir() else ():
            if path.name.endswith(EXTENSION):
                continue  # a hand-built run's step count, locked while a step is recorded
            try:
                fd = os.open(path, os.O_RDONLY)
            except OSError:  # released (and removed) meanwhile, or no file
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                names.append(path.name)
            finally:
                os.close(fd)  # a lock we took goes with it
        return names

    def release(self, run_id: str) -> None:
        """Forget an abandoned lease once its run has been marked interrupted."""
        self.path(run_id).unlink(missing_ok=True)


def held_error(run_id: str, where: str) -> StoreError:
    return StoreError(
        f"run {run_id} is being executed by another process (it holds the run's lease, "
        f"{where}): wait for it to end; a run is executed by one process at a time"
    )


def interrupted_reason(pid: int, host: str, verifies: str | None = None) -> str:
    """Why a run whose process ended is interrupted, and how to go on (``verifies``: the run
    a reproduction re-executes)."""
    return f"{abandoned_prefix(pid, host)} {go_on(None, verifies)}"


def abandoned_prefix(pid: int, host: str) -> str:
    """The start of ``interrupted_reason``'s text, which names the process."""
    return (
        f"interrupted: the process running it (pid {pid} on {host or '?'}) ended before the "
        "run finished;"
    )


def go_on(run_id: str | None, verifies: str | None) -> str:
    """How to go on with an unfinished run: resume it; a reproduction is not resumed (resume
    refuses it: its verdict compares every step of the original), its original is
    reproduced again."""
    if verifies:
        return (
            "it is a reproduction, which is not resumed: reproduce the original again, "
            f"`reprolam reproduce {verifies}`"
        )
    return f"continue it with `reprolam resume{f' {run_id}' if run_id else ''}`"
