"""A sweep whose metric column is all dashes says why.

A workflow with a metrics output but no ``metrics=`` declaration, or a ``--metric``
naming something else, gave a table of dashes and no word of explanation. (An output
named ``metrics`` is now the headline without a declaration: test_qa3_metrics_default.)
"""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result

from reprolam import action, workflow
from reprolam.cli.main import cli


@action(outputs=["metrics"])
def score(*, x: float = 1.0) -> dict[str, float]:
    return {"v": x * 2}


@action(outputs=["scores"])
def score_named_otherwise(*, x: float = 1.0) -> dict[str, float]:
    return {"v": x * 2}


undeclared = workflow("undeclared", [score_named_otherwise], outputs=["scores"])
declared = workflow("declared", [score], outputs=["metrics"], metrics="metrics")


def invoke(tmp_path: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--store", str(tmp_path / "store"), *args])


def _sweep(tmp_path: Path, flow: str, *extra: str) -> str:
    ran = invoke(tmp_path, "run", f"{__file__}:{flow}", "--json")
    assert ran.exit_code == 0, ran.output
    parent = json.loads(ran.stdout)["run"]["id"]
    action = "score_named_otherwise" if flow == "undeclared" else "score"
    swept = invoke(tmp_path, "sweep", parent, "--at", "0", "--grid", f"{action}.x=1,2", *extra)
    assert swept.exit_code == 0, swept.output
    return " ".join(swept.stdout.split())


def test_no_declared_metrics_names_the_fix(tmp_path: Path) -> None:
    out = _sweep(tmp_path, "undeclared")
    assert "workflow 'undeclared' declares no headline metrics" in out
    assert "workflow(..., metrics='OUTPUT')" in out
    assert "2 steps executed" in out


def test_an_unknown_metric_is_refused_before_any_point_runs(tmp_path: Path) -> None:
    # it was explained only after every point ran (a column of dashes, exit 0); the
    # parent's headline metrics say up front that no point would have a value
    ran = invoke(tmp_path, "run", f"{__file__}:declared", "--json")
    parent = json.loads(ran.stdout)["run"]["id"]
    for how in (["--grid", "score.x=1,2"], ["--random", "2", "--space", "score.x=1:2"]):
        swept = invoke(tmp_path, "sweep", parent, "--at", "0", *how, "--metric", "accuracy")
        assert swept.exit_code == 2, swept.output
        line = " ".join(swept.stderr.split())
        assert "--metric accuracy" in line, line
        assert "headline metrics are v" in line
        assert "--metric NAME" in line
        assert "Traceback" not in swept.output
    listed = invoke(tmp_path, "runs", "--json")
    assert len(json.loads(listed.stdout)) == 1  # no point was forked
    assert "declares no headline metrics" not in _sweep(tmp_path, "declared")


def test_one_step_is_one_step(tmp_path: Path) -> None:
    ran = invoke(tmp_path, "run", f"{__file__}:declared", "--json")
    parent = json.loads(ran.stdout)["run"]["id"]
    swept = invoke(tmp_path, "sweep", parent, "--at", "0", "--grid", "score.x=5")
    assert swept.exit_code == 0, swept.output
    assert "1 step executed, 0 reused" in swept.stdout
