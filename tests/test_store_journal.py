"""Group commit: the SQLite store's journal survives crashes and is applied exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from reprolam.errors import StoreError
from reprolam.testing.conformance import artifact, chain, make_run, make_step
from reprolam.trace import SQLiteStore, StepStatus
from reprolam.trace.journal import Journal, encode_frame, orphans, read_frames
from reprolam.trace.sqlite import MAX_PENDING

_WRITE_THEN_DIE = """
import os, signal, sys, time
sys.path.insert(0, {tests!r})
from reprolam.testing.conformance import chain
from reprolam.trace import SQLiteStore

store = SQLiteStore(sys.argv[1])
chain(store, "victim", int(sys.argv[2]))
print("recorded", flush=True)
if sys.argv[3] == "kill":
    os.kill(os.getpid(), signal.SIGKILL)  # no close, no flush, no atexit
time.sleep(60)  # stay alive, journal locked, until the test kills us
"""


def _spawn(store: Path, steps: int, mode: str) -> subprocess.Popen[str]:
    script = _WRITE_THEN_DIE.format(tests=str(Path(__file__).parent))
    return subprocess.Popen(
        [sys.executable, "-c", script, str(store), str(steps), mode],
        stdout=subprocess.PIPE,
        text=True,
    )


def test_records_of_a_killed_writer_are_recovered_on_next_open(tmp_path: Path) -> None:
    proc = _spawn(tmp_path, 7, "kill")
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    journals = list((tmp_path / "journal").iterdir())
    assert len(journals) == 1
    assert journals[0].stat().st_size > 0  # nothing reached trace.db before the kill
    with SQLiteStore(tmp_path) as store:
        steps = store.own_steps("victim")
        assert [s.index for s in steps] == list(range(7))
        assert all(s.status is StepStatus.SUCCEEDED for s in steps)
    assert list((tmp_path / "journal").iterdir()) == []  # applied once, then removed


def test_a_killed_writer_with_several_batches_in_flight_loses_nothing(tmp_path: Path) -> None:
    # 1300 records: two batches handed to the applier thread (each with its own journal
    # file), the rest pending; the kill lands wherever the applier happens to be.
    steps = 2 * MAX_PENDING + 276
    proc = _spawn(tmp_path, steps, "kill")
    proc.wait(timeout=120)
    assert proc.returncode == -signal.SIGKILL
    with SQLiteStore(tmp_path) as store:
        recorded = store.own_steps("victim")
        assert [s.index for s in recorded] == list(range(steps))
        assert all(s.status is StepStatus.SUCCEEDED for s in recorded)
    assert list((tmp_path / "journal").iterdir()) == []


def test_a_failed_background_apply_is_reported_then_tried_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SQLiteStore(tmp_path)
    real_apply = store._apply
    failures = []

    def apply_failing_once_off_the_main_thread(frames: Any, steps: Any = ()) -> None:
        if threading.current_thread() is not threading.main_thread() and not failures:
            failures.append(len(frames))
            raise StoreError("disk full (simulated)")
        real_apply(frames, steps)

    monkeypatch.setattr(store, "_apply", apply_failing_once_off_the_main_thread)
    store.create_run(make_run("run-a"))
    steps = [make_step("run-a", i) for i in range(MAX_PENDING + 3)]
    for step in steps[:MAX_PENDING]:  # the last one hands the full batch to the applier
        store.record(steps=[step])
    with pytest.raises(StoreError, match="disk full"):  # the next call that waits for it
        store.flush()
    assert failures == [MAX_PENDING]
    for step in steps[MAX_PENDING:]:  # the failed batch is tried again, in order
        store.record(steps=[step])
    store.flush()
    assert [s.index for s in store.own_steps("run-a")] == list(range(MAX_PENDING + 3))
    store.close()
    assert list((tmp_path / "journal").iterdir()) == []


def test_a_record_call_after_a_failed_background_apply_reports_it_and_records_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SQLiteStore(tmp_path)
    real_apply = store._apply
    failed = threading.Event()

    def apply_failing_once_off_the_main_thread(frames: Any, steps: Any = ()) -> None:
        if threading.current_thread() is not threading.main_thread() and not failed.is_set():
            failed.set()
            raise StoreError("disk full (simulated)")
        real_apply(frames, steps)

    monkeypatch.setattr(store, "_apply", apply_failing_once_off_the_main_thread)
    store.create_run(make_run("run-a"))
    steps = [make_step("run-a", i) for i in range(MAX_PENDING + 2)]
    for step in steps[:MAX_PENDING]:  # the last call hands the batch off and returns
        store.record(steps=[step])
    assert failed.wait(30)
    deadline = time.monotonic() + 30
    while store._background_error is None and time.monotonic() < deadline:
        time.sleep(0.01)
    with pytest.raises(StoreError, match="disk full"):
        store.record(steps=[steps[MAX_PENDING]])
    store.flush()  # the failed batch, applied on the second try
    assert [s.index for s in store.own_steps("run-a")] == list(range(MAX_PENDING))
    store.record(steps=steps[MAX_PENDING:])  # the refused call, made again
    assert [s.index for s in store.own_steps("run-a")] == list(range(MAX_PENDING + 2))
    store.close()
    assert list((tmp_path / "journal").iterdir()) == []


def test_a_live_writers_journal_is_left_alone(tmp_path: Path) -> None:
    proc = _spawn(tmp_path, 3, "live")
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "recorded"
        assert list(orphans(tmp_path / "journal")) == []  # locked by its living writer
        SQLiteStore(tmp_path).close()  # opening a store does not steal it either
        assert len(list((tmp_path / "journal").iterdir())) == 1
    finally:
        proc.kill()
        proc.wait(timeout=30)
    with SQLiteStore(tmp_path) as store:
        assert len(store.own_steps("victim")) == 3


def test_a_torn_last_frame_is_ignored(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path) as store:
        store.create_run(make_run())
    journal = Journal(tmp_path / "journal")
    good = encode_frame(([make_row(0)], [], None))
    journal.append(good)
    torn = encode_frame(([make_row(1)], [], None))
    journal.append(torn[: len(torn) // 2])  # the writer died inside write()
    assert len(list(read_frames(journal.path))) == 1
    path = journal.path
    os.close(journal._fd)  # the writer is gone: its lock goes with it
    found = list(orphans(tmp_path / "journal"))
    for _, fd in found:
        os.close(fd)
    assert [p for p, _ in found] == [path]
    with SQLiteStore(tmp_path) as store:
        assert [s.index for s in store.own_steps("run-a")] == [0]


def test_applying_a_journal_twice_changes_nothing(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path) as store:
        chain(store, "run-a", 4)
        before = store.own_steps("run-a")
        data = artifact("x")
        store.record(steps=[make_step("run-a", 4, outputs={"x": data[0].digest})], artifacts=[data])
        frames = list(store._pending)
        store.flush()
        store._apply(frames)  # what recovery does after a crash between commit and truncate
        after = store.own_steps("run-a")
        assert after[:4] == before
        assert len(after) == 5


def test_other_processes_see_a_busy_writer_within_the_flush_interval(tmp_path: Path) -> None:
    proc = _spawn(tmp_path, 5, "live")
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "recorded"
        deadline = time.monotonic() + 5
        seen = 0
        while time.monotonic() < deadline and seen < 5:
            with SQLiteStore(tmp_path) as reader:
                seen = len(reader.own_steps("victim")) if reader.find_run_ids("victim") else 0
            time.sleep(0.05)
        assert seen == 5
    finally:
        proc.kill()
        proc.wait(timeout=30)


def make_row(index: int) -> tuple[object, ...]:
    from reprolam.trace import _rows

    return _rows.step_to_row(make_step("run-a", index))
