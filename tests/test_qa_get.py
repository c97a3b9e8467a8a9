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


@action(outputs=["png", "text", "array", "sparse", "raw"])
def many() -> tuple[bytes, str, object, object, bytes]:
    import numpy as np
    from scipy import sparse

    return (
        b"\x89PNG\r\n\x1a\n" + b"\0" * 8,
        "# report\n",
        np.arange(6.0).reshape(2, 3),
        sparse.random(4, 4, density=0.5, format="csr", random_state=0),
        b"\x00\x01",
    )


@action(outputs=["report"])
def write_file(*, ctx: reprolam.ActionContext) -> Path:
    out = ctx.workdir / "report.md"
    out.write_text("# hi\n")
    return out


FORMATS = ["native", "json", "csv", "parquet", "npy", "npz", "png", "txt"]
NAMES = ["metrics", "table", "png", "text", "array", "sparse", "raw", "report"]


def test_a_refused_format_names_the_formats_that_work(tmp_path: Path) -> None:
    """Every refusal lists the formats the value can take, and each of those really works."""
    store = str(tmp_path / "store")
    flow = workflow(
        "formats", [measure, tabulate, many, write_file], outputs=["metrics", "table", "report"]
    )
    with reprolam.open(store) as rl:
        run_id = rl.run(flow).id
    runner = CliRunner()
    for name in NAMES:
        works: set[str] = set()
        listed: set[str] = set()
        for fmt in FORMATS:
            out = str(tmp_path / "out" / f"{name}-{fmt}")
            (tmp_path / "out").mkdir(exist_ok=True)
            args = ["--store", store, "get", run_id, name, "--as", fmt, "-o", out]
            result = runner.invoke(cli, args)
            if result.exit_code == 0:
                works.add(fmt)
                continue
            assert result.exit_code == 2, result.output
            (line,) = result.stderr.splitlines()
            said = line.rpartition("get it as ")[2]
            listed |= {f for f in FORMATS if f in said.replace(",", " ").split()}
            assert listed, line
        assert listed <= works, (name, listed, works)  # only formats that work are offered
        assert listed == works, (name, listed, works)


@action(outputs=["rows"])
def count_rows(table: Path) -> int:
    return len(table.read_text().splitlines())


def test_an_input_recorded_without_a_copy_says_where_its_bytes_are(tmp_path: Path) -> None:
    data = tmp_path / "data.csv"
    data.write_text("a\n1\n2\n")
    store = str(tmp_path / "store")
    flow = workflow("no-copy", [count_rows], outputs=["rows"], inputs=["table"])
    with reprolam.open(store) as rl:
        run_id = rl.run(flow, inputs={"table": reprolam.InputData(data, copy=False)}).id
    data.write_text("a\n1\n2\n3\n")  # changed: the recorded bytes are nowhere now
    args = ["--store", store, "get", run_id, "table", "-o", str(tmp_path / "out.csv")]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.splitlines()
    assert "recorded without a copy" in line
    assert str(data) in line
    assert not (tmp_path / "out.csv").exists()


def test_get_takes_output_as_export_does(recorded: tuple[str, str], tmp_path: Path) -> None:
    """`export -o/--output`, `get -o/--out`: a user who learnt one spelling can use it."""
    store, run_id = recorded
    target = tmp_path / "m.json"
    args = ["--store", store, "get", run_id, "metrics", "--output", str(target)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert json.loads(target.read_text()) == {"accuracy": 0.5}


def test_dash_writes_the_artifact_to_stdout_as_export_does(
    recorded: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """-o - wrote a file named '-' and printed its summary line where the data was wanted
    (`reprolam get RUN metrics -o - | jq`)."""
    store, run_id = recorded
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["--store", store, "get", run_id, "metrics", "-o", "-"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"accuracy": 0.5}
    table = CliRunner().invoke(cli, ["--store", store, "get", run_id, "table", "-o", "-"])
    assert table.stdout.splitlines() == [",a", "0,1", "1,2"]
    args = ["--store", store, "get", run_id, "metrics", "-o", "-", "--json"]
    both = CliRunner().invoke(cli, args)
    assert both.exit_code == 2
    assert not (tmp_path / "-").exists()
