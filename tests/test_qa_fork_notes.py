"""A fork's cache note never offers --reuse for a parent step that failed (nothing to take)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import reprolam
from reprolam.cli.main import cli
from reprolam.trace import StepStatus

FLOW = """
from reprolam import action, workflow

@action(outputs=["a"])
def flaky(*, rows: int = 3) -> int:
    raise ValueError(f"bad data in row {rows}")

flow = workflow("flaky", [flaky], outputs=["a"])
"""


def test_a_fork_at_a_failed_step_says_the_parent_failed_there(tmp_path: Path) -> None:
    (tmp_path / "flows.py").write_text(FLOW)
    store = str(tmp_path / "store")
    made = CliRunner().invoke(cli, ["--store", store, "run", f"{tmp_path}/flows.py", "--json"])
    assert made.exit_code == 1, made.output
    parent = json.loads(made.stdout)["run"]["id"]
    result = CliRunner().invoke(cli, ["--store", store, "fork", parent, "--at", "flaky"])
    assert result.exit_code == 1, result.output  # the fork fails again, as its parent did
    note = next(line for line in result.stdout.splitlines() if "step 0 flaky" in line)
    assert "--reuse" not in note
    assert "which failed" in note


INTERRUPTED_FLOW = """
import os
from reprolam import action, workflow

@action(outputs=["a"])
def slow(*, rows: int = 3) -> int:
    if os.environ.get("STOP_HERE"):
        raise KeyboardInterrupt  # Ctrl-C while it runs: the step stays unfinished
    return rows

flow = workflow("stopped", [slow], outputs=["a"])
"""


def test_a_fork_at_an_unfinished_step_says_it_had_not_finished_not_that_it_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "stopped.py").write_text(INTERRUPTED_FLOW)
    store = str(tmp_path / "store")
    monkeypatch.setenv("STOP_HERE", "1")
    made = CliRunner().invoke(cli, ["--store", store, "run", f"{tmp_path}/stopped.py"])
    assert "recorded as interrupted" in made.output, made.output
    monkeypatch.delenv("STOP_HERE")
    with reprolam.open(store) as rl:
        (parent,) = rl.runs()
        assert rl.store.steps(parent.id)[0].status is StepStatus.STARTED
    result = CliRunner().invoke(cli, ["--store", store, "fork", parent.id, "--at", "0", "--json"])
    assert result.exit_code == 0, result.output
    fork = json.loads(result.stdout)["run"]["id"]
    with reprolam.open(store) as rl:
        advice = rl.store.steps(fork)[0].proposal["cache"]
    assert advice["unfinished"] is True
    listed = CliRunner().invoke(cli, ["--store", store, "fork", parent.id, "--at", "0"])
    note = next(line for line in listed.stdout.splitlines() if "step 0 slow" in line)
    assert "which had not finished (nothing to reuse)" in note
    assert "failed" not in note
