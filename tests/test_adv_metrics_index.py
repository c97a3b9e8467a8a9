"""The metrics index beside the trace (``run_metrics``: what ``runs --metric`` filters and
sorts by) is derived data, as run-state snapshots are: audit recomputes it from the run's
verified metrics output and reports an edited one, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from click.testing import CliRunner

import reprolam
from reprolam.cli.main import cli
from reprolam.history.annotate import index_metrics
from reprolam.history.audit import audit
from reprolam.trace.queries import RunQuery
from test_tamper_columns import Backend, backend

__all__ = ["backend"]  # the fixture: SQLite and PostgreSQL stores to edit by hand


def _indexed(backend: Backend, run_id: str) -> dict[str, float]:
    with backend.open() as store:
        (row,) = store.query_runs(RunQuery(ids=(run_id,), limit=1)).rows
    assert row.indexed
    return dict(row.metrics)


def test_an_edited_metric_in_the_index_is_reported(backend: Backend) -> None:
    with backend.open() as store:
        run_id = reprolam.run("breast-cancer", store=store, planner="rules").id
        assert index_metrics(store) == 1
        assert audit(store, run_id).clean
    honest = _indexed(backend, run_id)["accuracy"]
    p = backend.param
    backend.execute(
        f"UPDATE run_metrics SET value = {p} WHERE run_id = {p} AND name = {p}",
        (0.9999, run_id, "accuracy"),
    )
    assert _indexed(backend, run_id)["accuracy"] == 0.9999  # what runs --metric sorts by now
    with backend.open() as store:
        report = audit(store, run_id)
    (problem,) = report.problems
    assert (problem.check, problem.kind, problem.run) == ("hash_chain", "tampered", run_id)
    assert "metrics index" in problem.message
    assert f"accuracy={honest!r}" in problem.message
    assert "0.9999" in problem.message


def test_a_run_not_indexed_yet_or_without_metrics_audits_clean(backend: Backend) -> None:
    with backend.open() as store:
        run_id = reprolam.run("breast-cancer", store=store, planner="rules").id
        assert audit(store, run_id).clean  # not indexed yet: nothing to compare


def test_a_damaged_metrics_output_is_one_artifact_problem_not_also_the_index(
    backend: Backend,
) -> None:
    with backend.open() as store:
        run = reprolam.run("breast-cancer", store=store, planner="rules").run
        assert index_metrics(store) == 1
    key = run.outputs["metrics"]
    p = backend.param
    backend.execute(f"UPDATE artifacts SET data = {p} WHERE digest = {p}", (b"{}", key))
    with backend.open() as store:
        report = audit(store, run.id)
    assert [p.kind for p in report.problems] == ["artifact"]


def test_text_in_the_sqlite_index_is_reported_not_a_traceback(tmp_path: Path) -> None:
    # SQLite keeps what it is given: float('abc') made runs, audit and the UI's run list
    # fail (a ValueError traceback, HTTP 500).
    with reprolam.open(tmp_path) as rl:
        run_id = rl.run("breast-cancer", planner="rules").id
        assert index_metrics(rl.store) == 1
    with closing(sqlite3.connect(tmp_path / "trace.db")) as conn, conn:
        conn.execute("UPDATE run_metrics SET value = 'abc' WHERE name = 'accuracy'")
    with reprolam.open(tmp_path) as rl:
        (row,) = rl.store.query_runs(RunQuery(ids=(run_id,), limit=1)).rows
        assert "accuracy" not in row.metrics
        assert "f1" in row.metrics
        (problem,) = audit(rl.store, run_id).problems
        assert "the metrics index of run" in problem.message
        assert "accuracy=None" in problem.message
    listed = CliRunner().invoke(cli, ["--store", str(tmp_path), "runs", "--metric", "accuracy"])
    assert listed.exit_code == 1, listed.output  # warned: the index is not the output
    assert "the metrics index of run" in listed.stderr
