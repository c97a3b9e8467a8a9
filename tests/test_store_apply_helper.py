"""Long runs' batches applied by a helper process (``trace._apply_process``): same records,
no lost step when either process dies, and the helper never outlives its store."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from reprolam.errors import StoreError
from reprolam.testing.conformance import make_run, make_step
from reprolam.trace import SQLiteStore, StepStatus
from reprolam.trace._apply_process import ApplyHelper
from reprolam.trace.sqlite import MAX_PENDING


def _record(store: SQLiteStore, run_id: str, start: int, stop: int) -> None:
    for index in range(start, stop):
        store.record(steps=[make_step(run_id, index)])


def _wait_ready(store: SQLiteStore) -> ApplyHelper:
    """Until the store's helper has opened the store (started by the first full batch)."""
    deadline = time.monotonic() + 60
    while (helper := store._helper) is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert helper is not None, "the apply helper did not start"
    helper.wait_ready(60)
    return helper


def _alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (a zombie nobody has reaped yet does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_a_long_runs_batches_are_applied_by_the_helper_and_it_ends_with_the_store(
    tmp_path: Path,
) -> None:
    store = SQLiteStore(tmp_path)
    store.create_run(make_run("run-a"))
    _record(store, "run-a", 0, MAX_PENDING)  # the first full batch starts the helper
    helper = _wait_ready(store)
    _record(store, "run-a", MAX_PENDING, 4 * MAX_PENDING + 5)
    store.flush()
    assert store._helper is helper  # it applied the batches, never failing
    recorded = store.own_steps("run-a")
    assert [s.index for s in recorded] == list(range(4 * MAX_PENDING + 5))
    assert all(s.status is StepStatus.SUCCEEDED for s in recorded)
    store.close()
    assert helper._process.poll() is not None  # ended and reaped by close()
    assert list((tmp_path / "journal").iterdir()) == []


def test_a_helper_that_dies_is_replaced_by_the_applier_thread(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path)
    store.create_run(make_run("run-a"))
    _record(store, "run-a", 0, MAX_PENDING)
    helper = _wait_ready(store)
    helper._process.kill()
    helper._process.wait()
    _record(store, "run-a", MAX_PENDING, 3 * MAX_PENDING)
    store.flush()
    assert store._helper is None
    assert [s.index for s in store.own_steps("run-a")] == list(range(3 * MAX_PENDING))
    store.close()


def test_a_failure_in_the_helper_is_reported_by_the_next_call(tmp_path: Path) -> None:
    """A batch the helper cannot apply (its run was deleted behind the store's back): the
    next call that waits for it says what failed, and nothing before it is lost."""
    import sqlite3

    store = SQLiteStore(tmp_path)
    store.create_run(make_run("run-a"))
    _record(store, "run-a", 0, MAX_PENDING)
    _wait_ready(store)
    store.flush()
    store.create_run(make_run("run-b"))
    store.record(steps=[make_step("run-b", 0)])  # run-b is known to the store now
    store.flush()
    with sqlite3.connect(tmp_path / "trace.db") as other:
        other.execute("PRAGMA foreign_keys = OFF")
        other.execute("DELETE FROM steps WHERE run_id = 'run-b'")
        other.execute("DELETE FROM runs WHERE id = 'run-b'")
    _record(store, "run-b", 1, MAX_PENDING + 1)  # a full batch, for the helper
    with pytest.raises(StoreError, match="FOREIGN KEY constraint failed"):
        store.flush()
    with pytest.raises(StoreError, match="FOREIGN KEY"):  # tried again, failing again
        store.close()
    with sqlite3.connect(tmp_path / "trace.db") as other:
        (count,) = other.execute("SELECT count(*) FROM steps WHERE run_id = 'run-a'").fetchone()
    assert count == MAX_PENDING
    assert any((tmp_path / "journal").iterdir())  # the unapplied batch, kept for recovery


_WRITER = """
import os, signal, sys, time
sys.path.insert(0, {tests!r})
from reprolam.testing.conformance import make_run, make_step
from reprolam.trace import SQLiteStore
from reprolam.trace.sqlite import MAX_PENDING

store = SQLiteStore(sys.argv[1])
store.create_run(make_run("victim"))
for index in range(MAX_PENDING):
    store.record(steps=[make_step("victim", index)])
deadline = time.monotonic() + 60
while store._helper is None:  # started by the full batch
    assert time.monotonic() < deadline
    time.sleep(0.001)
if {ready}:
    store._helper.wait_ready(60)
print(store._helper._process.pid, flush=True)
for index in range(MAX_PENDING, {steps}):
    store.record(steps=[make_step("victim", index)])
os.kill(os.getpid(), signal.SIGKILL)  # batches in flight, in the helper or queued
"""


def _killed_writer(store: Path, steps: int, *, ready: bool) -> None:
    """Record ``steps`` steps in a process that is then SIGKILLed, and wait for its helper
    to end. ``ready``: the writer waits for the helper to open the store first."""
    script = _WRITER.format(tests=str(Path(__file__).parent), ready=ready, steps=steps)
    command = [sys.executable, "-c", script, str(store)]
    proc = subprocess.run(command, check=False, capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    helper = int(proc.stdout.split()[0])
    deadline = time.monotonic() + 30
    while _alive(helper) and time.monotonic() < deadline:  # its stdin closed with the writer
        time.sleep(0.05)
    assert not _alive(helper)


def test_a_killed_writer_loses_nothing_and_its_helper_ends(tmp_path: Path) -> None:
    _killed_writer(tmp_path, 5 * MAX_PENDING + 7, ready=True)
    with SQLiteStore(tmp_path) as store:
        recorded = store.own_steps("victim")
        assert [s.index for s in recorded] == list(range(5 * MAX_PENDING + 7))
    assert list((tmp_path / "journal").iterdir()) == []


def test_no_helper_when_turned_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPROLAM_APPLY_HELPER", "0")
    with SQLiteStore(tmp_path) as store:
        store.create_run(make_run("run-a"))
        _record(store, "run-a", 0, 3 * MAX_PENDING)
        store.flush()
        assert store._helper is None
        assert len(store.own_steps("run-a")) == 3 * MAX_PENDING


def test_batches_wait_for_a_starting_helper_instead_of_being_applied_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the helper starts, full batches queue for it (up to HELPER_QUEUE): the
    applier thread applies none of them itself."""
    import threading

    from reprolam.trace import sqlite

    applied_here = []
    real_apply = SQLiteStore._apply

    def counted(self: SQLiteStore, frames: object, steps: object = ()) -> None:
        if threading.current_thread() is not threading.main_thread():
            applied_here.append(len(frames))  # type: ignore[arg-type]
        real_apply(self, frames, steps)  # type: ignore[arg-type]

    monkeypatch.setattr(SQLiteStore, "_apply", counted)
    with SQLiteStore(tmp_path) as store:
        store.create_run(make_run("run-a"))
        _record(store, "run-a", 0, (sqlite.HELPER_QUEUE - 1) * MAX_PENDING)
        store.flush()
        assert store._helper is not None
        assert applied_here == []
        assert len(store.own_steps("run-a")) == (sqlite.HELPER_QUEUE - 1) * MAX_PENDING


def test_a_helper_that_does_not_open_the_store_in_time_is_given_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reprolam.trace import sqlite

    monkeypatch.setattr(sqlite, "HELPER_START", 0.0)
    with SQLiteStore(tmp_path) as store:
        store.create_run(make_run("run-a"))
        _record(store, "run-a", 0, 3 * MAX_PENDING)
        store.flush()
        assert store._helper is None  # given up (and reaped); the thread applied the batches
        assert len(store.own_steps("run-a")) == 3 * MAX_PENDING


def test_a_helper_that_outlives_its_writer_leaves_the_writers_journals_to_the_next_open(
    tmp_path: Path,
) -> None:
    """A writer can die before its helper has even opened the store. The helper must not
    recover the dead writer's journals itself: the user's next open would skip them as
    being recovered by someone else and show the run without its last steps."""
    _killed_writer(tmp_path, 2 * MAX_PENDING + 9, ready=False)  # its helper opens, then ends
    assert any((tmp_path / "journal").iterdir())  # left for the next open
    with SQLiteStore(tmp_path) as store:
        recorded = store.own_steps("victim")
        assert [s.index for s in recorded] == list(range(2 * MAX_PENDING + 9))
    assert list((tmp_path / "journal").iterdir()) == []


def test_a_read_after_a_few_records_applies_them_itself_not_through_the_helper(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fork or a new run reads right after writing a frame or two: a round trip to the
    helper process (and its wake-ups on a busy machine) cost milliseconds for microseconds
    of work."""
    store = SQLiteStore(tmp_path)
    store.create_run(make_run("run-a"))
    _record(store, "run-a", 0, MAX_PENDING)
    helper = _wait_ready(store)
    store.flush()
    handed: list[Path] = []
    real_apply = helper.apply
    monkeypatch.setattr(
        helper, "apply", lambda path, rows: handed.append(path) or real_apply(path, rows)
    )
    _record(store, "run-a", MAX_PENDING, MAX_PENDING + 3)
    assert [s.index for s in store.own_steps("run-a")][-3:] == [MAX_PENDING + i for i in range(3)]
    assert handed == []
    assert list((tmp_path / "journal").iterdir()) == []  # applied, so its journal is gone
    _record(store, "run-a", MAX_PENDING + 3, 2 * MAX_PENDING + 3)  # a full batch still goes
    store.flush()
    assert len(handed) == 1
    store.close()


def test_a_few_records_that_fail_to_apply_on_read_stay_pending_and_apply_later(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SQLiteStore(tmp_path)
    store.create_run(make_run("run-a"))
    _record(store, "run-a", 0, 2)
    real_apply = store._apply
    monkeypatch.setattr(store, "_apply", lambda frames: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(StoreError, match="disk full"):
        store.own_steps("run-a")
    assert len(list((tmp_path / "journal").iterdir())) == 1  # its journal is kept
    monkeypatch.setattr(store, "_apply", real_apply)
    assert [s.index for s in store.own_steps("run-a")] == [0, 1]
    store.close()
    reopened = SQLiteStore(tmp_path)
    assert [s.index for s in reopened.own_steps("run-a")] == [0, 1]
    reopened.close()
