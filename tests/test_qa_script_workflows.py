"""A workflow run from a script's __main__: reproducing it from the CLI says what to do."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from reprolam.cli.main import cli

SCRIPT = """
import reprolam
from reprolam import action, workflow

@action(outputs=["y"])
def double(*, x: int = 2) -> int:
    return x * 2

flow = workflow("script-flow", [double], outputs=["y"])

if __name__ == "__main__":
    with reprolam.open(".reprolam") as rl:
        print(rl.run(flow).id)
"""


def test_reproducing_a_script_run_names_both_ways_to_give_its_workflow(tmp_path: Path) -> None:
    (tmp_path / "analysis.py").write_text(SCRIPT)
    made = subprocess.run(
        [sys.executable, "analysis.py"], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    run_id = made.stdout.strip()
    store = str(tmp_path / ".reprolam")
    found = CliRunner().invoke(cli, ["--store", store, "reproduce", run_id])
    assert found.exit_code == 0, found.output  # from the script file the run recorded
    assert "1/1 steps bitwise identical" in found.stdout
    (tmp_path / "analysis.py").rename(tmp_path / "moved.py")
    refused = CliRunner().invoke(cli, ["--store", store, "reproduce", run_id])
    assert refused.exit_code == 2
    (line,) = refused.stderr.splitlines()
    assert "--trust-pickle) to rebuild it from there, or name" in line
    assert line.endswith("pass --workflow MODULE:ATTR or --workflow PATH.py:ATTR")
    given = ["--store", store, "reproduce", run_id, "--workflow", f"{tmp_path}/moved.py:flow"]
    done = CliRunner().invoke(cli, given)
    assert done.exit_code == 0, done.output
    assert "1/1 steps bitwise identical" in done.stdout


UNGUARDED = """
import reprolam
from reprolam import action, workflow


@action(outputs=["metrics"])
def one(*, n: int = 2) -> dict:
    return {"n": n}


flow = workflow("noguard", [one], outputs=["metrics"])
with reprolam.open("store") as rl:  # no `if __name__ == "__main__":`
    rl.run(flow)
"""


def test_a_script_that_runs_when_imported_is_not_run_again_by_reproduce(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Loading its workflow to reproduce the run executed its top level: one more run each
    time (and, for a script that reproduces itself, runs without end)."""
    monkeypatch.chdir(tmp_path)  # its top level opens "store" where it is imported from
    script = tmp_path / "noguard.py"
    script.write_text(UNGUARDED)
    subprocess.run([sys.executable, str(script)], cwd=tmp_path, check=True)
    store = ["--store", str(tmp_path / "store")]
    runner = CliRunner()
    (run_id,) = [r["id"] for r in json.loads(runner.invoke(cli, [*store, "runs", "--json"]).stdout)]
    result = runner.invoke(cli, [*store, "reproduce", run_id])
    assert result.exit_code == 2, result.output
    assert "started a run while it was imported" in " ".join(result.output.split())
    assert len(json.loads(runner.invoke(cli, [*store, "runs", "--json"]).stdout)) == 1


SESSION = """
import reprolam
from reprolam import action, workflow


@action(outputs=["metrics"])
def one(*, n: int = 2) -> dict:
    return {"n": n}


flow = workflow("session-flow", [one], outputs=["metrics"])
with reprolam.open("store") as rl:  # a notebook's cells, or a script without a guard
    run = rl.run(flow)
    print(rl.reproduce(run.id).summary())
    print(run.fork(at="one", set={"one.n": 3}).metrics)
    print(rl.sweep(run.id, at="one", grid={"one.n": [4, 5]}).succeeded)
"""


@pytest.mark.parametrize("how", ["stdin", "script"])
def test_a_workflow_defined_in_main_is_found_again_in_the_same_process(
    tmp_path: Path, how: str
) -> None:
    """README: a workflow given as an object is found again 'in this process (the same
    module)'. Defined in a notebook (or `python -`) it was not: reproduce, fork and sweep
    asked for trusted=True; in a script without an `if __name__` guard they imported the
    file again and were refused as a run started while importing it."""
    script = tmp_path / "session.py"
    script.write_text(SESSION)
    args, given = (
        ([sys.executable, "-"], SESSION)
        if how == "stdin"
        else ([sys.executable, str(script)], None)
    )
    done = subprocess.run(
        args, input=given, cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "reproduced: 1/1 steps bitwise identical",
        "{'n': 3}",
        "True",
    ]


UNGUARDED_PROCESS = """
import reprolam
from reprolam import action, workflow


@action(outputs=["metrics"])
def one(*, n: int = 2) -> dict:
    return {"n": n}


flow = workflow("noguard-process", [one], outputs=["metrics"])
with reprolam.open("store") as rl:  # no `if __name__ == "__main__":`
    rl.run(flow)
    second = rl.run(flow, executor="process")
    print(second.status.value)
    print(second.steps[-1].error.message)
"""


def test_a_process_worker_loading_an_unguarded_script_records_no_run(tmp_path: Path) -> None:
    """Each worker loads the main script again: its top level ran the script's first run
    again in the worker, recorded as a second succeeded run, then an interrupted one
    (multiprocessing's bootstrapping RuntimeError)."""
    script = tmp_path / "noguard.py"
    script.write_text(UNGUARDED_PROCESS)
    done = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    status, _ = done.stdout.strip().split("\n")
    assert status == "failed"  # its step: the worker died before the action ran
    said = " ".join(done.stderr.split())
    assert f"a worker process loading {str(script)!r} again" in said
    assert 'put that code under if __name__ == "__main__":' in said
    listed = CliRunner().invoke(cli, ["--store", str(tmp_path / "store"), "runs", "--json"])
    assert sorted(r["status"] for r in json.loads(listed.stdout)) == ["failed", "succeeded"]


def test_a_process_worker_that_exits_with_an_error_before_its_action_says_where_to_look(
    tmp_path: Path,
) -> None:
    """The step's error blamed 'out of memory, a crash in native code, os._exit or a signal'
    for a worker that exited with code 1, a Python error printed to stderr (here: the
    unguarded main script it loaded again)."""
    script = tmp_path / "noguard.py"
    script.write_text(UNGUARDED_PROCESS)
    done = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    error = done.stdout.strip().split("\n")[-1]
    assert "died before one started (within 600.0 s): exited with code 1" in error, done.stderr
    assert "an error in the worker, printed to this program's stderr" in error
    assert 'outside if __name__ == "__main__":' in error
    assert "out of memory" not in error
