"""``store copy`` into a store already holding a damaged copy of an artifact it copies.

The copy skipped an artifact the destination already had (content-addressed: the same
digest, assumed the same bytes), so the copied runs silently referred to damaged bytes and
the copy said nothing. It now verifies those it finds there and reports the damaged ones
(the report's ``damaged``, a ``warning:`` line per artifact on the command line).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

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


def test_the_copy_reports_a_damaged_artifact_already_there(tmp_path: Path) -> None:
    source, destination, key = _damaged_destination(tmp_path)
    result = CliRunner().invoke(cli, ["store", "copy", str(source), str(destination)])
    assert result.exit_code == 0, result.output
    with reprolam.open(source) as rl:
        (run_id,) = [run.id for run in rl.runs()]
    (warning,) = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert f"already in {destination}, kept as it was: " in warning
    assert key in warning
    assert "corrupted" in warning
    # Copying again skips the run it copied: it writes nothing that relies on the damaged
    # bytes, so it does not read them again (that cost grew with everything the two stores
    # share); auditing the run in the destination names them, every time.
    again = CliRunner().invoke(cli, ["store", "copy", str(source), str(destination), "--json"])
    assert json.loads(again.stdout)["skipped"] == [run_id]
    assert json.loads(again.stdout)["damaged"] == {}
    audited = CliRunner().invoke(cli, ["--store", str(destination), "audit", run_id, "--json"])
    assert audited.exit_code == 1
    assert key in {p["artifact"] for p in json.loads(audited.stdout)["problems"]}


def test_an_intact_destination_reports_nothing(tmp_path: Path) -> None:
    source, destination = tmp_path / "src", tmp_path / "dst"
    with reprolam.open(source) as rl:
        rl.run(flow, seed=1)
    with reprolam.open(destination) as rl:
        rl.run(flow, seed=2)
    result = CliRunner().invoke(cli, ["store", "copy", str(source), str(destination), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["damaged"] == {}
