"""Resume checks what it continues from, as fork does.

An interrupted run whose seed was edited in the database was resumed with the edited seed:
every new step drew from it, the run ended ``succeeded`` (exit 0), and only a later audit
said the header no longer held. Resume now refuses, before executing anything, a run whose
header (seed, policy, overrides, ...) or last finished step (whose hash the next step
chains to) was edited.
"""

from __future__ import annotations

import signal
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from click.testing import CliRunner

import crash_flow
import reprolam
from reprolam import action, workflow
from reprolam.cli.main import cli
from reprolam.errors import ConfigError, IntegrityError
from reprolam.history.resume import resume
from reprolam.trace import RunStatus, SQLiteStore
from test_crash import _run_script

FLOW = f"{crash_flow.__file__}:flow"


@pytest.fixture
def interrupted(tmp_path: Path) -> tuple[Path, str, int]:
    """A store whose one run was killed mid-way: (store, run id, its steps)."""
    store = tmp_path / "store"
    assert _run_script(store, "20").returncode == -signal.SIGKILL
    with SQLiteStore(store) as trace:
        (run,) = trace.list_runs()
        assert run.status is RunStatus.INTERRUPTED
        return store, run.id, len(trace.steps(run.id))


def _sql(root: Path, statement: str, *args: object) -> None:
    with closing(sqlite3.connect(root / "trace.db")) as con:
        assert con.execute(statement, args).rowcount == 1
        con.commit()


def _refused(store: Path, run_id: str, steps: int, match: str) -> None:
    with SQLiteStore(store) as trace:
        with pytest.raises(IntegrityError, match=match):
            resume(trace, run_id, workflow=FLOW)
        assert trace.get_run(run_id).status is RunStatus.INTERRUPTED
        assert len(trace.steps(run_id)) == steps  # nothing was executed
    done = CliRunner().invoke(cli, ["--store", str(store), "resume", run_id, "--workflow", FLOW])
    assert done.exit_code == 2
    assert done.stderr.startswith(f"error: cannot resume run {run_id}: ")


@pytest.mark.slow
def test_an_edited_seed_is_refused(interrupted: tuple[Path, str, int]) -> None:
    store, run_id, steps = interrupted
    _sql(store, "UPDATE runs SET seed = 8 WHERE id = ?", run_id)
    _refused(store, run_id, steps, "its record .* was changed after it was created")


@pytest.mark.slow
def test_an_edited_last_finished_step_is_refused(interrupted: tuple[Path, str, int]) -> None:
    store, run_id, steps = interrupted
    with closing(sqlite3.connect(store / "trace.db")) as con:
        (last,) = con.execute(
            "SELECT max(idx) FROM steps WHERE run_id = ? AND hash IS NOT NULL", (run_id,)
        ).fetchone()
    _sql(store, "UPDATE steps SET duration = 9.5 WHERE run_id = ? AND idx = ?", run_id, last)
    _refused(store, run_id, steps, rf"step {last}, the last finished one, was changed")


_HALT = {"now": False}


@action(outputs=["x"])
def _one() -> int:
    return 1


@action(outputs=["y"])
def _two(x: int) -> int:
    if _HALT["now"]:
        raise KeyboardInterrupt  # as Ctrl-C (or a kill) mid-step
    return x + 1


def test_an_interrupted_reproduction_is_refused_not_resumed_into_a_false_success(
    tmp_path: Path,
) -> None:
    """Resumed, a reproduction continued with a live planner, ended ``succeeded`` part way
    without a verdict, and its original's audit then read it as a divergence."""
    flow = workflow("halts", [_one, _two], outputs=["y"])
    with reprolam.open(tmp_path) as rl:
        original = rl.run(flow, planner="script")
        _HALT["now"] = True
        try:
            with pytest.raises(KeyboardInterrupt):
                rl.reproduce(original.id, workflow=flow)
        finally:
            _HALT["now"] = False
        (reproduction,) = [r for r in rl.runs() if r.verifies == original.id]
        assert reproduction.status is RunStatus.INTERRUPTED
        with pytest.raises(ConfigError, match="a reproduction is not resumed") as refused:
            rl.resume(reproduction.id, workflow=flow)
        assert f"`reprolam reproduce {original.id}`" in str(refused.value)
        assert rl.show(reproduction.id).run.status is RunStatus.INTERRUPTED  # left as it was
        assert rl.audit(original.id).problems == []
        # its audit says what works: it told to resume or fork it, which is refused
        (interrupted,) = rl.audit(reproduction.id).problems
        assert interrupted.message.endswith(f"reproduce run {original.id} again")


