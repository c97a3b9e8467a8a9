"""Ctrl-C during `reprolam run`: one line naming the run and how to continue it; nothing lost."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

SLOW_FLOW = """
import time
from reprolam import action, workflow

@action(outputs=["a"])
def first() -> int:
    return 1

@action(outputs=["b"], determinism="nondeterministic")
def second(a: int) -> int:
    print("second started", flush=True)
    time.sleep(60)
    return a + 1

flow = workflow("slow", [first, second], outputs=["b"])
"""


def _cli(store: Path, *args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "REPROLAM_STORE": str(store)}
    return subprocess.run(
        [sys.executable, "-m", "reprolam", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        **kwargs,  # type: ignore[call-overload]
    )


@pytest.mark.slow
@pytest.mark.parametrize("as_json", [False, True])
def test_ctrl_c_names_the_interrupted_run_and_resume(tmp_path: Path, as_json: bool) -> None:
    flows = tmp_path / "slow.py"
    flows.write_text(SLOW_FLOW)
    store = tmp_path / "store"
    env = {**os.environ, "REPROLAM_STORE": str(store)}
    args = [sys.executable, "-m", "reprolam", "run", f"{flows}:flow"] + ["--json"] * as_json
    pipe = subprocess.PIPE
    proc = subprocess.Popen(args, env=env, stdout=pipe, stderr=pipe, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # until the slow step is running
        listed = _cli(store, "runs", "--json")
        if listed.returncode == 0 and json.loads(listed.stdout or "[]"):
            shown = _cli(store, "show", json.loads(listed.stdout)[0]["id"], "--json")
            if shown.returncode == 0 and len(json.loads(shown.stdout)["steps"]) == 2:
                break
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    (run,) = json.loads(_cli(store, "runs", "--json").stdout)
    assert run["status"] == "interrupted"
    assert proc.returncode == 130  # 128 + SIGINT, as the shell reports a Ctrl-C
    assert "Traceback" not in stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: interrupted: run {run['id']} ")
    assert f"reprolam resume {run['id']}" in last
    if as_json:
        assert stdout == ""  # nothing half-written where a program reads JSON
    kept = json.loads(_cli(store, "show", run["id"], "--json").stdout)["steps"]
    assert kept[0]["status"] == "succeeded"  # what ran before Ctrl-C stays recorded


SWEPT_FLOW = """
import time
from reprolam import action, workflow

@action(outputs=["a"])
def first() -> int:
    return 1

@action(outputs=["b"])
def second(a: int, *, wait: float = 0.0) -> int:
    time.sleep(wait)
    return a + 1

flow = workflow("swept", [first, second], outputs=["b"])
"""


@pytest.mark.slow
def test_ctrl_c_during_a_sweep_says_which_points_were_kept(tmp_path: Path) -> None:
    flows = tmp_path / "swept.py"
    flows.write_text(SWEPT_FLOW)
    store = tmp_path / "store"
    ran = _cli(store, "run", f"{flows}:flow", "--json")
    assert ran.returncode == 0, ran.stderr
    parent = json.loads(ran.stdout)["run"]["id"]
    env = {**os.environ, "REPROLAM_STORE": str(store)}
    args = [sys.executable, "-m", "reprolam", "sweep", parent, "--at", "second"]
    args += ["--grid", "second.wait=0,60", "--workflow", f"{flows}:flow"]
    pipe = subprocess.PIPE
    proc = subprocess.Popen(args, env=env, stdout=pipe, stderr=pipe, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # until the second point is running
        listed = json.loads(_cli(store, "runs", "--json").stdout or "[]")
        if any(r["status"] == "running" for r in listed) and len(listed) == 3:
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130  # 128 + SIGINT, as the shell reports a Ctrl-C
    assert "Traceback" not in stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("error: interrupted: the sweep stopped; 1 finished point kept")
    statuses = sorted(r["status"] for r in json.loads(_cli(store, "runs", "--json").stdout))
    assert statuses == ["interrupted", "succeeded", "succeeded"]


@pytest.mark.slow
def test_ctrl_c_in_any_other_command_is_one_line_and_exit_130(tmp_path: Path) -> None:
    """Commands without a run of their own to name (here `experiment`) still end like a
    Ctrl-C'd tool: one line, no traceback, 130, not click's "Aborted!" with exit 1."""
    env = {**os.environ, "REPROLAM_STORE": str(tmp_path / "store")}
    args = [sys.executable, "-m", "reprolam", "experiment", "--trials", "30"]
    args += ["--out", str(tmp_path / "out")]
    pipe = subprocess.PIPE
    proc = subprocess.Popen(args, env=env, stdout=pipe, stderr=pipe, text=True)
    time.sleep(4)  # past start-up, inside the study
    proc.send_signal(signal.SIGINT)
    _stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert "Aborted" not in stderr
    assert stderr.strip().splitlines()[-1] == "error: interrupted (Ctrl-C)"


STOPPED_FLOW = """
from reprolam import action, workflow

@action(outputs=["a"])
def first() -> int:
    return 1

@action(outputs=["b"])
def second(a: int) -> int:
    raise KeyboardInterrupt  # the user's first Ctrl-C, while this step runs

flow = workflow("stopped", [first, second], outputs=["b"])
"""


def _second_ctrl_c_when(target: object, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Deliver a real SIGINT to this process as ``target.name`` is entered: a second Ctrl-C
    arriving while the first is being handled."""
    original = getattr(target, name)

    def interrupted_again(*args: object, **kwargs: object) -> object:
        os.kill(os.getpid(), signal.SIGINT)
        return original(*args, **kwargs)

    monkeypatch.setattr(target, name, interrupted_again)


