"""An adversary's store: provenance is never exported from a record that does not verify.

A step edited in the database, a run's status changed, the last step deleted, an artifact
row deleted, a fork's inherited step edited, the original of a reproduction edited: PROV
and RO-Crate exports are refused in one line naming the run and the problem, and nothing
is written. Pictures still draw a damaged run (they are how one looks at it), and an
interrupted run exports as before.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from reprolam import Proposal
from reprolam.cli.main import cli
from reprolam.errors import IntegrityError
from reprolam.history.fork import fork
from reprolam.history.reproduce import reproduce
from reprolam.provenance import export_run
from reprolam.trace.sqlite import SQLiteStore
from test_provenance_scenarios import FLOW, Scripted, troubled_run
from test_tamper_columns import Backend, backend

pytest.importorskip("prov", reason="pip install 'reprolam[provenance]'")
pytest.importorskip("rocrate", reason="pip install 'reprolam[provenance]'")

__all__ = ["backend"]  # the fixture: SQLite and PostgreSQL stores to edit by hand


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A run (7 steps, a failure, rejections), a fork of it at 6 and a reproduction of it."""
    root = tmp_path_factory.mktemp("adv-export") / "store"
    with SQLiteStore(root) as store:
        plain = troubled_run(store)
        script = Scripted([Proposal("report")], {"name": "script"})
        forked = fork(store, plain, at=6, workflow=FLOW, planner=script).id
        repro = reproduce(store, plain, workflow=FLOW).reproduction
        assert repro is not None
    return {"root": root, "plain": plain, "fork": forked, "repro": repro.id}


def _sql(store: Path, statement: str, *args: Any) -> None:
    with closing(sqlite3.connect(store / "trace.db")) as con:
        assert con.execute(statement, args).rowcount >= 1, statement
        con.commit()


TAMPER: dict[str, Callable[[Path, dict[str, Any]], None]] = {
    "step params": lambda s, r: _sql(
        s, "UPDATE steps SET params = '{\"n\":5}' WHERE run_id = ? AND idx = 3", r["plain"]
    ),
    "run status": lambda s, r: _sql(
        s, "UPDATE runs SET status = 'failed' WHERE id = ?", r["plain"]
    ),
    "last step deleted": lambda s, r: _sql(
        s,
        "DELETE FROM steps WHERE run_id = ? AND idx = (SELECT max(idx) FROM steps "
        "WHERE run_id = ?)",
        r["plain"],
        r["plain"],
    ),
    "artifact row deleted": lambda s, r: _sql(
        s, "DELETE FROM artifacts WHERE producer_run = ? AND producer_name = 'report'", r["plain"]
    ),
}


@pytest.fixture
def copy(recorded: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    target = tmp_path / "store"
    shutil.copytree(recorded["root"], target)
    return {**recorded, "root": target, "out": tmp_path / "out"}


@pytest.mark.parametrize("fmt", ["prov-json", "rocrate"])
@pytest.mark.parametrize("tamper", list(TAMPER), ids=list(TAMPER))
def test_a_tampered_run_is_not_exported_as_provenance(
    copy: dict[str, Any], tamper: str, fmt: str
) -> None:
    TAMPER[tamper](copy["root"], copy)
    with SQLiteStore(copy["root"]) as store, pytest.raises(IntegrityError) as info:
        export_run(store, copy["plain"], format=fmt, output=copy["out"])
    assert f"run {copy['plain']} does not verify" in str(info.value)
    assert "nothing was exported" in str(info.value)
    assert not copy["out"].exists()


@pytest.mark.parametrize("which", ["fork", "repro"])
def test_a_run_whose_parent_or_original_was_edited_is_not_exported_as_a_crate(
    copy: dict[str, Any], which: str
) -> None:
    """A fork inherits the edited step; a reproduction's crate carries its original."""
    TAMPER["step params"](copy["root"], copy)
    wanted = f"run {copy['plain']} does not verify"
    with SQLiteStore(copy["root"]) as store, pytest.raises(IntegrityError, match=wanted):
        export_run(store, copy[which], format="rocrate", output=copy["out"])
    assert not copy["out"].exists()


def test_the_cli_says_it_in_one_line_and_a_picture_still_draws(copy: dict[str, Any]) -> None:
    TAMPER["run status"](copy["root"], copy)
    store = str(copy["root"])
    out = copy["out"]
    result = CliRunner().invoke(
        cli, ["--store", store, "export", copy["plain"], "--format", "prov-n", "-o", str(out)]
    )
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"error: cannot export run {copy['plain']} as prov-n: ")
    assert "does not match its seal" in line
    assert not out.exists()
    picture = CliRunner().invoke(
        cli, ["--store", store, "export", copy["plain"], "--format", "dot"]
    )
    assert picture.exit_code == 0, picture.output
    assert "digraph" in picture.stdout


