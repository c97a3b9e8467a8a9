"""Replay verifies a trace from its stored rows (``history.stored_steps``) and reads its
artifacts a page at a time (``history.artifact_pages``): it must find exactly what the
record path (``verify_trace`` over decoded records, as audit runs it) finds, on every edit.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from reprolam.errors import StoreError
from reprolam.history import artifact_pages, sorted_lines
from reprolam.history.replay import replay
from reprolam.history.sorted_lines import SortedLines
from reprolam.history.stored_steps import from_row, stream_trace
from reprolam.history.verify import Problem, verify_trace
from reprolam.testing.conformance import artifact, make_run, make_step
from reprolam.trace import MemoryStore, SQLiteStore, TraceStore
from reprolam.trace._rows import step_to_row
from reprolam.trace.anchor import artifact_metadata
from reprolam.trace.records import ArtifactRecord, StepKind, StepStatus
from reprolam.trace.row_hash import row_step_hash
from test_step_hash import CASES
from test_tamper_columns import (
    KEYS,
    Backend,
    changed,
    edits,
    postgres_backend,
    record_scenario,
    sqlite_backend,
)


def both_paths(store: TraceStore, run_id: str) -> tuple[list[Problem], list[Problem]]:
    run = store.get_run(run_id)
    streamed = verify_trace(store, run, stream_trace(store, run_id))
    return streamed, verify_trace(store, run, store.steps(run_id))


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "sqlite":
        return sqlite_backend(tmp_path / "store")
    return postgres_backend(request.getfixturevalue("pg_dsn"), tmp_path / "artifacts")


def test_every_single_field_edit_is_found_as_the_record_path_finds_it(backend: Backend) -> None:
    with backend.open() as store:
        run_id = record_scenario(store)
        assert replay(store, run_id).verified
    missed: list[str] = []
    found = 0
    for table, key, column in edits(backend, run_id):
        if (table, column) == ("runs", "id"):
            continue  # the run is then another one: audit's test covers it
        original = backend.row(table, key)[column]
        # an artifact's seq (SQLite) moved onto another's would collide, as idx would
        edited = original + 100_000 if column in ("idx", "seq") else changed(original)
        backend.set(table, key, column, edited)
        moved = tuple(edited if k == column else v for k, v in zip(KEYS[table], key, strict=True))
        with backend.open() as store:
            streamed, decoded = both_paths(store, run_id)
            if streamed != decoded:
                missed.append(f"{table}.{column}: {streamed} != {decoded}")
            # (audit's other checks, e.g. lineage, find the edits verify_trace does not)
            assert replay(store, run_id).verified == (not decoded)
            found += bool(decoded)
        backend.set(table, moved, column, original)
    assert not missed, "\n".join(missed)
    assert found >= 50


def stored_step_row(path: Path, run_id: str, index: int) -> dict[str, Any]:
    with closing(sqlite3.connect(path / "trace.db")) as conn:
        conn.row_factory = sqlite3.Row
        row = conn.execute("SELECT * FROM steps WHERE run_id = ? AND idx = ?", (run_id, index))
        return dict(row.fetchone())


def edit_step(path: Path, run_id: str, index: int, **columns: Any) -> None:
    sets = ", ".join(f"{c} = ?" for c in columns)
    with closing(sqlite3.connect(path / "trace.db")) as conn, conn:
        conn.execute(
            f"UPDATE steps SET {sets} WHERE run_id = ? AND idx = ?",
            (*columns.values(), run_id, index),
        )


@pytest.fixture
def recorded(tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / "store"
    with SQLiteStore(path) as store:
        run_id = record_scenario(store)
    return path, run_id


def test_a_boundary_moved_between_two_texts_is_found(recorded: tuple[Path, str]) -> None:
    """The hash covers the texts joined by commas: moving one's end into the next keeps the
    joined bytes, so each text must be checked to be one JSON object."""
    path, run_id = recorded
    row = stored_step_row(path, run_id, 1)
    params, inputs = row["params"], row["inputs"]
    assert inputs != "{}"
    edit_step(path, run_id, 1, params=f"{params},{inputs[:-1]}", inputs="}")
    joined = f"{params},{inputs}"
    assert f"{params},{inputs[:-1]},}}" == joined.replace(inputs, inputs[:-1] + ",}")
    with SQLiteStore(path) as store:
        streamed, decoded = both_paths(store, run_id)
        assert streamed == decoded
        assert any(p.kind in ("damaged", "tampered") and p.step == 1 for p in streamed)


def test_an_error_stored_as_the_text_null_is_damage(recorded: tuple[Path, str]) -> None:
    """SQL NULL and the JSON text ``null`` hash alike; only NULL is what reprolam writes."""
    path, run_id = recorded
    index = next(i for i in range(9) if stored_step_row(path, run_id, i)["error"] is None)
    edit_step(path, run_id, index, error="null")
    with SQLiteStore(path) as store:
        streamed, decoded = both_paths(store, run_id)
        assert streamed == decoded
        assert [p.kind for p in streamed if p.step == index] == ["damaged"]


def test_texts_written_otherwise_but_meaning_the_same_still_verify(
    recorded: tuple[Path, str],
) -> None:
    """A row whose texts are not canonical (spaces) takes the record path: judged as before."""
    path, run_id = recorded
    row = stored_step_row(path, run_id, 0)
    edit_step(path, run_id, 0, proposal=row["proposal"].replace(":", ": "))
    with SQLiteStore(path) as store:
        assert row_step_hash(store.own_step_rows(run_id, 0, 1)[0], row["seed"]) != row["hash"]
        streamed, decoded = both_paths(store, run_id)
        assert streamed == decoded == []
        assert replay(store, run_id).verified


@pytest.mark.parametrize("fields", CASES)
def test_the_row_hash_is_the_step_hash(fields: dict[str, Any]) -> None:
    step = make_step("run-a", 3, **fields)
    row = step_to_row(step)
    seed = int(row[11]) if type(row[11]) is str else row[11]
    assert row_step_hash(row, seed) == step.hash
    assert row_step_hash(row, seed, {}) == step.hash
    assert from_row(row).content_hash == step.hash


def test_odd_column_types_hash_as_their_decoded_record_does() -> None:
    step = make_step("run-a", 3, seed=5)
    row = list(step_to_row(step))
    for column, value in ((1, True), (3, 7), (5, 12), (12, "0.5"), (15, 2.0)):
        odd = tuple(value if i == column else v for i, v in enumerate(row))
        read = from_row(odd)
        # reported as damaged (a value of another kind than reprolam writes) or as
        # tampered, never accepted
        assert read.damaged is not None or read.content_hash != step.hash
        assert read.hash == step.hash


def chain_run(store: TraceStore, n: int, bad: set[int]) -> str:
    """A run of ``n`` steps, step i reading step i-1's output; the outputs in ``bad`` are
    stored as other bytes than their digest says."""
    store.create_run(make_run("run-a"))
    previous: dict[str, str] = {}
    for i in range(n):
        record, data = artifact(f"value {i}")
        if i in bad:
            data = data.upper()
        step = make_step("run-a", i, inputs=previous, outputs={"x": record.digest})
        store.record(steps=[step], artifacts=[(record, data)])
        previous = {"x": record.digest, "shared": "0" * 64}
    return "run-a"


@pytest.mark.parametrize("recent", [1, 512])
def test_artifact_problems_are_said_once_in_step_order_across_pages(
    monkeypatch: pytest.MonkeyPatch, recent: int
) -> None:
    monkeypatch.setattr(artifact_pages, "RECENT", recent)
    store = MemoryStore()
    run_id = chain_run(store, 700, bad={3, 255, 256, 600})
    streamed, decoded = both_paths(store, run_id)
    assert streamed == decoded
    artifacts = [(p.step, p.message.split(":")[0]) for p in streamed if p.kind == "artifact"]
    assert artifacts == [
        (1, "input 'shared' of step 1"),  # missing: said once, at its first reference
        (3, "output 'x' of step 3"),
        (255, "output 'x' of step 255"),
        (256, "output 'x' of step 256"),
        (600, "output 'x' of step 600"),
    ]


def test_the_seal_metadata_spills_and_hashes_as_the_anchor_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sorted_lines, "LIMIT", 7)
    monkeypatch.setattr(sorted_lines, "BLOCK", 3)
    store = MemoryStore()
    stored = [artifact(f"a{i}", codec="npy" if i % 3 else "json") for i in range(50)]
    store.record(artifacts=stored)
    digests = [r.digest for r, _ in stored] + ["f" * 64, "0" * 64]
    lines = SortedLines()
    for key in digests + digests[::-1]:  # every key twice, some after they were spilled
        record = next((r for r, _ in stored if r.digest == key), None)
        lines.add(key, "- -" if record is None else f"{record.codec} {record.size}")
    assert lines._runs, "nothing was spilled"
    assert lines.hexdigest() == artifact_metadata(store, digests)
    lines.close()
    assert SortedLines().hexdigest() == artifact_metadata(store, [])


def test_a_fork_streams_its_parent_prefix_then_its_own_steps() -> None:
    store = MemoryStore()
    chain_run(store, 5, bad=set())
    store.create_run(make_run("fork", parent_id="run-a", fork_index=3))
    own = make_step("fork", 3, action="other")
    store.record(steps=[own])
    got = [(s.run_id, s.index) for s in stream_trace(store, "fork", page=2)]
    assert got == [("run-a", 0), ("run-a", 1), ("run-a", 2), ("fork", 3)]
    assert all(s.content_hash == s.hash for s in stream_trace(store, "fork", page=2))


def test_a_started_step_is_unfinished_not_tampered() -> None:
    store = MemoryStore()
    store.create_run(make_run())
    started = make_step("run-a", 0, status=StepStatus.STARTED, kind=StepKind.ACTION)
    store.record(steps=[started])
    (step,) = stream_trace(store, "run-a")
    assert (step.content_hash, step.damaged) == (None, None)
    problems, decoded = both_paths(store, "run-a")
    assert problems == decoded
    assert [p.kind for p in problems if p.step == 0] == ["unfinished"]


class _UnreadableStore(MemoryStore):
    """An artifact whose bytes cannot be read (a blob file without read permission)."""

    unreadable = ""

    def get_artifact(self, digest: str) -> tuple[ArtifactRecord, bytes]:
        if digest == self.unreadable:
            raise StoreError(f"cannot read artifact {digest}: permission denied")
        return super().get_artifact(digest)


def test_an_unreadable_artifact_is_a_problem_not_a_crash() -> None:
    store = _UnreadableStore()
    run_id = chain_run(store, 4, bad=set())
    store.unreadable = store.own_steps(run_id)[2].outputs["x"]
    (read,) = store.read_artifacts([store.unreadable])
    assert (read.codec, read.data, type(read.error)) == ("json", None, StoreError)
    streamed, decoded = both_paths(store, run_id)
    assert streamed == decoded
    (problem,) = [p for p in streamed if p.artifact == store.unreadable]
    assert problem.step == 2
    assert "cannot be loaded: StoreError: cannot read artifact" in problem.message
