"""A sweep's id where a run's is expected is named as a sweep, with the runs to give instead."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import reprolam
from reprolam.cli.main import cli

FLOW = """
from reprolam import action, workflow

@action(outputs=["x"])
def make(*, n: int = 1) -> int:
    return n

@action(outputs=["metrics"])
def score(x: int) -> dict:
    return {"value": float(x)}

flow = workflow("refs", [make, score], outputs=["metrics"])
"""


def invoke(store: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--store", str(store), *args], catch_exceptions=False)


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str, list[str]]:
    root = tmp_path_factory.mktemp("refs")
    (root / "refs.py").write_text(FLOW)
    store = root / "store"
    ran = invoke(store, "run", f"{root / 'refs.py'}:flow", "--json")
    assert ran.exit_code == 0, ran.output
    run_id = json.loads(ran.stdout)["run"]["id"]
    swept = invoke(store, "sweep", run_id, "--at", "make", "--grid", "make.n=2,3", "--json")
    assert swept.exit_code == 0, swept.output
    payload = json.loads(swept.stdout)
    return store, run_id, payload["sweep"], [p["run_id"] for p in payload["points"]]


@pytest.mark.parametrize(
    "args",
    [
        ["show", "{sweep}"],
        ["replay", "{sweep}"],
        ["reproduce", "{sweep}"],
        ["fork", "{sweep}", "--at", "0"],
        ["audit", "{sweep}"],
        ["diff", "{run}", "{sweep}"],
        ["get", "{sweep}", "metrics"],
        ["tag", "{sweep}", "best"],
        ["note", "{sweep}", "text"],
        ["resume", "{sweep}"],
        ["export", "{sweep}", "--format", "dot"],
        ["sweep", "{sweep}", "--at", "make", "--grid", "make.n=4"],
        ["show", "{prefix}"],
    ],
)
def test_a_sweep_id_given_for_a_run_is_named_as_a_sweep(
    swept: tuple[Path, str, str, list[str]], args: list[str]
) -> None:
    store, run_id, sweep_id, points = swept
    filled = [a.format(sweep=sweep_id, run=run_id, prefix=sweep_id[:13]) for a in args]
    result = invoke(store, *filled)
    assert result.exit_code == 2, result.output
    line = result.stderr.strip()
    assert "\n" not in line
    assert line.startswith(f"error: {sweep_id} is a sweep, not a run: 2 point(s)")
    assert f"point 0: {points[0]}" in line
    assert f"reprolam compare {sweep_id}" in line


def test_a_sweep_id_is_named_from_python_too(swept: tuple[Path, str, str, list[str]]) -> None:
    store, _run_id, sweep_id, _points = swept
    with reprolam.open(store) as rl, pytest.raises(reprolam.NotFoundError, match="is a sweep"):
        rl.show(sweep_id)


def test_an_id_that_is_neither_still_says_no_run(swept: tuple[Path, str, str, list[str]]) -> None:
    store, _run_id, _sweep_id, _points = swept
    result = invoke(store, "show", "ffff")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: no run with id or prefix 'ffff'")
