"""Hole: a ``--input NAME=PATH --no-copy`` file that changed mid-run was read by later steps
as if it still held the recorded digest. The run must stop (interrupted, exit 2) with one
line naming the file and the fix."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result

from reprolam import action, workflow
from reprolam.cli.main import cli
from reprolam.trace.open import open_store
from reprolam.trace.records import RunStatus


@action(outputs=["first"])
def read_then_edit(table: Path) -> str:
    text = table.read_text()
    # Someone (here: the action itself) rewrites the original within the same 100 ms,
    # keeping its size: only a content check can tell.
    table.write_text(text.upper())
    return text


@action(outputs=["second"])
def read_again(table: Path) -> str:
    return table.read_text()


flow = workflow(
    "adv4-nocopy", [read_then_edit, read_again], outputs=["first", "second"], inputs=["table"]
)


def invoke(store: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--store", str(store), *args], catch_exceptions=False)


def test_an_uncopied_input_changed_mid_run_stops_the_run(tmp_path: Path) -> None:
    table = tmp_path / "table.csv"
    table.write_text("a\n1\n")
    store = tmp_path / "store"
    args = ["run", f"{__file__}:flow", "--planner", "script", "--input", f"table={table}"]
    result = invoke(store, *args, "--no-copy")
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    error = [line for line in lines if line.startswith("error:")]
    assert len(error) == 1, result.output
    assert str(table) in error[0]
    assert "restore" in error[0]
    assert "Traceback" not in result.output
    with open_store(store) as opened:
        (run,) = opened.list_runs()
        assert run.status is RunStatus.INTERRUPTED
        steps = opened.steps(run.id)
        assert not [s for s in steps if s.action == "read_again" and s.outputs], steps


def test_an_unchanged_uncopied_input_runs_through(tmp_path: Path) -> None:
    @action(outputs=["first"])
    def read_only(table: Path) -> str:
        return table.read_text()

    calm = workflow("adv4-calm", [read_only, read_again], outputs=["second"], inputs=["table"])
    table = tmp_path / "table.csv"
    table.write_text("a\n1\n")
    from reprolam import open as open_client
    from reprolam.engine.inputs import InputData

    with open_client(tmp_path / "store") as rl:
        done = rl.run(calm, planner="script", inputs={"table": InputData(table, copy=False)})
        assert done.succeeded
        assert done.outputs["second"] == "a\n1\n"
    assert json.dumps(done.outputs)
