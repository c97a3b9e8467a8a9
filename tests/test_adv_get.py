"""`get` of an edited record: the bytes' digest check cannot tell an output pointer edited to
name other (intact) bytes, so the step it is taken from is re-hashed, and a run output that
no step produced is refused."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from click.testing import CliRunner

import reprolam
from reprolam import action, workflow
from reprolam.cli.main import cli
from reprolam.errors import IntegrityError
from reprolam.results import get_artifact
from reprolam.trace import SQLiteStore


@action(outputs=["low"])
def low() -> int:
    return 1


@action(outputs=["high"])
def high(low: int) -> int:
    return low + 100


FLOW = workflow("pointers", [low, high], outputs=["high"])


def _recorded(root: Path) -> tuple[str, str, str]:
    with reprolam.open(root) as rl:
        run = rl.run(FLOW)
    low_digest = run.steps[0].outputs["low"]
    return run.id, low_digest, run.steps[1].outputs["high"]


def _sql(root: Path, statement: str, *args: object) -> None:
    with closing(sqlite3.connect(root / "trace.db")) as con:
        assert con.execute(statement, args).rowcount == 1
        con.commit()


def test_an_intact_run_gives_its_values(tmp_path: Path) -> None:
    run_id, _low, _high = _recorded(tmp_path)
    with SQLiteStore(tmp_path) as store:
        got = get_artifact(store, run_id, "high", out=tmp_path / "high.json")
        assert got.step == 1
    assert (tmp_path / "high.json").read_text().strip() == "101"


def test_a_step_output_pointed_at_other_bytes_is_refused(tmp_path: Path) -> None:
    run_id, low_digest, _high = _recorded(tmp_path)
    _sql(
        tmp_path,
        "UPDATE steps SET outputs = ? WHERE run_id = ? AND idx = 1",
        f'{{"high":"{low_digest}"}}',
        run_id,
    )
    _sql(tmp_path, "UPDATE runs SET outputs = ? WHERE id = ?", f'{{"high":"{low_digest}"}}', run_id)
    with SQLiteStore(tmp_path) as store:
        for name in ("high", "1.high", "high.high"):
            with pytest.raises(IntegrityError, match=r"step 1 of run .* was changed after it ran"):
                get_artifact(store, run_id, name, out=tmp_path / "x.json")
    assert not (tmp_path / "x.json").exists()
    done = CliRunner().invoke(cli, ["--store", str(tmp_path), "get", run_id, "high"])
    assert done.exit_code == 2
    assert "changed after it ran" in done.stderr


def test_a_run_output_no_step_produced_is_refused(tmp_path: Path) -> None:
    run_id, low_digest, _high = _recorded(tmp_path)
    other = "f" * 64
    _sql(tmp_path, "UPDATE runs SET outputs = ? WHERE id = ?", f'{{"high":"{other}"}}', run_id)
    with SQLiteStore(tmp_path) as store, pytest.raises(IntegrityError, match="no step"):
        get_artifact(store, run_id, "high", out=tmp_path / "x.json")
    assert low_digest  # the other outputs stay readable
    with SQLiteStore(tmp_path) as store:
        assert get_artifact(store, run_id, "low", out=tmp_path / "low.json").step == 0
