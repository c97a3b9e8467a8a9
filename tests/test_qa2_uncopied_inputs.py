"""An input recorded without a copy (--no-copy) that changed since: fork and resume refuse.

Their steps would read the new content under the recorded digest -- a trace that says it
read bytes it did not, and a cache advice ("same as parent step") that is not true.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from reprolam import action, workflow
from reprolam.cli.main import cli
from reprolam.engine.engine import Engine
from reprolam.planning.base import RunState
from reprolam.planning.rules import ScriptPlanner
from reprolam.trace.records import RunStatus
from reprolam.trace.sqlite import SQLiteStore


@action(outputs=["rows"])
def count_rows(table: Path) -> int:
    return len(table.read_text().splitlines())


@action(outputs=["double"])
def twice(rows: int) -> int:
    return rows * 2


flow = workflow("uncopied-flow", [count_rows, twice], outputs=["double"], inputs=["table"])


def invoke(store: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--store", str(store), *args])


@pytest.fixture
def table(tmp_path: Path) -> Path:
    path = tmp_path / "table.csv"
    path.write_text("a\n1\n2\n")
    return path


def test_a_fork_refuses_an_uncopied_input_that_changed(tmp_path: Path, table: Path) -> None:
    store = tmp_path / "store"
    args = ("run", f"{__file__}:flow", "--planner", "script", "--input", f"table={table}")
    done = invoke(store, *args, "--no-copy", "--json")
    assert done.exit_code == 0, done.output
    run_id = json.loads(done.stdout)["run"]["id"]
    unchanged = invoke(store, "fork", run_id, "--at", "0", "--json")
    assert unchanged.exit_code == 0, unchanged.output  # the same bytes: forks as ever

    table.write_text("a\n1\n2\n3\n4\n")
    refused = invoke(store, "fork", run_id, "--at", "0")
    assert refused.exit_code == 2, refused.output
    line = refused.stderr.strip()
    assert "\n" not in line
    assert line.startswith(f"error: input 'table' changed: {table} was ")
    assert f"run {run_id} recorded it without a copy" in line
    assert "restore it to fork it, or start a new run with the new data" in line
    assert len(json.loads(invoke(store, "runs", "--json").stdout)) == 2  # nothing written

    table.write_text("a\n1\n2\n")  # restored: the fork goes ahead
    assert invoke(store, "fork", run_id, "--at", "0").exit_code == 0


def test_a_copied_input_forks_from_its_copy_whatever_the_file_says_now(
    tmp_path: Path, table: Path
) -> None:
    store = tmp_path / "store"
    done = invoke(
        store, "run", f"{__file__}:flow", "--planner", "script", "--input", f"table={table}",
        "--json",
    )  # fmt: skip
    run_id = json.loads(done.stdout)["run"]["id"]
    table.write_text("changed\n")
    forked = invoke(store, "fork", run_id, "--at", "0", "--json")
    assert forked.exit_code == 0, forked.output
    assert json.loads(forked.stdout)["run"]["outputs"] == json.loads(done.stdout)["run"]["outputs"]


def test_resume_refuses_an_uncopied_input_that_changed(tmp_path: Path, table: Path) -> None:
    from reprolam.engine.inputs import InputData

    planner = ScriptPlanner(["count_rows", "twice"])

    class StopAfterFirst:
        name, instant = planner.name, planner.instant

        def propose(self, state: RunState) -> Any:
            if len(state.steps) == 1:
                raise KeyboardInterrupt
            return planner.propose(state)

        def config(self) -> dict[str, Any]:
            return planner.config()

    with SQLiteStore(tmp_path / "store") as opened:
        with pytest.raises(KeyboardInterrupt):
            Engine(opened).run(
                flow, planner=StopAfterFirst(), inputs={"table": InputData(table, copy=False)}
            )
        (run,) = opened.list_runs()
        assert run.status is RunStatus.INTERRUPTED
    table.unlink()
    gone = invoke(tmp_path / "store", "resume", run.id, "--workflow", f"{__file__}:flow")
    assert gone.exit_code == 2, gone.output
    assert f"input 'table' changed: {table} was " in gone.stderr
    assert "now (missing)" in gone.stderr
    assert "restore it to resume it" in gone.stderr
    with SQLiteStore(tmp_path / "store") as opened:
        assert opened.get_run(run.id).status is RunStatus.INTERRUPTED  # still resumable
        assert len(opened.steps(run.id)) == 1
    table.write_text("a\n1\n2\n")
    resumed = invoke(tmp_path / "store", "resume", run.id, "--workflow", f"{__file__}:flow")
    assert resumed.exit_code == 0, resumed.output