def test_an_untouched_store_still_exports_every_run(copy: dict[str, Any]) -> None:
    copy["out"].mkdir()
    with SQLiteStore(copy["root"]) as store:
        for which in ("plain", "fork", "repro"):
            export_run(store, copy[which], format="rocrate", output=copy["out"] / which)
            assert (copy["out"] / which / "ro-crate-metadata.json").is_file()


def test_a_tampered_run_is_not_exported_from_either_sql_backend(
    backend: Backend, tmp_path: Path
) -> None:
    """SQLite and PostgreSQL alike (the check reads the store through its contract)."""
    with backend.open() as store:
        run_id = troubled_run(store)
        export_run(store, run_id, format="prov-json", output=tmp_path / "before.json")
    backend.set("runs", (run_id,), "status", "failed")
    with backend.open() as store, pytest.raises(IntegrityError, match="does not match its seal"):
        export_run(store, run_id, format="prov-json", output=tmp_path / "after.json")
    assert not (tmp_path / "after.json").exists()


@pytest.mark.parametrize(("name", "archive"), [("crate.tar.gz", ".tar.gz"), ("crate.tgz", ".tgz")])
def test_a_crate_path_naming_an_archive_it_does_not_write_is_refused(
    recorded: dict[str, Any], tmp_path: Path, name: str, archive: str
) -> None:
    """`export -o crate.tar.gz` wrote a directory named crate.tar.gz (README: a directory
    or a .zip), which no tool that opens a .tar.gz reads."""
    out = tmp_path / name
    result = CliRunner().invoke(
        cli,
        ["--store", str(recorded["root"]), "export", recorded["plain"], "--format", "rocrate",
         "-o", str(out)],
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert result.stderr == (
        f"error: --output {out}: the rocrate format writes a directory or a .zip file, not a "
        f"{archive} archive: give --output {tmp_path / 'crate.zip'}, or a directory\n"
    )
    assert not out.exists()


@pytest.mark.parametrize("fmt", ["prov-json", "rocrate", "svg"])
def test_an_empty_output_path_is_refused_as_empty(
    recorded: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    """`export -o ''` was the working directory: 'cannot write export to '/cwd': it is a
    directory', or for a crate 'it exists and is not an empty directory'."""
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(
        cli, ["--store", str(recorded["root"]), "export", recorded["plain"], "--format", fmt,
              "-o", ""],
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert result.stderr == (
        "error: --output is an empty path: give a file path (for rocrate, a directory or a .zip)\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_a_file_format_given_a_directory_path_is_refused(
    recorded: dict[str, Any], tmp_path: Path
) -> None:
    """`export --format svg -o pic/` wrote a file named pic (pathlib drops the slash)."""
    out = f"{tmp_path}/pic/"
    result = CliRunner().invoke(
        cli, ["--store", str(recorded["root"]), "export", recorded["plain"], "--format", "svg",
              "-o", out],
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert result.stderr == (
        f"error: --output {out} ends in /, naming a directory, and the svg format writes one "
        f"file: give a file path, e.g. --output {out}run.svg\n"
    )
    assert not (tmp_path / "pic").exists()
