"""``store copy`` of an adversary's store.

A copy is faithful, so an edited record stays evident: copied SQLite -> PostgreSQL -> SQLite,
an edited step is reported by the last store's audit as by the first's. A damaged row (one
that no longer decodes) is read with defaults in place of what could not be decoded: the
copy wrote those defaults, silently, and a damaged ``params`` of a step whose params were
``{}`` came out as an intact record. Copy refuses a damaged record in one line, naming it.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from click.testing import CliRunner

import reprolam
from reprolam import action, workflow
from reprolam.cli.main import cli
from reprolam.errors import IntegrityError, NotFoundError
from reprolam.history.audit import audit
from reprolam.trace import SQLiteStore
from reprolam.trace.copy import copy_store
from reprolam.trace.postgres import PostgresStore


@action(outputs=["base"])
def base() -> int:
    return 1


@action(outputs=["score"])
def score(base: int, *, factor: int = 2) -> int:
    return base * factor


FLOW = workflow("scores", [base, score], outputs=["score"])


def _sql(root: Path, statement: str, *args: object) -> None:
    with closing(sqlite3.connect(root / "trace.db")) as con:
        assert con.execute(statement, args).rowcount == 1
        con.commit()


def _recorded(root: Path) -> str:
    with reprolam.open(root) as rl:
        return rl.run(FLOW, planner="script").id


def test_an_edited_step_stays_evident_through_copies(tmp_path: Path, pg_dsn: str) -> None:
    src = tmp_path / "src"
    run_id = _recorded(src)
    _sql(src, "UPDATE steps SET params = ? WHERE run_id = ? AND idx = 1", '{"factor":3}', run_id)
    with SQLiteStore(src) as store:
        [before] = [(p.kind, p.step) for p in audit(store, run_id).problems]
    assert before == ("tampered", 1)
    back = tmp_path / "back"
    with SQLiteStore(src) as a, PostgresStore(pg_dsn, artifacts_dir=tmp_path / "pg") as b:
        copy_store(a, b)
        assert [(p.kind, p.step) for p in audit(b, run_id).problems] == [before]
        with SQLiteStore(back) as c:
            copy_store(b, c)
            assert [(p.kind, p.step) for p in audit(c, run_id).problems] == [before]


@pytest.mark.parametrize(
    ("index", "column", "value"),
    [
        (0, "params", "{not json"),  # base's params are {}: the default, an intact record
        (1, "outputs", '{"score": 7}'),
        (1, "status", "finished!"),
    ],
)
def test_a_damaged_record_is_refused_not_rewritten(
    tmp_path: Path, index: int, column: str, value: str
) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    run_id = _recorded(src)
    _sql(src, f"UPDATE steps SET {column} = ? WHERE run_id = ? AND idx = ?", value, run_id, index)
    with SQLiteStore(src) as a, SQLiteStore(dst) as b:
        with pytest.raises(IntegrityError, match=rf"step {index} of run {run_id} .* is damaged"):
            copy_store(a, b)
        with pytest.raises(NotFoundError):
            b.get_run(run_id)  # nothing of it was written
    done = CliRunner().invoke(cli, ["store", "copy", str(src), str(tmp_path / "dst2")])
    assert done.exit_code == 2
    [line] = done.stderr.splitlines()
    assert line.startswith(f"error: the stored record of step {index} of run {run_id}")


def test_a_damaged_run_record_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "src"
    run_id = _recorded(src)
    _sql(src, "UPDATE runs SET planner = ? WHERE id = ?", "[", run_id)
    with (
        SQLiteStore(src) as a,
        SQLiteStore(tmp_path / "dst") as b,
        pytest.raises(IntegrityError, match=rf"record of run {run_id} .* is damaged"),
    ):
        copy_store(a, b)
