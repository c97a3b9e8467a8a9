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
    monkeypatch.setenv("REPROLAM_APPLY_HELPER", "0")  # the applier thread applies
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
    monkeypatch.setenv("REPROLAM_APPLY_HELPER", "0")  # the applier thread applies
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
    writer_dies(journal)
    found = list(orphans(tmp_path / "journal"))
    for _, fd in found:
        os.close(fd)
    assert [p for p, _ in found] == [path]
    with SQLiteStore(tmp_path) as store:
        assert [s.index for s in store.own_steps("run-a")] == [0]


def test_a_frame_cut_short_by_the_writers_death_is_a_torn_tail(tmp_path: Path) -> None:
    """A writer killed inside the copy of a frame into its journal's map leaves part of the
    frame and zeros after it: the frames before it are whole, and nothing is reported."""
    with SQLiteStore(tmp_path) as store:
        store.create_run(make_run())
    journal = Journal(tmp_path / "journal")
    for index in range(2):
        journal.append(encode_frame(([make_row(index)], [], None)))
    frame = encode_frame(([make_row(2)], [], None))
    for cut in (4, 8, len(frame) // 2, len(frame) - 1):  # inside the header, then the body
        end = journal._map.tell()
        journal._map[end : end + len(frame)] = bytes(len(frame))
        journal._map[end : end + cut] = frame[:cut]
        assert len(list(read_frames(journal.path))) == 2
    writer_dies(journal)
    with SQLiteStore(tmp_path) as store:
        assert [s.index for s in store.own_steps("run-a")] == [0, 1]
        assert store.notes == []


class _Copies:
    """A journal's map that notes each copy into it (its position and bytes)."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.copies: list[tuple[int, bytes]] = []

    def write(self, data: Any) -> int:
        self.copies.append((self.real.tell(), bytes(data)))
        return int(self.real.write(data))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def test_a_writer_killed_at_any_byte_of_an_append_leaves_a_torn_tail(tmp_path: Path) -> None:
    """A copy stores its bytes in whatever order ``memcpy`` chooses (glibc stores a frame's
    first 32 bytes last), so a writer killed inside one may leave any of its bytes written
    and the others zero. At every such point the frames before stay readable and nothing
    is taken for damage (a whole journal, records ``record()`` returned included, was set
    aside when a header was stored last: seen killing writers of 200,000-step chains)."""
    with SQLiteStore(tmp_path) as store:
        store.create_run(make_run())
    journal = Journal(tmp_path / "journal")
    for index in range(2):
        journal.append(encode_frame(([make_row(index)], [], None)))
    before = bytes(journal._map[:])
    copies = _Copies(journal._map)
    journal._map = copies  # type: ignore[assignment]
    frame = encode_frame(([make_row(2)], [], None))
    journal.append(frame)
    journal._map = copies.real
    assert b"".join(data for _, data in copies.copies) == frame
    for done in range(len(copies.copies)):
        image = bytearray(before)
        for at, data in copies.copies[:done]:
            image[at : at + len(data)] = data
        at, data = copies.copies[done]
        for written in (range(len(data) // 2, len(data)), range(0, len(data), 3), range(1)):
            cut = bytearray(image)
            for i in written:  # the bytes this copy had stored when the writer died
                cut[at + i] = data[i]
            damaged = tmp_path / "image.mjournal"
            damaged.write_bytes(bytes(cut))
            assert [f[0][0][1] for f in read_frames(damaged)] == [0, 1], (done, written)
    writer_dies(journal)


def test_a_journal_grows_past_its_first_allocation(tmp_path: Path) -> None:
    """Frames larger than what was allocated ahead (inline artifacts of up to 32 KiB each)
    grow the file; a killed writer's frames are all recovered."""
    with SQLiteStore(tmp_path) as store:
        store.create_run(make_run())
    journal = Journal(tmp_path / "journal")
    allocated = journal.path.stat().st_size
    rows = []
    for index in range(80):
        record, data = artifact(os.urandom(30_000))
        rows.append((record.digest, record.codec, record.size, data, None, None, None))
        journal.append(encode_frame(([make_row(index)], rows[-1:], None)))
    assert journal.path.stat().st_size > allocated
    writer_dies(journal)
    with SQLiteStore(tmp_path) as store:
        assert len(store.own_steps("run-a")) == 80
        assert store.get_artifact(rows[-1][0])[1] == rows[-1][3]


def test_a_file_system_that_cannot_map_the_journal_gets_it_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Some file systems (FUSE mounts) refuse shared maps: the journal is then written with
    one pwrite per frame, in the same format, and a dead writer's frames are recovered."""
    import errno
    import mmap

    def refused(*args: Any, **kwargs: Any) -> mmap.mmap:
        raise OSError(errno.ENODEV, "No such device")

    with SQLiteStore(tmp_path) as store:
        store.create_run(make_run())
    monkeypatch.setattr(mmap, "mmap", refused)
    journal = Journal(tmp_path / "journal")
    assert journal._map is None
    rows = []
    for index in range(40):  # past the first allocation: inline artifacts of 30 KB each
        record, data = artifact(os.urandom(30_000))
        rows.append((record.digest, record.codec, record.size, data, None, None, None))
        journal.append(encode_frame(([make_row(index)], rows[-1:], None)))
    assert len(list(read_frames(journal.path))) == 40
    os.close(journal._fd)  # the writer dies
    monkeypatch.undo()
    with SQLiteStore(tmp_path) as store:
        assert len(store.own_steps("run-a")) == 40
        assert store.notes == []


def test_a_full_disk_fails_the_record_call_and_keeps_what_was_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    with SQLiteStore(tmp_path) as store:
        chain(store, "run-a", 3)

        def full(fd: int, offset: int, length: int) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(os, "posix_fallocate", full)
        store.flush()  # the next record starts a new journal, which cannot be allocated
        with pytest.raises(StoreError, match="disk full") as raised:
            store.record(steps=[make_step("run-a", 3)])
        assert "free some space" in str(raised.value)
        monkeypatch.undo()
        store.record(steps=[make_step("run-a", 3)])  # space again: recording goes on
        assert [s.index for s in store.own_steps("run-a")] == [0, 1, 2, 3]


def test_a_journal_written_by_an_older_reprolam_is_recovered(tmp_path: Path) -> None:
    """Before journals were mapped, a writer appended frames with write() to "*.journal"
    (no allocated zeros after them; a torn last frame ends the file)."""
    from reprolam.ids import uuid7

    with SQLiteStore(tmp_path) as store:
        store.create_run(make_run())
    frames = [encode_frame(([make_row(index)], [], None)) for index in range(4)]
    old = tmp_path / "journal" / f"{uuid7()}.journal"
    old.parent.mkdir(exist_ok=True)
    old.write_bytes(b"".join(frames[:3]) + frames[3][:20])
    with SQLiteStore(tmp_path) as store:
        assert [s.index for s in store.own_steps("run-a")] == [0, 1, 2]
        assert store.notes == []
    assert not old.exists()


def test_a_new_journal_cannot_be_taken_by_recovery_before_its_writer_locks_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process opening the store (the apply helper does, while the writer records)
    recovers the journals it can lock. A journal visible under its name before its writer
    had locked it was taken, found empty and removed, and the writer then journaled into a
    removed file: a crash lost those records (seen once in CI). A journal gets its name only
    once it is locked."""
    import fcntl

    from reprolam.trace import journal as journals

    real_flock = fcntl.flock
    taken: list[Path] = []

    def a_recovery_runs_first(fd: int, operation: int) -> None:
        if operation == fcntl.LOCK_EX:  # the writer, about to lock its new journal
            for path, lock in journals.orphans(tmp_path / "journal"):
                taken.append(path)
                os.close(lock)
        real_flock(fd, operation)

    monkeypatch.setattr(journals.fcntl, "flock", a_recovery_runs_first)
    journal = Journal(tmp_path / "journal")
    journal.append(encode_frame(([make_row(0)], [], None)))
    assert taken == []
    assert journal.path.exists()
    assert len(list(read_frames(journal.path))) == 1
    journal.close()


def test_a_journal_being_made_is_left_alone_and_one_left_by_a_crash_is_removed(
    tmp_path: Path,
) -> None:
    from reprolam.trace.journal import MAKING

    directory = tmp_path / "journal"
    directory.mkdir()
    fresh = directory / f"a{MAKING}"
    stale = directory / f"b{MAKING}"
    fresh.write_bytes(b"")
    stale.write_bytes(b"")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    assert list(orphans(directory)) == []
    assert fresh.exists()  # its writer may be about to lock and name it
    assert not stale.exists()


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


def writer_dies(journal: Journal) -> None:
    """What the writer's death does to its journal: the map and the file closed, the lock
    released (the map holds its own descriptor of the file, so both must go)."""
    journal._map.close()
    os.close(journal._fd)


def make_row(index: int) -> tuple[object, ...]:
    from reprolam.trace import _rows

    return _rows.step_to_row(make_step("run-a", index))
