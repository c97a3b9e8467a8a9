"""`reprolam get` as a new user types it: a bad -o is one error line, a directory takes NAME.EXT."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import reprolam
from reprolam import action, workflow
from reprolam.cli.main import cli


@action(outputs=["metrics"])
def measure() -> dict[str, float]:
    return {"accuracy": 0.5}


@action(outputs=["table"])
def tabulate() -> object:
    import pandas as pd

    return pd.DataFrame({"a": [1, 2]})


FLOW = workflow("get-qa", [measure, tabulate], outputs=["metrics", "table"], metrics="metrics")


@pytest.fixture
def recorded(tmp_path: Path) -> tuple[str, str]:
    store = str(tmp_path / "store")
    with reprolam.open(store) as rl:
        return store, rl.run(FLOW).id


@pytest.mark.parametrize("name", ["metrics", "table"])
def test_an_output_path_in_a_missing_directory_is_one_error_line(
    recorded: tuple[str, str], tmp_path: Path, name: str
) -> None:
    store, run_id = recorded
    target = tmp_path / "missing" / "out.bin"
    result = CliRunner().invoke(cli, ["--store", store, "get", run_id, name, "-o", str(target)])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: cannot write ")
    assert str(target) in line
    assert "--out" in line


def test_an_existing_directory_receives_name_dot_ext(
    recorded: tuple[str, str], tmp_path: Path
) -> None:
    store, run_id = recorded
    folder = tmp_path / "results"
    folder.mkdir()
    args = ["--store", store, "get", run_id, "metrics", "-o", str(folder), "--json"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["path"] == str(folder / "metrics.json")
    assert json.loads((folder / "metrics.json").read_text()) == {"accuracy": 0.5}
