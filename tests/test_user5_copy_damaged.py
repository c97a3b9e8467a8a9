"""``store copy`` into a store already holding a damaged copy of an artifact it copies.

The copy skipped an artifact the destination already had (content-addressed: the same
digest, assumed the same bytes), so the copied runs silently referred to damaged bytes and
the copy said nothing. It now verifies those it finds there and stores the source's bytes
again, which replace a damaged blob file (the report's ``repaired``, one line each on the
command line); one it cannot repair (a row in the database) is reported (``damaged``, a
``warning:`` line). A blob file of the wrong size or kind that only a skipped run refers
to is stored again too (one ``lstat`` tells); an edit of the same size there is not read.
"""

from __future__ import annotations

import json
import os
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from click.testing import CliRunner

import reprolam
from reprolam import ActionContext, action, workflow
from reprolam.cli.main import cli
from reprolam.trace.sqlite import SQLiteStore


@action(outputs=["data"])
def load() -> bytes:
    return bytes(range(256)) * 400  # large: a blob file


@action(outputs=["size"], determinism="seeded")
def measure(data: bytes, *, ctx: ActionContext) -> int:
    return len(data) + int(ctx.rng.integers(3))


flow = workflow("copy-damaged", [load, measure], outputs=["size"])


def _damaged_destination(tmp_path: Path) -> tuple[Path, Path, str]:
    source, destination = tmp_path / "src", tmp_path / "dst"
    with reprolam.open(source) as rl:
        rl.run(flow, seed=1)
    with reprolam.open(destination) as rl:
        key = rl.run(flow, seed=2).steps[0].outputs["data"]
    with SQLiteStore(destination) as trace:
        blob = trace.blobs.path_of(key)
    os.chmod(blob, 0o644)
    data = bytearray(blob.read_bytes())
    data[7] ^= 1
    blob.write_bytes(bytes(data))
    return source, destination, key


def test_the_copy_repairs_a_damaged_blob_already_there(tmp_path: Path) -> None:
    source, destination, key = _damaged_destination(tmp_path)
    result = CliRunner().invoke(cli, ["store", "copy", str(source), str(destination)])
    assert result.exit_code == 0, result.output
    with reprolam.open(source) as rl:
        (run_id,) = [run.id for run in rl.runs()]
    assert not [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("repaired")]
    assert f"repaired artifact {key} in {destination}: its blob file was damaged" in line
    with reprolam.open(destination) as rl:
        assert [rl.audit(run.id).problems for run in rl.runs()] == [[], []]
    again = CliRunner().invoke(cli, ["store", "copy", str(source), str(destination), "--json"])
    assert json.loads(again.stdout)["skipped"] == [run_id]
    assert json.loads(again.stdout)["damaged"] == {}
    assert json.loads(again.stdout)["repaired"] == []


def test_a_damaged_row_already_there_is_reported_kept_as_it_was(tmp_path: Path) -> None:
    """An inline artifact edited in trace.db: content-addressed writes keep the row."""
    source, destination = tmp_path / "src", tmp_path / "dst"
    with reprolam.open(source) as rl:
        rl.run(flow, seed=1)
    with reprolam.open(destination) as rl:
        key = rl.run(flow, seed=2).steps[1].outputs["size"]
    with closing(sqlite3.connect(destination / "trace.db")) as con:
        con.execute("UPDATE artifacts SET data = ? WHERE digest = ?", (b"51201", key))
        con.commit()
    with reprolam.open(source) as rl:
        rl.run(flow, seed=2)  # refers to the same size in the destination
    result = CliRunner().invoke(cli, ["store", "copy", str(source), str(destination), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert list(report["damaged"]) == [key]
    assert report["repaired"] == []


@pytest.mark.parametrize("damage", ["truncated", "link"])
def test_a_blob_of_the_wrong_size_or_kind_only_skipped_runs_use_is_stored_again(
    tmp_path: Path, damage: str
) -> None:
    source, destination = tmp_path / "src", tmp_path / "dst"
    with reprolam.open(source) as rl:
        run = rl.run(flow, seed=1)
    CliRunner().invoke(cli, ["store", "copy", str(source), str(destination)])
    key = run.steps[0].outputs["data"]
    with SQLiteStore(destination) as trace:
        blob = trace.blobs.path_of(key)
    good = blob.read_bytes()
    blob.unlink()
    if damage == "link":
        (tmp_path / "other").write_bytes(good[::-1])
        blob.symlink_to(tmp_path / "other")
    else:
        blob.write_bytes(good[:100])
    result = CliRunner().invoke(cli, ["store", "copy", str(source), str(destination), "--json"])
    assert json.loads(result.stdout)["skipped"] == [run.id]
    assert blob.read_bytes() == good
    assert not blob.is_symlink()
    with reprolam.open(destination) as rl:
        assert rl.audit(run.id).clean


def test_an_intact_destination_reports_nothing(tmp_path: Path) -> None:
    source, destination = tmp_path / "src", tmp_path / "dst"
    with reprolam.open(source) as rl:
        rl.run(flow, seed=1)
    with reprolam.open(destination) as rl:
        rl.run(flow, seed=2)
    result = CliRunner().invoke(cli, ["store", "copy", str(source), str(destination), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["damaged"] == {}
