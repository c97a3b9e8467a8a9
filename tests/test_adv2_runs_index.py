"""``runs --metric`` over an edited metrics index.

The list is filtered and ordered by ``run_metrics`` (derived data beside the trace), and its
values are read from each run's metrics output: a run whose indexed accuracy was raised by
hand was listed first, with exit 0, while its row showed its true accuracy. A row whose index
and output disagree is named in one ``warning:`` line and the command exits 1 (``audit``
reports the same run), on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import reprolam
from reprolam.cli.main import cli
from test_tamper_columns import Backend, postgres_backend, sqlite_backend


@pytest.fixture(params=["sqlite", "postgres"])
def store_args(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Backend, list[str]]:
    if request.param == "sqlite":
        return sqlite_backend(tmp_path / "store"), ["--store", str(tmp_path / "store")]
    dsn = request.getfixturevalue("pg_dsn")
    artifacts = tmp_path / "artifacts"
    return postgres_backend(dsn, artifacts), ["--store", dsn, "--artifacts", str(artifacts)]


def _cli(args: list[str], *more: str) -> Any:
    return CliRunner().invoke(cli, [*args, *more])


def test_a_run_placed_by_an_edited_index_is_named(store_args: tuple[Backend, list[str]]) -> None:
    backend, args = store_args
    with backend.open() as store:
        good = reprolam.run("breast-cancer", store=store, planner="rules").id
        weak = reprolam.run(
            "breast-cancer", store=store, planner="rules", set={"train_model.C": 0.001}, seed=3
        ).id
    done = _cli(args, "runs", "--metric", "accuracy", "--json")
    assert done.exit_code == 0, done.output
    assert [r["id"] for r in json.loads(done.stdout)] == [good, weak]
    assert done.stderr == ""
    p = backend.param
    backend.execute(
        f"UPDATE run_metrics SET value = {p} WHERE run_id = {p} AND name = {p}",
        (0.9999, weak, "accuracy"),
    )
    for more in ((), ("--json",)):
        done = _cli(args, "runs", "--metric", "accuracy", *more)
        assert done.exit_code == 1
        [line] = done.stderr.splitlines()
        assert line.startswith(f"warning: the metrics index of run {weak} says accuracy=0.9999")
        assert f"`reprolam audit {weak}`" in line
    assert _cli(args, "audit", weak).exit_code == 1
