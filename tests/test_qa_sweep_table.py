"""`reprolam sweep`'s summary on an 80-column terminal: every point's metric and run id whole."""

from __future__ import annotations

import json
import re
from pathlib import Path

from click.testing import CliRunner

from reprolam.cli.main import cli

FLOW = """
from reprolam import action, workflow

@action(outputs=["prepared"])
def preprocess_everything(*, scaler_kind_name: str = "standard") -> str:
    return scaler_kind_name

@action(outputs=["metrics"])
def train_the_model(prepared: str, *, regularization_strength: float = 1.0) -> dict:
    bonus = 0.01 if prepared == "standard" else 0.0
    return {"accuracy_on_held_out": 0.912345 + bonus - regularization_strength / 1000}

flow = workflow("long-names", [preprocess_everything, train_the_model], outputs=["metrics"],
                metrics="metrics")
"""


def test_the_summary_keeps_metric_run_ids_and_point_numbers_whole(tmp_path: Path) -> None:
    flows = tmp_path / "flows.py"
    flows.write_text(FLOW)
    store = str(tmp_path / "store")
    runner = CliRunner(env={"COLUMNS": "80"})
    made = runner.invoke(cli, ["--store", store, "run", f"{flows}:flow", "--json"])
    assert made.exit_code == 0, made.output
    parent = json.loads(made.stdout)["run"]["id"]
    args = ["--store", store, "sweep", parent, "--at", "preprocess_everything", "--jobs", "2"]
    args += ["--grid", "preprocess_everything.scaler_kind_name=standard,minmax"]
    args += ["--grid", "train_the_model.regularization_strength=0.5,2"]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    listed = json.loads(runner.invoke(cli, ["--store", store, "runs", "--json"]).stdout)
    forks = {r["id"] for r in listed if r["id"] != parent}
    assert len(forks) == 4
    lines = result.stdout.splitlines()
    table = [line for line in lines if re.match(r"^\s+\d\s", line)]
    assert len(table) == 4, result.stdout
    for number, line in enumerate(table):
        assert line.split()[0] == str(number)  # the point number column is there
        assert "…" not in line, line  # nothing cut: metric, run id, status
        assert re.search(r"\b0\.9\d{3}\b", line), line  # the metric, 4 significant digits
    assert all(len(line) <= 80 for line in table)
    # every run id shown (table and progress lines) is a prefix of exactly one fork
    in_table = re.findall(r"\b01[0-9a-f]{6}-[0-9a-f-]{4,}", "\n".join(table))
    assert len(set(in_table)) == 4
    points = [line for line in lines if line.startswith("point ")] + table
    shown = set(re.findall(r"\b01[0-9a-f]{6}-[0-9a-f-]{4,}", "\n".join(points)))
    for prefix in shown:
        assert len([f for f in forks if f.startswith(prefix.rstrip("-"))]) == 1, prefix
