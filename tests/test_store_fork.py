"""A store does not cross os.fork() (``trace.forks``): the child's copy says so on every
call, names the fix, and touches nothing of the parent's, which records on."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from reprolam.errors import StoreError
from reprolam.testing.conformance import chain, make_step
from reprolam.trace import SQLiteStore
from reprolam.trace.contract import TraceStore
from reprolam.trace.journal import read_frames

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


def _in_forked_child(store: TraceStore, calls: list[Callable[[], object]]) -> list[str]:
    """Fork while the store's lock is held (as if a thread of the parent held it), run
    ``calls`` in the child and return what each was told (or "no error")."""
    read, write = os.pipe()
    with store._lock:  # type: ignore[attr-defined]
        pid = os.fork()
    if pid == 0:
        os.close(read)
        said = []
        for call in calls:
            try:
                call()
                said.append("no error")
            except StoreError as exc:
                said.append(str(exc))
        store.close()  # a no-op: nothing of the parent's is flushed, closed or removed
        os.write(write, "\n".join(said).encode())
        os._exit(0)
    os.close(write)
    deadline = time.monotonic() + 60
    while (done := os.waitpid(pid, os.WNOHANG))[0] == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    if done[0] == 0:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        pytest.fail("the forked child hung")
    said = os.read(read, 65536).decode().splitlines()
    os.close(read)
    return said


def _assert_refused(said: list[str], calls: int) -> None:
    assert len(said) == calls
    for message in said:
        assert f"was opened in process {os.getpid()}" in message
        assert "open the store again in this process" in message


def test_sqlite_a_forked_child_cannot_use_its_parents_store(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path)
    chain(store, "run-a", 2)
    store.flush()
    store.record(steps=[make_step("run-a", 2)])  # pending, in the parent's journal
    (journal,) = (tmp_path / "journal").iterdir()
    said = _in_forked_child(
        store,
        [lambda: store.record(steps=[make_step("run-a", 5)]), lambda: store.own_steps("run-a")],
    )
    _assert_refused(said, 2)
    assert [p.name for p in (tmp_path / "journal").iterdir()] == [journal.name]
    store.record(steps=[make_step("run-a", 3)])  # the journal map: nothing written over
    assert [row[1] for frame in read_frames(journal) for row in frame[0]] == [2, 3]
    store.close()
    with SQLiteStore(tmp_path) as reader:
        assert [s.index for s in reader.own_steps("run-a")] == [0, 1, 2, 3]


def test_postgres_a_forked_child_cannot_use_its_parents_store(pg_dsn: str, tmp_path: Path) -> None:
    from reprolam.trace.postgres import PostgresStore

    store = PostgresStore(pg_dsn, artifacts_dir=tmp_path / "artifacts")
    chain(store, "run-a", 2)
    said = _in_forked_child(
        store,
        [lambda: store.record(steps=[make_step("run-a", 5)]), lambda: store.own_steps("run-a")],
    )
    _assert_refused(said, 2)
    store.record(steps=[make_step("run-a", 2)])  # the parent's session is intact
    assert [s.index for s in store.own_steps("run-a")] == [0, 1, 2]
    store.close()
