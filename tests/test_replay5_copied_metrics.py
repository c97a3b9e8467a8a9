"""``runs --metric`` on a store just made by ``store copy``, after a metric was edited.

Reported: the first ``runs --metric NAME`` on a fresh copy printed a warning quoting a
stale edited value. The metrics index (``run_metrics``) is derived data beside the trace:
``store copy`` copies runs, steps, artifacts and annotations, not the index, so the copy
indexes each run from its metrics output the first time a list needs it. An index edited
in the source (or tags and notes added there) cannot reach the copy: no warning, exit 0,
the runs in the order of their true values, on SQLite and PostgreSQL destinations; an
edit made in the copy itself is still named.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

import reprolam
from reprolam.cli.main import cli
from test_tamper_columns import Backend, postgres_backend, sqlite_backend


def _cli(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def _listed(args: list[str]) -> list[dict[str, Any]]:
    done = _cli(*args, "runs", "--metric", "accuracy", "--json")
    assert done.exit_code == 0, done.output
    assert done.stderr == ""
    return list(json.loads(done.stdout))


@pytest.fixture(params=["sqlite", "postgres"])
def copy_to(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Backend, list[str]]:
    """The destination: its backend (to edit it) and the arguments naming it."""
    if request.param == "sqlite":
        return sqlite_backend(tmp_path / "copy"), [str(tmp_path / "copy")]
    dsn = request.getfixturevalue("pg_dsn")
    artifacts = tmp_path / "copy-artifacts"
    return postgres_backend(dsn, artifacts), [dsn, "--dst-artifacts", str(artifacts)]


def test_a_source_index_edited_by_hand_does_not_reach_the_copy(
    tmp_path: Path, copy_to: tuple[Backend, list[str]]
) -> None:
    source = tmp_path / "source"
    with reprolam.open(source) as rl:
        good = rl.run("breast-cancer", planner="rules").id
        weak = rl.run("breast-cancer", planner="rules", set={"train_model.C": 0.001}, seed=3).id
        rl.tag(weak, "weak")
        rl.note(weak, "C far too small")
    src = ["--store", str(source)]
    truth = {row["id"]: row["metrics"]["accuracy"] for row in _listed(src)}  # indexes it
    assert [*truth] == [good, weak]
    sqlite_backend(source).execute(
        "UPDATE run_metrics SET value = ? WHERE run_id = ? AND name = ?",
        (0.9999, weak, "accuracy"),
    )
    assert _cli(*src, "runs", "--metric", "accuracy").exit_code == 1  # the source says so

    backend, dst = copy_to
    copied = _cli("store", "copy", str(source), *dst, "--json")
    assert copied.exit_code == 0, copied.output
    assert json.loads(copied.stdout)["copied"] == [good, weak]
    at = ["--store", dst[0], *(["--artifacts", dst[2]] if len(dst) > 1 else [])]
    for _ in range(2):  # the first list indexes the copy, the second reads that index
        rows = _listed(at)
        assert [(r["id"], r["metrics"]["accuracy"]) for r in rows] == list(truth.items())
    shown = _cli(*at, "runs", "--metric", "accuracy", "--tag", "weak")
    assert shown.exit_code == 0, shown.output
    assert "0.9999" not in shown.output
    assert _cli(*at, "audit", weak).exit_code == 0

    p = backend.param  # an edit made in the copy is named there
    backend.execute(
        f"UPDATE run_metrics SET value = {p} WHERE run_id = {p} AND name = {p}",
        (0.5, good, "accuracy"),
    )
    done = _cli(*at, "runs", "--metric", "accuracy")
    assert done.exit_code == 1
    [line] = done.stderr.splitlines()
    assert line.startswith(f"warning: the metrics index of run {good} says accuracy=0.5")