def _invoke_stopped_run(tmp_path: Path) -> tuple[str, Path]:
    from click.testing import CliRunner

    from reprolam.cli.main import cli

    flows = tmp_path / "stopped.py"
    flows.write_text(STOPPED_FLOW)
    store = tmp_path / "store"
    result = CliRunner().invoke(cli, ["--store", str(store), "run", f"{flows}:flow"])
    assert result.exit_code == 130, result.output
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # given back
    return result.stderr, store


def _only_run(store: Path) -> tuple[str, str]:
    import reprolam

    with reprolam.open(store) as rl:
        (record,) = rl.runs()
        return str(record.id), record.status.value


def test_a_second_ctrl_c_while_the_run_is_recorded_interrupted_is_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It left the run recorded as still running, and the CLI said 'no run was recorded'."""
    from reprolam.engine.loop import RunLoop

    _second_ctrl_c_when(RunLoop, "_finish", monkeypatch)
    stderr, store = _invoke_stopped_run(tmp_path)
    run_id, status = _only_run(store)
    assert status == "interrupted"
    assert stderr.strip().splitlines()[-1].startswith(f"error: interrupted: run {run_id} ")


def test_a_second_ctrl_c_while_the_cli_reports_the_first_still_names_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It cut the line naming the run short: 'error: interrupted (Ctrl-C)' and nothing else."""
    from reprolam.cli import interrupt

    _second_ctrl_c_when(interrupt, "_interrupted", monkeypatch)
    stderr, store = _invoke_stopped_run(tmp_path)
    run_id, _status = _only_run(store)
    (line,) = stderr.strip().splitlines()[-1:]
    assert line.startswith(f"error: interrupted: run {run_id} ")
    assert f"reprolam resume {run_id}" in line


def test_ctrl_c_counts_the_steps_that_finished_as_kept(tmp_path: Path) -> None:
    """It counted the step the Ctrl-C stopped, recorded as started, which resume executes
    again: '(2 steps kept)' of a run with one finished step."""
    stderr, store = _invoke_stopped_run(tmp_path)
    run_id, _status = _only_run(store)
    assert f"run {run_id} is recorded as interrupted (1 finished step kept)" in stderr


def test_a_second_ctrl_c_before_the_engine_recorded_the_first_still_names_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A KeyboardInterrupt the engine could not hold off (it came before its handler ran)
    leaves the run running, for the next process to mark; the CLI said 'no run was recorded'."""
    from reprolam.engine.loop import RunLoop

    def cut_short(self: RunLoop, *args: object) -> object:
        raise KeyboardInterrupt

    monkeypatch.setattr(RunLoop, "_finish", cut_short)
    stderr, store = _invoke_stopped_run(tmp_path)
    monkeypatch.undo()
    run_id, status = _only_run(store)
    assert status in {"running", "interrupted"}  # marked by the next process to open it
    assert stderr.strip().splitlines()[-1].startswith(f"error: interrupted: run {run_id} ")


STOPPED_WHEN_TOLD = """
import os
from reprolam import action, workflow

@action(outputs=["a"])
def first() -> int:
    return 1

@action(outputs=["b"])
def second(a: int) -> int:
    if os.environ.get("QA_STOP_NOW"):
        raise KeyboardInterrupt  # the user's Ctrl-C, in the reproduction only
    return a + 1

flow = workflow("stopped", [first, second], outputs=["b"])
"""


def test_ctrl_c_during_reproduce_says_to_reproduce_again_not_to_resume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It said 'continue it with reprolam resume REPRODUCTION', which resume refuses: a
    reproduction is not resumed."""
    from click.testing import CliRunner

    from reprolam.cli.main import cli

    flows = tmp_path / "stopped.py"
    flows.write_text(STOPPED_WHEN_TOLD)
    store = str(tmp_path / "store")
    ran = CliRunner().invoke(cli, ["--store", store, "run", f"{flows}:flow"])
    assert ran.exit_code == 0, ran.output
    original, _status = _only_run(tmp_path / "store")
    monkeypatch.setenv("QA_STOP_NOW", "1")
    stopped = CliRunner().invoke(cli, ["--store", store, "reproduce", original])
    assert stopped.exit_code == 130, stopped.output
    line = stopped.stderr.strip().splitlines()[-1]
    assert line.startswith("error: interrupted: run ")
    assert "reprolam resume" not in line
    assert line.endswith(f"reproduce the original again, `reprolam reproduce {original}`")


def test_a_killed_reproduction_is_recorded_saying_to_reproduce_again_not_to_resume(
    tmp_path: Path,
) -> None:
    """A reproduction whose process died (kill -9) was marked interrupted with the reason
    'continue it with `reprolam resume`', which refuses reproductions."""
    flows = tmp_path / "stopped.py"
    flows.write_text(STOPPED_WHEN_TOLD.replace("raise KeyboardInterrupt", "os._exit(9)"))
    store = tmp_path / "store"
    assert _cli(store, "run", f"{flows}:flow").returncode == 0
    original, _status = _only_run(store)
    env = {**os.environ, "REPROLAM_STORE": str(store), "QA_STOP_NOW": "1"}
    died = subprocess.run(
        [sys.executable, "-m", "reprolam", "reproduce", original],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert died.returncode == 9, died.stderr
    listed = json.loads(_cli(store, "runs", "--json").stdout)
    (reproduction,) = [run for run in listed if run["id"] != original]
    assert reproduction["status"] == "interrupted"
    assert "reprolam resume" not in reproduction["error"]
    assert reproduction["error"].endswith(
        f"reproduce the original again, `reprolam reproduce {original}`"
    )