_HALT_LAST = {"now": False}


@action(outputs=["z"])
def _last(y: int) -> int:
    if _HALT_LAST["now"]:
        raise KeyboardInterrupt
    return y + 1


def test_a_step_row_missing_from_an_interrupted_run_is_refused(tmp_path: Path) -> None:
    """Resumed past a deleted middle step, the run re-ran a step twice, took wrong indices
    and ended ``succeeded`` with a step missing from its trace."""
    flow = workflow("gap", [_one, _two, _last], outputs=["z"])
    with reprolam.open(tmp_path) as rl:
        _HALT_LAST["now"] = True
        try:
            with pytest.raises(KeyboardInterrupt):
                rl.run(flow, planner="script")
        finally:
            _HALT_LAST["now"] = False
        (run,) = rl.runs()
        assert run.status is RunStatus.INTERRUPTED
    _sql(tmp_path, "DELETE FROM steps WHERE run_id = ? AND idx = 1", run.id)
    with SQLiteStore(tmp_path) as trace:
        with pytest.raises(IntegrityError, match=r"step 1 of run .* is missing \(the next"):
            resume(trace, run.id, workflow=flow)
        assert trace.get_run(run.id).status is RunStatus.INTERRUPTED
        assert [s.index for s in trace.steps(run.id)] == [0, 2]  # nothing was executed
    refused = CliRunner().invoke(cli, ["--store", str(tmp_path), "resume", run.id])
    assert refused.exit_code == 2
    assert refused.stderr.startswith(f"error: cannot resume run {run.id}: step 1 of run")


def test_a_fork_does_not_start_from_a_trace_missing_a_step(tmp_path: Path) -> None:
    """A fork past a deleted step applied the steps around it as if none was missing: its
    first step took index 4 for a fork at 3, and its trace had two gaps."""
    flow = workflow("gap", [_one, _two, _last], outputs=["z"])
    with reprolam.open(tmp_path) as rl:
        run = rl.run(flow, planner="script")
    _sql(tmp_path, "DELETE FROM steps WHERE run_id = ? AND idx = 1", run.id)
    with reprolam.open(tmp_path) as rl:
        with pytest.raises(IntegrityError, match=rf"step 1 of run {run.id}'s trace is missing"):
            rl.fork(run.id, at=3, workflow=flow)
        assert len(rl.runs()) == 1  # nothing was written


EDITED = """
import os

from reprolam import action, workflow


def scale(x):
    return x * 2


@action(outputs=["y"])
def first() -> int:
    return 1


@action(outputs=["z"])
def second(y: int) -> int:
    if os.environ.get("ADV2_RESUME_STOP"):
        raise KeyboardInterrupt  # Ctrl-C while the step runs: the run is interrupted
    return scale(y)


flow = workflow("adv2-edited", [first, second], outputs=["z"])
"""


def test_resume_refuses_a_run_whose_code_changed_since_it_was_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A helper edited between the interruption and the resume: the resumed step ran the new
    code while the run's code record (fixed with its header) kept the old, so reproduce then
    said 'code changed, outputs identical', the outputs in fact from the new code. Resume now
    refuses, naming the change and the fork that runs the rest with the new code; a module
    dict the process changed (state, its file unchanged) is no edit."""
    flow = tmp_path / "adv2_edited.py"
    flow.write_text(EDITED)
    monkeypatch.setenv("ADV2_RESUME_STOP", "1")
    with reprolam.open(tmp_path / "store") as rl:
        with pytest.raises(KeyboardInterrupt):
            rl.run(f"{flow}:flow")
        (run,) = rl.runs()
        monkeypatch.delenv("ADV2_RESUME_STOP")
        flow.write_text(EDITED.replace("x * 2", "x * 3"))
        with pytest.raises(ConfigError, match="its code changed since it was recorded") as e:
            rl.resume(run.id)
        assert "helper" in str(e.value)
        assert "fork it at step 1 (at=1)" in str(e.value)
        assert rl.store.get_run(run.id).status is RunStatus.INTERRUPTED  # nothing executed
        flow.write_text(EDITED)
        assert rl.resume(run.id).outputs == {"z": 2}
