"""A fork's cache note never offers --reuse for a parent step that failed (nothing to take)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from reprolam.cli.main import cli

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
