"""Forks of an adversary's runs.

A fork starts in constant time from its parent's snapshot, so it does not verify the
parent's whole trace first (README: fork). It checks what it starts from: a parent whose
record (seed, policy, overrides, ...) or last inherited step was edited, or whose trace lost
the step before the fork point, is refused before anything runs. The rest stays checked:
the fork's own replay and audit report an edited earlier inherited step, and an edit made
after the fork, naming the parent. A fork at a rejected step works; a negative index is
bad input, as an int or as text.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

import reprolam
from reprolam import Proposal, action, workflow
from reprolam.errors import ConfigError, IntegrityError
from reprolam.history.audit import audit
from reprolam.history.fork import fork
from reprolam.history.replay import replay
from reprolam.trace.sqlite import SQLiteStore
from test_provenance_scenarios import FLOW, Scripted, troubled_run
from test_tamper_columns import Backend, backend

__all__ = ["backend"]  # the fixture: SQLite and PostgreSQL stores to edit by hand


def _sql(store: Path, statement: str, *args: Any) -> None:
    with closing(sqlite3.connect(store / "trace.db")) as con:
        assert con.execute(statement, args).rowcount == 1, statement
        con.commit()


def _report() -> Scripted:
    return Scripted([Proposal("report")], {"name": "script"})


@pytest.fixture
def parent(tmp_path: Path) -> tuple[Path, str]:
    """troubled_run: 0 failed decision, 1-2 rejected, 3 make_data, 4 add_up failed,
    5 add_up recovers 4, 6 report."""
    with SQLiteStore(tmp_path / "store") as store:
        return tmp_path / "store", troubled_run(store)


def test_an_edited_inherited_step_is_reported_by_the_forks_replay_and_audit(
    parent: tuple[Path, str],
) -> None:
    root, parent_id = parent
    _sql(root, "UPDATE steps SET params = '{\"n\":5}' WHERE run_id = ? AND idx = 3", parent_id)
    with SQLiteStore(root) as store:
        forked = fork(store, parent_id, at=6, workflow=FLOW, planner=_report())
        assert forked.succeeded
        replayed = replay(store, forked.id)
        assert not replayed.verified
        assert replayed.problems[0].kind == "tampered"
        assert replayed.problems[0].step == 3
        report = audit(store, forked.id)
    assert not report.clean
    found = [(p.kind, p.run, p.step) for p in report.problems]
    assert ("tampered", parent_id, 3) in found


@pytest.mark.parametrize(
    ("statement", "problem"),
    [
        ("UPDATE runs SET seed = 8 WHERE id = ?", "its record .* was changed after it was created"),
        (
            "UPDATE steps SET params = '{\"n\":5}' WHERE run_id = ? AND idx = 5",
            "step 5, the last one a fork inherits, was changed after it ran",
        ),
    ],
)
def test_a_fork_of_an_edited_parent_record_or_last_inherited_step_is_refused(
    parent: tuple[Path, str], statement: str, problem: str
) -> None:
    root, parent_id = parent
    _sql(root, statement, parent_id)
    with SQLiteStore(root) as store:
        with pytest.raises(IntegrityError, match=f"cannot fork run {parent_id}: {problem}"):
            fork(store, parent_id, at=6, workflow=FLOW, planner=_report())
        with pytest.raises(IntegrityError, match=f"cannot fork run {parent_id}"):
            fork(store, parent_id, at="report", workflow=FLOW, planner=_report())
        assert len(store.list_runs()) == 1  # nothing was written
        report = audit(store, parent_id)
    assert ("tampered", parent_id) in [(p.kind, p.run) for p in report.problems]


def test_a_parent_missing_the_step_before_the_fork_point_is_refused(
    parent: tuple[Path, str],
) -> None:
    # The refusal lacked the 'cannot fork run ID:' that every other refusal of a damaged
    # parent starts with.
    root, parent_id = parent
    _sql(root, "DELETE FROM steps WHERE run_id = ? AND idx = 4", parent_id)
    missing = f"^cannot fork run {parent_id}: step 4 is missing from its trace "
    with SQLiteStore(root) as store:
        with pytest.raises(IntegrityError, match=missing):
            fork(store, parent_id, at=5, workflow=FLOW, planner=_report())
        assert len(store.list_runs()) == 1  # nothing was written


def test_a_fork_at_a_rejected_step_runs_and_audits_clean(parent: tuple[Path, str]) -> None:
    root, parent_id = parent
    planner = Scripted(
        [Proposal("make_data", params={"n": 2}), Proposal("add_up"), Proposal("report")],
        {"name": "script"},
    )
    with SQLiteStore(root) as store:
        assert store.step_at(parent_id, 1).status.value == "rejected"
        forked = fork(store, parent_id, at=1, workflow=FLOW, planner=planner)
        assert forked.succeeded
        assert [s.index for s in forked.steps if s.run_id == forked.id] == [1, 2, 3]
        report = audit(store, forked.id)
    assert report.clean, [p.message for p in report.problems]


@pytest.mark.parametrize("at", [-1, "-1"])
def test_a_negative_index_is_bad_input_as_int_or_text(parent: tuple[Path, str], at: Any) -> None:
    root, parent_id = parent
    with SQLiteStore(root) as store, pytest.raises(ConfigError, match="a step index is 0 or more"):
        fork(store, parent_id, at=at, workflow=FLOW, planner=_report())


def test_an_edited_parent_is_reported_under_its_own_id_on_either_sql_backend(
    backend: Backend,
) -> None:
    with backend.open() as store:
        parent_id = troubled_run(store)
        forked = fork(store, parent_id, at=6, workflow=FLOW, planner=_report()).id
        assert audit(store, forked).clean
    backend.set("runs", (parent_id,), "overrides", '{"add_up":{"scale":3}}')
    with backend.open() as store:
        report = audit(store, forked)
        replayed = replay(store, forked)
    assert [(p.kind, p.run) for p in report.problems] == [("tampered", parent_id)]
    assert [(p.kind, p.run) for p in replayed.problems] == [("tampered", parent_id)]


_STOP = {"now": True}


@action(outputs=["x"])
def _first(*, base: int = 1) -> int:
    return base


@action(outputs=["y"])
def _stops_once(x: int) -> int:
    if _STOP["now"]:
        raise KeyboardInterrupt  # as Ctrl-C (or a kill) mid-step
    return x + 1


def test_a_fork_past_an_interrupted_runs_unfinished_step_is_refused(tmp_path: Path) -> None:
    """Inherited by reference, the unfinished step would change under the fork when its
    parent resumed (and the fork's record would then read as tampered)."""
    flow = workflow("stops", [_first, _stops_once], outputs=["y"])
    _STOP["now"] = True
    with reprolam.open(tmp_path) as rl:
        with pytest.raises(KeyboardInterrupt):
            rl.run(flow)
        (parent,) = rl.runs()
        assert [s.status.value for s in rl.show(parent.id).steps] == ["succeeded", "started"]
        with pytest.raises(ConfigError, match=r"step 1 \(_stops_once\) .* never finished") as e:
            rl.fork(parent.id, at=2, workflow=flow)
        assert f"reprolam resume {parent.id}" in str(e.value)
        assert len(rl.runs()) == 1  # nothing was created
        with pytest.raises(ConfigError, match=r"has only 2 steps: fork at 0\.\.1 \(step 1 never"):
            rl.fork(parent.id, at=3, workflow=flow)  # the range offered excludes step 2 too
        unfinished = rl.reproduce(parent.id, workflow=flow)  # not "damaged": resume it first
        assert not unfinished.reproduced
        assert unfinished.summary().startswith("not reproduced: the original run is unfinished")
        assert f"`reprolam resume {parent.id}` first" in unfinished.summary()
        _STOP["now"] = False
        # at the unfinished step: it runs again
        before = rl.fork(parent.id, at="_stops_once", workflow=flow)
        assert before.succeeded
        assert rl.audit(before.id).problems == []
        rl.resume(parent.id, workflow=flow)
        after = rl.fork(parent.id, at=2, workflow=flow)
        assert after.succeeded
        for run in (before, after):
            assert rl.replay(run.id).verified
            assert rl.audit(run.id).problems == []


def test_a_fork_whose_ancestor_was_deleted_is_a_finding_not_an_unknown_run(
    parent: tuple[Path, str],
) -> None:
    """Deleting the run a fork of a fork inherits from leaves the fork's steps unreadable:
    replay reports it (exit 1), and no command says the fork itself does not exist."""
    from click.testing import CliRunner

    from reprolam.cli.main import cli

    root, parent_id = parent
    with SQLiteStore(root) as store:
        child = fork(store, parent_id, at=6, workflow=FLOW, planner=_report()).id
        grandchild = fork(store, child, at=7, workflow=FLOW, planner=_report()).id
    with closing(sqlite3.connect(root / "trace.db")) as con:
        con.execute("DELETE FROM run_snapshots WHERE run_id = ?", (parent_id,))
        con.execute("DELETE FROM runs WHERE id = ?", (parent_id,))
        con.commit()
    with SQLiteStore(root) as store:
        replayed = replay(store, grandchild)
    assert not replayed.verified
    assert [p.kind for p in replayed.problems] == ["damaged"]
    gone = f"run {child} is a fork of run {parent_id}, which is not in"
    assert gone in replayed.problems[0].message
    runner = CliRunner()
    result = runner.invoke(cli, ["--store", str(root), "replay", grandchild])
    assert result.exit_code == 1, result.output
    for command in (["show", grandchild], ["fork", grandchild, "--at", "1"]):
        result = runner.invoke(cli, ["--store", str(root), *command])
        assert result.exit_code == 2
        assert gone in result.stderr
        assert "pass an existing run id" not in result.stderr


@pytest.mark.parametrize("deleted", ["parent", "grandparent"])
def test_an_audit_says_a_deleted_ancestor_once(parent: tuple[Path, str], deleted: str) -> None:
    """Deleting a fork's parent (or grandparent) is one problem of its audit, not one per
    step it inherits, a 'tampered' header and seal, and every input they produced."""
    root, parent_id = parent
    with SQLiteStore(root) as store:
        child = fork(store, parent_id, at=6, workflow=FLOW, planner=_report()).id
        grandchild = fork(store, child, at=7, workflow=FLOW, planner=_report()).id
    gone = parent_id if deleted == "grandparent" else child
    with closing(sqlite3.connect(root / "trace.db")) as con:
        con.execute("DELETE FROM run_snapshots WHERE run_id = ?", (gone,))
        con.execute("DELETE FROM runs WHERE id = ?", (gone,))
        con.commit()
    with SQLiteStore(root) as store:
        report = audit(store, grandchild)
    assert [(p.check, p.kind) for p in report.problems] == [("hash_chain", "damaged")]
    assert f"which is not in {root}" in report.problems[0].message
    assert report.completeness.missing_steps == 7  # the steps it cannot read still count


def test_a_cycle_of_fork_parents_is_a_clear_error_not_a_recursion(
    parent: tuple[Path, str],
) -> None:
    """A parent_id edited to make two forks each other's parent sent show, audit, diff, get
    and the UI into a RecursionError (a traceback, HTTP 500), and the fork tree page and a
    fork's start state into endless loops."""
    from click.testing import CliRunner
    from starlette.testclient import TestClient

    from reprolam.cli.main import cli
    from reprolam.ui import create_app

    root, parent_id = parent
    with SQLiteStore(root) as store:
        child = fork(store, parent_id, at=6, workflow=FLOW, planner=_report()).id
        grandchild = fork(store, child, at=7, workflow=FLOW, planner=_report()).id
    with closing(sqlite3.connect(root / "trace.db")) as con:
        con.execute("UPDATE runs SET parent_id = ? WHERE id = ?", (grandchild, child))
        con.commit()
    runner = CliRunner()
    for command in (["show", grandchild], ["get", child, "x"], ["fork", child, "--at", "3"]):
        result = runner.invoke(cli, ["--store", str(root), *command])
        assert result.exit_code == 2, result.output
        assert "a cycle of forks" in result.stderr
    with SQLiteStore(root) as store:
        report = audit(store, child)
        assert [p.kind for p in report.problems] == ["damaged"]
        assert "a cycle of forks" in report.problems[0].message
        assert not replay(store, grandchild).verified
        with TestClient(
            create_app(store, index_in_background=False), base_url="http://localhost"
        ) as client:
            assert client.get(f"/runs/{child}/forks").status_code == 200
            assert client.get(f"/runs/{child}").status_code == 400


@pytest.mark.parametrize("at", [True, 1.5, None])
def test_a_fork_point_that_is_neither_an_index_nor_a_name_is_bad_input(
    parent: tuple[Path, str], at: Any
) -> None:
    # at=True forked at step 1; at=1.5 was looked up as an action named 1.5.
    root, parent_id = parent
    with SQLiteStore(root) as store, pytest.raises(ConfigError) as refused:
        fork(store, parent_id, at=at, workflow=FLOW, planner=_report())
    assert str(refused.value).startswith(f"at {at!r}: give a step index (a whole number) or")


@action(outputs=["values"])
def many() -> list[float]:
    return [float(i) for i in range(10_000)]  # past 32 KiB: a blob file, not a row


@action(outputs=["total"])
def add_all(values: list[float]) -> float:
    return sum(values)


def test_a_fork_stopped_by_a_missing_blob_names_the_run_it_left_interrupted(
    tmp_path: Path,
) -> None:
    """The fork's run was recorded (interrupted) before its first input could not be read,
    and the error named only the blob: `runs` showed a fork nobody had been told of."""
    flow = workflow("blob-fork", [many, add_all], outputs=["total"])
    with reprolam.open(tmp_path / "store") as rl:
        parent_id = rl.run(flow, planner="script").id
    (tmp_path / "store" / "artifacts").rename(tmp_path / "elsewhere")
    with reprolam.open(tmp_path / "store") as rl:
        with pytest.raises(IntegrityError, match="is missing") as caught:
            rl.fork(parent_id, at="add_all", workflow=flow)
        (left,) = [r for r in rl.runs() if r.id != parent_id]
        assert left.status.value == "interrupted"
        assert f"run {left.id} stopped there and is recorded as interrupted" in str(caught.value)
