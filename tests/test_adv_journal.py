"""A dead writer's journal edited (or hit by a bad sector) in the middle: the records after
the damage were returned by ``record()``, so they are durable; recovery must not drop them
silently. A torn *last* frame (the writer died inside ``write()``) is still ignored.
"""

from __future__ import annotations

import warnings
from contextlib import suppress
from pathlib import Path
from typing import Any

import pytest

from reprolam.errors import StoreError
from reprolam.testing.conformance import make_run, make_step
from reprolam.trace import SQLiteStore
from reprolam.trace.journal import _HEADER, Journal, RecoveryWarning, encode_frame, read_frames
from reprolam.trace.sqlite import UNAPPLIED
from test_store_journal import make_row, writer_dies


def _dead_writers_journal(store: Path, frames: int) -> Path:
    """A journal of ``frames`` step records whose writer died before they were applied."""
    with SQLiteStore(store) as trace:
        trace.create_run(make_run())
    journal = Journal(store / "journal")
    for index in range(frames):
        journal.append(encode_frame(([make_row(index)], [], None)))
    writer_dies(journal)
    return journal.path


def _frame_start(data: bytearray, which: int) -> int:
    offset = 0
    for _ in range(which):
        length, _crc = _HEADER.unpack_from(data, offset)
        offset += _HEADER.size + length
    return offset


