"""`reprolam compare` of a sweep's runs on an 80-column terminal: nothing cut, in parts."""

from __future__ import annotations

import json
import re
from pathlib import Path

from click.testing import CliRunner

import reprolam
from reprolam import action, workflow
from reprolam.cli.main import cli


@action(outputs=["metrics"])
def evaluate(*, scaler: str = "standard", regularization: float = 1.0) -> dict[str, float]:
    return {"accuracy": 0.9647887323943662 - regularization / 1000, "f1": 0.97321}


FLOW = workflow("compare-width", [evaluate], outputs=["metrics"], metrics="metrics")


def test_many_runs_are_compared_whole_in_as_many_tables_as_needed(tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    with reprolam.open(store) as rl:
        ids = [
            rl.run(FLOW, set={"evaluate.scaler": s, "evaluate.regularization": c}).id
            for s in ("standard", "minmax")
            for c in (0.1, 1.0, 10.0)
        ]
    result = CliRunner(env={"COLUMNS": "80"}).invoke(cli, ["--store", store, "compare", *ids])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines), result.stdout
    assert "…" not in result.stdout
    shown = re.findall(r"\b01[0-9a-f]{6}-[0-9a-f-]+", result.stdout)
    assert len(shown) == len(set(shown)) == 6  # every run once, by a distinct prefix
    for run_id, prefix in zip(ids, shown, strict=True):
        assert run_id.startswith(prefix)
    assert any(line.lstrip().startswith("evaluate.scaler*") for line in lines)
    assert "0.964689" in result.stdout  # 6 significant digits, as a single table shows
    listed = CliRunner().invoke(cli, ["--store", store, "compare", *ids, "--json"])
    assert len(json.loads(listed.stdout)["runs"]) == 6
