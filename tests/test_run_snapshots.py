"""Run-state snapshots: forks and resumes start from one (plus the few steps after it) and
record exactly what reading every step would; a store without them, or with a damaged or
edited one, stays correct, and audit catches the edit; runs lists count from them."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from reprolam import ActionContext, Done, Engine, Policy, Proposal, RunState, action, workflow
from reprolam.engine import start_state
from reprolam.engine.start_state import state_at
from reprolam.history.audit import audit
from reprolam.history.fork import fork
from reprolam.history.resume import resume
from reprolam.trace import MemoryStore, SQLiteStore, TraceStore
from reprolam.trace.queries import RunQuery
from reprolam.trace.records import RunStatus, StepKind, StepRecord, StepStatus
from reprolam.trace.snapshot import StateSnapshot
from reprolam.trace.step_history import StepHistory, steps_from

LENGTH = 40


@action(outputs=["x"])
def begin() -> int:
    return 0


@action(outputs=["x"], determinism="seeded")
def grow(x: int, *, ctx: ActionContext) -> int:
    return x + ctx.random.randint(1, 9)


@action(outputs=["y"])
def check(x: int, *, ctx: ActionContext) -> int:
    if ctx.step_index % 10 == 5:
        raise ValueError(f"step {ctx.step_index} fails")
    return x


FLOW = workflow("snapshot-flow", [begin, grow, check], outputs=["x"])


class Mixed:
    """Successes, failures (check) and rejections (an unknown action), by position only."""

    name = "mixed"
    instant = True

    def __init__(self, length: int = LENGTH, stop_at: int | None = None) -> None:
        self.length = length
        self.stop_at = stop_at
        self.seen: list[list[str]] = []

    def propose(self, state: RunState) -> Proposal | Done:
        n = len(state.steps)
        if n == self.stop_at:
            raise KeyboardInterrupt
        if n >= self.length:
            return Done()
        if n == 0:
            return Proposal("begin")
        if n % 7 == 0:
            return Proposal("no_such_action")
        return Proposal("check" if n % 5 == 0 else "grow")

    def config(self) -> dict[str, Any]:
        return {"name": self.name}


class Reading(Mixed):
    """Reads the whole history every turn, as an LLM planner building its prompt does."""

    def propose(self, state: RunState) -> Proposal | Done:
        self.seen.append([f"{s.index}:{s.action}:{s.status.value}" for s in state.steps])
        return super().propose(state)


@pytest.fixture(autouse=True)
def small_checkpoints(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(start_state, "CHECKPOINT_EVERY", 4)


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TraceStore]:
    opened: TraceStore = MemoryStore() if request.param == "memory" else SQLiteStore(tmp_path)
    yield opened
    opened.close()


def record(store: TraceStore, planner: Mixed | None = None) -> str:
    planner = planner or Mixed()
    with Engine(store) as engine:
        result = engine.run(FLOW, planner=planner, policy=Policy(max_steps=200, max_failures=100))
    return result.run.id


def walked(store: TraceStore, run_id: str, k: int) -> StateSnapshot:
    """The state after k steps, the old way: every step from the first."""
    state = StateSnapshot(run_id, 0).advance(store.steps(run_id)[:k])
    codecs = {key: store.get_artifact_record(key).codec for key, _, _ in state.artifacts.values()}
    return StateSnapshot(
        run_id,
        state.steps,
        state.head,
        {n: (key, codecs[key], i) for n, (key, _, i) in state.artifacts.items()},
        state.occurrences,
        state.action_count,
        state.failure_count,
        state.consecutive_rejections,
    )


def content(steps: list[StepRecord] | StepHistory) -> list[tuple[Any, ...]]:
    """What a step did, without what names its run (its id, hence its hashes)."""
    return [
        (s.index, s.kind, s.action, s.status, s.seed, s.params, s.inputs, s.outputs) for s in steps
    ]


def without_snapshots(store: TraceStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store, "snapshot_at", lambda run_id, at_most=None: None)


def test_the_state_at_every_step_is_what_every_step_adds_up_to(store: TraceStore) -> None:
    run_id = record(store)
    steps = store.steps(run_id)
    assert len(steps) == LENGTH
    assert {s.kind.value for s in steps} == {"action", "rejection"}
    assert any(s.status.value == "failed" for s in steps)
    assert [s.steps for s in store.snapshots(run_id)] == [*range(4, LENGTH, 4), LENGTH]
    for k in range(LENGTH + 1):
        assert state_at(store, store.get_run(run_id), k).snapshot == walked(store, run_id, k), k


@pytest.mark.parametrize("at", [1, 5, 17, 39])
def test_a_fork_from_a_snapshot_records_what_reading_every_step_records(
    store: TraceStore, monkeypatch: pytest.MonkeyPatch, at: int
) -> None:
    parent = record(store)
    fast = fork(store, parent, at=at, planner=Mixed(LENGTH + 10), workflow=FLOW)
    assert isinstance(fast.steps, StepHistory)
    assert fast.steps.recorded == at
    without_snapshots(store, monkeypatch)
    slow = fork(store, parent, at=at, planner=Mixed(LENGTH + 10), workflow=FLOW)
    assert content(fast.steps) == content(slow.steps)
    assert content(fast.steps)[:at] == content(store.steps(parent))[:at]
    assert fast.run.outputs == slow.run.outputs
    for run in (fast.run, slow.run):
        report = audit(store, run.id)
        assert report.clean, report.problems


def test_a_planner_reading_the_history_of_a_fork_sees_every_inherited_step(
    store: TraceStore,
) -> None:
    parent = record(store)
    planner = Reading(LENGTH + 3)
    result = fork(store, parent, at=30, planner=planner, workflow=FLOW)
    inherited = [f"{s.index}:{s.action}:{s.status.value}" for s in store.steps(parent)[:30]]
    assert planner.seen[0] == inherited
    assert planner.seen[-1] == [f"{s.index}:{s.action}:{s.status.value}" for s in result.steps]
    assert list(reversed(result.steps)) == list(reversed(store.steps(result.run.id)))
    assert result.steps[-1] == store.steps(result.run.id)[-1]
    assert result.steps[10:20] == store.steps(result.run.id)[10:20]


def test_a_resumed_run_continues_as_if_never_interrupted(store: TraceStore) -> None:
    whole = record(store)
    with pytest.raises(KeyboardInterrupt):
        record(store, Mixed(stop_at=23))
    stopped = store.list_runs(limit=1)[0]
    assert stopped.status is RunStatus.INTERRUPTED
    assert store.snapshot_at(stopped.id) is not None
    resumed = resume(store, stopped.id, planner=Mixed(), workflow=FLOW)
    assert resumed.succeeded
    assert content(resumed.steps) == content(store.steps(whole))
    assert resumed.run.outputs == store.get_run(whole).outputs
    assert audit(store, stopped.id).clean


def test_a_store_recorded_before_snapshots_forks_and_resumes_the_same(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path) as store:
        parent = record(store)
        with pytest.raises(KeyboardInterrupt):
            record(store, Mixed(stop_at=25))
        stopped = store.list_runs(limit=1)[0].id
        reference = fork(store, parent, at=22, planner=Mixed(LENGTH + 5), workflow=FLOW)
    with closing(sqlite3.connect(tmp_path / "trace.db")) as conn, conn:
        conn.execute("DELETE FROM run_snapshots")  # as if recorded before migration 0006
    with SQLiteStore(tmp_path) as store:
        again = fork(store, parent, at=22, planner=Mixed(LENGTH + 5), workflow=FLOW)
        assert content(again.steps) == content(reference.steps)
        resumed = resume(store, stopped, planner=Mixed(), workflow=FLOW)
        assert content(resumed.steps) == content(store.steps(parent))
        page = store.query_runs(RunQuery(limit=100))
        assert {row.run.id: row.steps for row in page.rows} == {
            row.run.id: len(store.steps(row.run.id)) for row in page.rows
        }


def edit_snapshot(db: Path, run_id: str, steps: int, change: Any) -> None:
    with closing(sqlite3.connect(db)) as conn, conn:
        head, state = conn.execute(
            "SELECT head, state FROM run_snapshots WHERE run_id = ? AND steps = ?", (run_id, steps)
        ).fetchone()
        head, state = change(head, state)
        conn.execute(
            "UPDATE run_snapshots SET head = ?, state = ? WHERE run_id = ? AND steps = ?",
            (head, state, run_id, steps),
        )


def pointing_x_elsewhere(head: str, state: str) -> tuple[str, str]:
    fields = json.loads(state)
    _, codec, index = fields["artifacts"]["x"]
    fields["artifacts"]["x"] = [fields["artifacts"]["y"][0], codec, index]  # another output
    return head, json.dumps(fields)


def test_an_edited_snapshot_is_caught_by_audit_of_the_run_and_of_its_forks(
    tmp_path: Path,
) -> None:
    with SQLiteStore(tmp_path) as store:
        parent = record(store)
        child = fork(store, parent, at=36, planner=Mixed(LENGTH), workflow=FLOW).run.id
        assert audit(store, parent).clean
        assert audit(store, child).clean
    edit_snapshot(tmp_path / "trace.db", parent, 36, pointing_x_elsewhere)
    with SQLiteStore(tmp_path) as store:
        for run_id in (parent, child):
            problems = [p for p in audit(store, run_id).problems if "snapshot" in p.message]
            assert [(p.kind, p.run) for p in problems] == [("tampered", parent)], problems
            assert "after 36 steps" in problems[0].message
            assert "artifact names x point elsewhere" in problems[0].message


def test_a_snapshot_whose_head_was_edited_is_not_used_and_is_reported(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path) as store:
        parent = record(store)
        reference = fork(store, parent, at=37, planner=Mixed(LENGTH), workflow=FLOW)
    edit_snapshot(tmp_path / "trace.db", parent, 36, lambda h, s: ("0" * 64, s))
    edit_snapshot(tmp_path / "trace.db", parent, 32, lambda h, s: (h, "not json"))
    with SQLiteStore(tmp_path) as store:
        again = fork(store, parent, at=37, planner=Mixed(LENGTH), workflow=FLOW)
        assert content(again.steps) == content(reference.steps)
        problems = audit(store, parent).problems
        found = sorted((p.kind, p.run, p.message.split(" steps ")[0]) for p in problems)
        snapshot_of = f"the run-state snapshot of run {parent} after"
        assert found == [
            ("damaged", parent, f"{snapshot_of} 32"),
            ("tampered", parent, f"{snapshot_of} 36"),
        ], problems


def test_runs_counts_steps_of_running_interrupted_finished_and_forked_runs(
    store: TraceStore,
) -> None:
    counted: list[tuple[int, int]] = []

    class Asking(Mixed):
        def propose(self, state: RunState) -> Proposal | Done:
            if len(state.steps) in (3, 21):
                run_id = state.run_id
                row = next(
                    r for r in store.query_runs(RunQuery(limit=50)).rows if r.run.id == run_id
                )
                counted.append((row.steps, len(store.steps(run_id))))
            return super().propose(state)

    parent = record(store, Asking())
    assert len(counted) == 2
    assert all(a == b for a, b in counted), counted
    with pytest.raises(KeyboardInterrupt):
        record(store, Mixed(stop_at=30))
    fork(store, parent, at=9, planner=Mixed(LENGTH + 2), workflow=FLOW)
    fork(store, parent, at=38, planner=Mixed(1), workflow=FLOW)
    rows = store.query_runs(RunQuery(limit=50)).rows
    assert len(rows) == 4
    assert {r.run.status for r in rows} == {RunStatus.SUCCEEDED, RunStatus.INTERRUPTED}
    assert [r.steps for r in rows] == [len(store.steps(r.run.id)) for r in rows]


def test_a_fork_starts_without_reading_the_steps_it_inherits(
    store: TraceStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    parent = record(store)
    read: list[int] = []
    ranged = store.own_steps_between

    def counting(run_id: str, start: int, stop: int | None) -> list[StepRecord]:
        found = ranged(run_id, start, stop)
        read.extend(s.index for s in found)
        return found

    monkeypatch.setattr(store, "own_steps_between", counting)
    at_first_proposal: list[list[int]] = []

    class Counting(Mixed):
        def propose(self, state: RunState) -> Proposal | Done:
            if not at_first_proposal:
                at_first_proposal.append(list(read))
            return super().propose(state)

    fork(store, parent, at=37, planner=Counting(LENGTH), workflow=FLOW)
    # the nearest snapshot covers 36 steps: only step 36 is read, to apply it and as the
    # last step (step 35 is looked up alone, to check the snapshot's head hash)
    assert set(at_first_proposal[0]) == {36}


def test_step_history_reads_pages_only_when_asked() -> None:
    steps = [
        StepRecord("r", i, StepKind.ACTION, "a", StepStatus.SUCCEEDED, 0.0) for i in range(600)
    ]
    loads: list[tuple[int, int]] = []

    def load(start: int, stop: int) -> list[StepRecord]:
        loads.append((start, stop))
        return steps[start:stop]

    history = StepHistory(load, 600)
    assert len(history) == 600
    assert loads == []
    assert history[-1] is steps[599]
    assert loads == [(599, 600)]  # the last step alone (what last_step reads)
    extra = StepRecord("r", 600, StepKind.ACTION, "b", StepStatus.SUCCEEDED, 0.0)
    history.append(extra)
    assert history[-1] is extra
    assert history[300:303] == steps[300:303]
    assert list(history) == [*steps, extra]
    assert list(reversed(history)) == [extra, *reversed(steps)]
    assert history == [*steps, extra]
    assert sorted(set(loads)) == [(0, 256), (256, 512), (512, 600), (599, 600)]
    tail = StepHistory(load, 600, start=590)
    assert [s.index for s in tail] == list(range(590, 600))
    assert tail[0] is steps[590]
    assert steps_from(history, 600) == [extra]


def test_a_snapshot_past_a_step_read_unfinished_is_not_called_tampered(store: TraceStore) -> None:
    """An audit of a running run reads a step while it runs, then a snapshot written once it
    finished: that snapshot describes a later trace, not an edited one."""
    from dataclasses import replace

    from reprolam.history.snapshot_check import snapshot_findings

    run_id = record(store)
    run = store.get_run(run_id)
    counts = sorted(s.steps for s in store.snapshots(run_id))
    last = next(c for c in counts if c >= 8)  # a snapshot with snapshots before it
    read = list(store.steps(run_id))[:last]
    as_finished = snapshot_findings(store, [(run, 0, last)], read)
    assert as_finished == (counts.index(last) + 1, [])
    running = read[-1]
    read[-1] = replace(running, status=StepStatus.STARTED, hash=None, outputs={}, duration=None)
    checked, findings = snapshot_findings(store, [(run, 0, last)], read)
    assert findings == []
    assert checked == counts.index(last)  # the ones before it are still compared


def test_a_fork_does_not_start_from_a_snapshot_whose_artifacts_were_edited(
    tmp_path: Path,
) -> None:
    """A snapshot pointing a name at another artifact made a fork start (and be sealed) with
    values its parent never had at that step; one read per name tells, whatever the length."""
    with SQLiteStore(tmp_path) as store:
        parent = record(store)
        reference = fork(store, parent, at=36, planner=Mixed(LENGTH), workflow=FLOW)
    edit_snapshot(tmp_path / "trace.db", parent, 36, pointing_x_elsewhere)
    with SQLiteStore(tmp_path) as store:
        start = state_at(store, store.get_run(parent), 36).snapshot
        assert start.artifacts == walked(store, parent, 36).artifacts
        again = fork(store, parent, at=36, planner=Mixed(LENGTH), workflow=FLOW)
        assert content(again.steps) == content(reference.steps)
        assert again.run.outputs == reference.run.outputs
