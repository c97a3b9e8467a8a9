"""reprolam get of frames Parquet or NumPy cannot hold: one error line, exit 2, no file left."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner, Result

from reprolam import action, workflow
from reprolam.cli.main import cli


@action(outputs=["mixed", "numbers"])
def make() -> tuple[pd.DataFrame, pd.DataFrame]:
    mixed = pd.DataFrame({"label": ["x", 1, None], "n": pd.array([1, None, 3], dtype="Int64")})
    numbers = pd.DataFrame({"a": np.arange(3, dtype=np.float64), "b": [1, 2, 3]})
    return mixed, numbers


flow = workflow("frames-flow", [make], outputs=["mixed", "numbers"])


def invoke(tmp_path: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--store", str(tmp_path / "store"), *args])


@pytest.fixture
def run_id(tmp_path: Path) -> str:
    done = invoke(tmp_path, "run", f"{__file__}:flow", "--planner", "script", "--json")
    assert done.exit_code == 0, done.output
    return str(json.loads(done.stdout)["run"]["id"])


def test_a_column_of_mixed_types_is_refused_as_parquet_in_one_line(
    tmp_path: Path, run_id: str
) -> None:
    pytest.importorskip("pyarrow")
    target = tmp_path / "mixed.parquet"
    got = invoke(tmp_path, "get", run_id, "mixed", "--as", "parquet", "-o", str(target))
    assert got.exit_code == 2, got.output
    assert "Traceback" not in got.output
    assert got.stderr.startswith("error: a frame artifact cannot be written as Parquet (")
    assert "column label" in got.stderr
    assert "get it as csv, json or native" in got.stderr
    assert not target.exists()  # no half-written file named like a result
    as_csv = invoke(tmp_path, "get", run_id, "mixed", "-o", str(tmp_path / "mixed.csv"))
    assert as_csv.exit_code == 0, as_csv.output
    assert (tmp_path / "mixed.csv").read_text().splitlines()[0] == ",label,n"


def test_npy_is_offered_only_for_frames_numpy_holds_without_objects(
    tmp_path: Path, run_id: str
) -> None:
    wrong = invoke(tmp_path, "get", run_id, "mixed", "--as", "png", "-o", str(tmp_path / "m"))
    assert wrong.exit_code == 2
    offered = wrong.stderr.rpartition("get it as ")[2].strip()
    assert "npy" not in offered.split(", ")  # asking for it would only fail
    refused = invoke(tmp_path, "get", run_id, "mixed", "--as", "npy", "-o", str(tmp_path / "m"))
    assert refused.exit_code == 2
    assert "get it as native, json, csv" in refused.stderr
    fine = invoke(tmp_path, "get", run_id, "numbers", "-o", str(tmp_path / "n.npy"))
    assert fine.exit_code == 0, fine.output
    assert np.load(tmp_path / "n.npy").tolist() == [[0.0, 1.0], [1.0, 2.0], [2.0, 3.0]]


@action(outputs=["labels"])
def _labelled() -> pd.DataFrame:
    return pd.DataFrame({0: [1.0], "0": [2.0]})


def test_column_labels_that_read_the_same_in_parquet_are_refused(tmp_path: Path) -> None:
    """Labels 0 and "0" became one name twice: a .parquet file pyarrow refuses to read."""
    pytest.importorskip("pyarrow")
    from reprolam import open as open_client

    with open_client(tmp_path / "store") as rl:
        run_id = rl.run(workflow("labels", [_labelled], outputs=["labels"])).id
    target = tmp_path / "labels.parquet"
    got = invoke(tmp_path, "get", run_id, "labels", "-o", str(target))
    assert got.exit_code == 2, got.output
    assert "column labels 0 and '0' are the same text there" in " ".join(got.stderr.split())
    assert not target.exists()


@action(outputs=["swapped"])
def _big_endian() -> pd.DataFrame:
    return pd.DataFrame({"counts": np.arange(3, dtype=">i4")})


def test_a_big_endian_column_is_refused_as_parquet_in_one_line(tmp_path: Path) -> None:
    """pyarrow's ArrowNotImplementedError ('Byte-swapped arrays not supported') is not a
    TypeError or ValueError: it was a traceback."""
    pytest.importorskip("pyarrow")
    from reprolam import open as open_client

    with open_client(tmp_path / "store") as rl:
        run_id = rl.run(workflow("swapped", [_big_endian], outputs=["swapped"])).id
    target = tmp_path / "swapped.parquet"
    got = invoke(tmp_path, "get", run_id, "swapped", "-o", str(target))
    assert got.exit_code == 2, got.output
    said = " ".join(got.stderr.split())
    assert "cannot be written as Parquet (Byte-swapped arrays not supported" in said
    assert said.endswith("get it as csv, json or native")
    assert not target.exists()
