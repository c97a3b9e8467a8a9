"""Run leases: how a store knows that a ``running`` run's process has died.

The process executing a run holds an exclusive ``flock`` on ``<store>/leases/<run_id>``
for as long as it runs. The kernel drops the lock when the process dies, however it dies
(SIGKILL included), so the next store to open finds running runs whose lease can be taken
and marks them ``interrupted``. The lease is taken before the run's record is written.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class Leases:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @contextmanager
    def hold(self, run_id: str) -> Iterator[None]:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / run_id
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            path.unlink(missing_ok=True)
            os.close(fd)

    def abandoned(self, run_id: str) -> bool:
        """True if the run was leased and nobody holds the lease any more (its process died).

        A run without a lease file was never executed by an engine (or finished cleanly).
        """
        try:
            fd = os.open(self.directory / run_id, os.O_RDONLY)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        finally:
            os.close(fd)
        return True

    def release(self, run_id: str) -> None:
        """Forget an abandoned lease once its run has been marked interrupted."""
        (self.directory / run_id).unlink(missing_ok=True)