def _flip_in_frame(path: Path, which: int) -> None:
    data = bytearray(path.read_bytes())
    offset = _frame_start(data, which)
    length, _crc = _HEADER.unpack_from(data, offset)
    data[offset + _HEADER.size + length // 2] ^= 0x01
    path.write_bytes(bytes(data))


def test_a_corrupt_frame_in_the_middle_is_reported_and_kept_not_dropped(tmp_path: Path) -> None:
    path = _dead_writers_journal(tmp_path, 6)
    original = path.read_bytes()
    _flip_in_frame(path, 2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with SQLiteStore(tmp_path) as store:
            notes = list(store.notes)
            recovered = [s.index for s in store.own_steps("run-a")]
    assert any(issubclass(w.category, RecoveryWarning) for w in caught)
    (note,) = notes
    assert "corrupt" in note
    assert path.name in note
    kept = path.with_suffix(UNAPPLIED)
    assert kept.is_file()  # every record is still there, to be looked at or applied by hand
    assert len(kept.read_bytes()) == len(original)
    assert recovered == [0, 1]  # what came before the damage was returned by record() too
    assert "the 2 record() calls journaled before it were applied" in note


def test_a_torn_last_frame_is_still_ignored_without_a_report(tmp_path: Path) -> None:
    path = _dead_writers_journal(tmp_path, 3)
    torn = encode_frame(([make_row(3)], [], None))
    data = bytearray(path.read_bytes())
    end = _frame_start(data, 3)  # where the writer was copying the fourth frame
    data[end : end + len(torn) // 2] = torn[: len(torn) // 2]
    path.write_bytes(bytes(data))
    assert len(list(read_frames(path))) == 3
    with SQLiteStore(tmp_path) as store:
        assert [s.index for s in store.own_steps("run-a")] == [0, 1, 2]
        assert store.notes == []


def test_the_cli_reports_a_kept_journal_as_one_warning_line(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from reprolam.cli.main import cli

    path = _dead_writers_journal(tmp_path, 4)
    _flip_in_frame(path, 1)
    done = CliRunner().invoke(cli, ["--store", str(tmp_path), "runs", "--json"])
    assert done.exit_code == 0, done.output
    (line,) = [line for line in done.stderr.splitlines() if path.name in line]
    assert line.startswith("warning: ")
    assert "RecoveryWarning" not in done.stderr  # not Python's warning format


def test_a_zeroed_header_in_the_middle_is_reported_not_taken_for_the_end(tmp_path: Path) -> None:
    """The allocated rest of a journal is zeros, so a zero header ends the frames; one with
    frames after it is damage (a zeroed sector), and those frames were returned."""
    path = _dead_writers_journal(tmp_path, 4)
    data = bytearray(path.read_bytes())
    second = _frame_start(data, 1)
    data[second : second + _HEADER.size] = bytes(_HEADER.size)
    path.write_bytes(bytes(data))
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        with SQLiteStore(tmp_path) as store:
            notes = list(store.notes)
    (note,) = notes
    assert "corrupt" in note
    assert path.with_suffix(UNAPPLIED).is_file()


def _disk_full_once(monkeypatch: Any) -> list[str]:
    """``SQLiteStore._apply`` fails once as SQLite does on a full disk; the calls it failed."""
    import sqlite3

    from reprolam.errors import StoreError

    real = SQLiteStore._apply
    failed: list[str] = []

    def apply(self: SQLiteStore, frames: Any, steps: Any = ()) -> None:
        if failed:
            return real(self, frames, steps)
        failed.append("apply")
        try:
            raise sqlite3.OperationalError("database or disk is full")
        except sqlite3.OperationalError as exc:
            raise StoreError(f"record failed: {exc}") from exc

    monkeypatch.setattr(SQLiteStore, "_apply", apply)
    return failed


def test_a_journal_that_cannot_be_applied_for_now_stays_for_the_next_open(
    tmp_path: Path, monkeypatch: Any
) -> None:
    """A full disk (or an I/O error) while recovering says nothing about the journal: it
    stays where it is, not set aside for hand work, and the next open applies it."""
    path = _dead_writers_journal(tmp_path, 3)
    newer = Journal(tmp_path / "journal")  # the same writer's next batch: applied after it
    newer.append(encode_frame(([make_row(3)], [], None)))
    writer_dies(newer)
    failed = _disk_full_once(monkeypatch)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        with SQLiteStore(tmp_path) as store:
            (note,) = store.notes
            assert [s.index for s in store.own_steps("run-a")] == []
    assert failed == ["apply"]
    assert newer.path.is_file()  # not applied before the older one
    assert "cannot be applied now" in note
    assert "disk is full" in note
    assert path.is_file()
    assert not path.with_suffix(UNAPPLIED).exists()
    with SQLiteStore(tmp_path) as store:
        assert [s.index for s in store.own_steps("run-a")] == [0, 1, 2, 3]
        assert store.notes == []
    assert not path.exists()
    assert not newer.path.exists()


def test_a_store_opens_when_a_dead_writers_run_cannot_be_marked_for_now(
    tmp_path: Path, monkeypatch: Any
) -> None:
    """Opening marks the runs of dead processes interrupted; on a full disk it cannot, and
    says so, but the store opens for reading (and the next open marks them)."""
    from reprolam.trace import RunStatus

    with SQLiteStore(tmp_path) as store, suppress(RuntimeError), store.lease("run-a"):
        store.create_run(make_run())
        raise RuntimeError("its process dies: the lease file stays, no longer locked")
    failed = _disk_full_once(monkeypatch)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        with SQLiteStore(tmp_path) as store:
            (note,) = store.notes
            assert store.get_run("run-a").status is RunStatus.RUNNING
    assert failed == ["apply"]
    assert "cannot be marked interrupted now" in note
    with SQLiteStore(tmp_path) as store:
        assert store.get_run("run-a").status is RunStatus.INTERRUPTED


def test_a_dead_writers_run_is_not_marked_while_its_journal_waits(
    tmp_path: Path, monkeypatch: Any
) -> None:
    """Its journal may hold the run's last records: marking it interrupted first would
    write over them, so it is marked by the open that applies them."""
    from reprolam.trace import RunStatus

    with SQLiteStore(tmp_path) as store, suppress(RuntimeError), store.lease("run-a"):
        store.create_run(make_run())
        raise RuntimeError("its process dies: the lease file stays, no longer locked")
    journal = Journal(tmp_path / "journal")
    journal.append(encode_frame(([make_row(0)], [], None)))
    writer_dies(journal)
    _disk_full_once(monkeypatch)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        with SQLiteStore(tmp_path) as store:
            assert store.get_run("run-a").status is RunStatus.RUNNING
            assert len(store.notes) == 1  # the journal's, not a failed mark's
    with SQLiteStore(tmp_path) as store:
        assert store.get_run("run-a").status is RunStatus.INTERRUPTED
        assert [s.index for s in store.own_steps("run-a")] == [0]


def test_a_frame_the_database_refuses_is_kept_aside_alone_and_the_store_opens(
    tmp_path: Path,
) -> None:
    """A lone surrogate (a file name that is not UTF-8, a model's ``\\ud800`` escape) in a
    journaled row: SQLite cannot store it. Recovery used to fail on it at every open, so no
    command could open the store again; now that frame alone is kept aside."""
    with SQLiteStore(tmp_path) as trace:
        trace.create_run(make_run())
    journal = Journal(tmp_path / "journal")
    for index in range(4):
        row = make_row(index)
        if index == 2:
            row = (*row[:3], "bad \udce9 name", *row[4:])  # the action column
        journal.append(encode_frame(([row], [], None)))
    writer_dies(journal)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        with SQLiteStore(tmp_path) as store:
            notes = list(store.notes)
            recovered = [s.index for s in store.own_steps("run-a")]
    assert recovered == [0, 1, 3]
    (note,) = notes
    assert "not valid Unicode" in note
    assert "1 steps" in note
    kept = journal.path.with_suffix(UNAPPLIED)
    (frame,) = read_frames(kept)
    assert frame[0][0][3] == "bad \udce9 name"  # kept as it was journaled
    with SQLiteStore(tmp_path) as store:  # and the next open is clean
        assert store.notes == []


def test_recording_text_a_database_cannot_hold_is_a_clear_error_that_loses_nothing(
    tmp_path: Path,
) -> None:
    with SQLiteStore(tmp_path, fsync=True) as store:
        store.create_run(make_run())
        store.record(steps=[make_step("run-a", 0)])
        with pytest.raises(StoreError, match=r"not valid Unicode .*'\\udce9'"):
            store.record(steps=[make_step("run-a", 1, params={"path": "caf\udce9.csv"})])
        assert [s.index for s in store.own_steps("run-a")] == [0]


@pytest.mark.parametrize("damage", ["truncated", "huge length"])
def test_a_frame_running_past_the_end_of_the_file_is_reported_not_taken_for_a_torn_tail(
    tmp_path: Path, damage: str
) -> None:
    """A journal's room is allocated before a frame is copied in, so no crash leaves a frame
    running past the end of the file: a file cut short (or a frame header whose length was
    damaged) lost records that ``record()`` returned, and is reported and kept."""
    path = _dead_writers_journal(tmp_path, 6)
    data = bytearray(path.read_bytes())
    third = _frame_start(data, 2)
    if damage == "truncated":
        data = data[: third + _HEADER.size + 3]
    else:
        _HEADER.pack_into(data, third, 1 << 30, 0)
    path.write_bytes(bytes(data))
    with pytest.raises(StoreError, match="runs past the end of the file"):
        list(read_frames(path))
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        with SQLiteStore(tmp_path) as store:
            notes = list(store.notes)
            recovered = [s.index for s in store.own_steps("run-a")]
    (note,) = notes
    assert "runs past the end of the file" in note
    assert recovered == [0, 1]
    assert path.with_suffix(UNAPPLIED).is_file()
