"""The SQLite store's batches applied in a helper process, beside the recording one.

Applying a batch (binding every value of its rows in ``sqlite3``, then SQLite's B-tree and
WAL work) is about 80,000 instructions per recorded step. In a thread of the recording
process it costs the recording thread nearly all of that time on two cores (measured:
waiting for every batch reads the same as overlapping them). A helper process applies the
same journal files (they are already the hand-off: a batch is complete, and its file is
named, when it is handed off) with its own connection, on the other core.

The helper is started by the first full batch (a long run; short ones never pay for a
process); while it opens the store, batches wait for it (``sqlite.HELPER_QUEUE``). If it
cannot be started, does not open the store within ``sqlite.HELPER_START`` or dies, the
applier thread applies them itself, as before (a batch is applied idempotently, so one the
helper committed before dying is simply applied again).
It reads requests on its stdin and answers on its stdout; it ends when its stdin closes,
which happens when the store closes or the recording process dies.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import select
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

from reprolam import errors
from reprolam.errors import ReprolamError, StoreError

_LENGTH = struct.Struct("<I")
_READY = b"R"
_BOOT = "from reprolam.trace._apply_process import serve; serve()"


def helper_wanted() -> bool:
    """Whether batches may be applied in a helper process: not where ``REPROLAM_APPLY_HELPER``
    is ``0``, nor with one CPU to run on (the helper would only compete with recording)."""
    if os.environ.get("REPROLAM_APPLY_HELPER", "1").strip() == "0":
        return False
    try:
        return len(os.sched_getaffinity(0)) > 1
    except AttributeError:  # not Linux
        return (os.cpu_count() or 1) > 1


class HelperGone(Exception):
    """The helper process ended (or never started): apply in this process instead."""


class ApplyHelper:
    """The helper process of one store (``start``), used by its applier thread only."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self._process = process
        self._started = time.monotonic()
        self._ready = False
        self._asking = threading.Lock()  # one reader of the readiness byte at a time

    @classmethod
    def start(cls, directory: Path, artifacts: Path) -> ApplyHelper | None:
        """A helper for the store in ``directory``, starting (never waits); None if no
        process can be started here."""
        env = dict(os.environ)
        root = str(Path(__file__).resolve().parents[2])  # reprolam importable as here
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        try:
            process = subprocess.Popen(
                [sys.executable, "-c", _BOOT, str(directory), str(artifacts)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env=env,
                start_new_session=True,  # a Ctrl-C in the terminal is for the recording process
            )
        except (OSError, ValueError, TypeError):  # no executable here (embedded), no fork
            return None
        return cls(process)

    def wait_ready(self, timeout: float) -> None:
        """Return once the helper has opened the store; ``HelperGone`` if it ended first or
        took longer than ``timeout`` seconds from its start."""
        with self._asking:
            if self._ready:
                return
            out = self._out()
            left = self._started + timeout - time.monotonic()
            if left <= 0 or not select.select([out], [], [], left)[0]:
                raise HelperGone
            if out.read(1) != _READY:
                raise HelperGone
            self._ready = True

    def apply(self, journal: Path, snapshots: list[tuple[Any, ...]]) -> None:
        """Apply a handed-off batch (its journal file, then its run-state snapshots) and wait.

        Raises what applying raised in the helper (a ``ReprolamError``), ``HelperGone`` if
        the helper ended before answering.
        """
        request = pickle.dumps((str(journal), snapshots), protocol=pickle.HIGHEST_PROTOCOL)
        try:
            stdin = self._process.stdin
            assert stdin is not None
            stdin.write(_LENGTH.pack(len(request)) + request)
            stdin.flush()
        except (OSError, ValueError) as exc:
            raise HelperGone from exc
        reply = _read(self._out())
        if reply is None:
            raise HelperGone
        failure = pickle.loads(reply)  # our own helper's answer
        if failure is not None:
            raise _rebuilt(*failure)

    def close(self) -> None:
        """End the helper (it finishes the request in hand first) and reap it."""
        with contextlib.suppress(OSError, ValueError):
            if self._process.stdin is not None:
                self._process.stdin.close()
        try:
            self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()

    def _out(self) -> IO[bytes]:
        out = self._process.stdout
        assert out is not None
        return out


def _rebuilt(name: str, message: str) -> ReprolamError:
    """The helper's error as this process raises it: the same class where it is one of
    reprolam's errors taking a message, else a ``StoreError``."""
    kind = getattr(errors, name, None)
    if isinstance(kind, type) and issubclass(kind, ReprolamError):
        with contextlib.suppress(Exception):
            return kind(message)
    return StoreError(message)


def _read(stream: IO[bytes]) -> bytes | None:
    """One length-prefixed message, or None at the end of the stream."""
    head = stream.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        return None
    (length,) = _LENGTH.unpack(head)
    body = stream.read(length)
    return body if len(body) == length else None


def serve() -> None:
    """The helper's main: open the store, say so, then apply each requested batch."""
    from reprolam.trace.journal import read_frames
    from reprolam.trace.sqlite import SQLiteStore, _as_frame

    class HelperStore(SQLiteStore):
        """The store as the helper opens it: it applies what it is handed and nothing else.
        Recovering dead writers' journals is for the stores users open: a helper that
        outlived its writer would otherwise recover the writer's journals itself, while
        the user's next open skips them as being recovered."""

        def _recover_orphan_journals(self) -> bool:
            return False  # and so no marking either

    directory, artifacts = sys.argv[1:3]
    requests = sys.stdin.buffer
    replies = os.fdopen(os.dup(1), "wb")  # what anything else prints goes to stderr instead
    os.dup2(2, 1)
    store = HelperStore(directory, artifacts_dir=artifacts)
    replies.write(_READY)
    replies.flush()
    while (request := _read(requests)) is not None:
        path, snapshots = pickle.loads(request)  # from the process that started us
        failure: tuple[str, str] | None = None
        try:
            store._apply_batch([_as_frame(frame) for frame in read_frames(Path(path))], snapshots)
        except Exception as exc:  # as the applier thread reports it
            error = store._batch_failure(exc)
            failure = (type(error).__name__, str(error))
        reply = pickle.dumps(failure)
        replies.write(_LENGTH.pack(len(reply)) + reply)
        replies.flush()
    store.close()
