"""A blob file replaced by something that is not a file: a FIFO made ``replay``, ``audit``
and ``get`` wait forever for a writer, a symlink to ``/dev/zero`` read until memory ran out.
A blob that is not a regular file is an artifact problem like a corrupted one, and no more
of a blob than its recorded size (plus one byte, to tell) is read.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

import reprolam
from reprolam import action, workflow
from reprolam.cli.main import cli

BIG = 100_000  # stored as a blob file (over the inline limit)


@action(outputs=["data"])
def make() -> bytes:
    return bytes(range(256)) * (BIG // 256)


FLOW = workflow("blob", [make], outputs=["data"])


def _recorded(root: Path) -> tuple[str, Path]:
    with reprolam.open(root) as rl:
        run = rl.run(FLOW, planner="script")
    key = run.steps[0].outputs["data"]
    blob = root / "artifacts" / key[:2] / key[2:]
    assert blob.is_file()
    return run.id, blob


@pytest.mark.timeout(60)
@pytest.mark.parametrize("replacement", ["fifo", "dev_zero", "bigger"])
def test_a_blob_that_is_not_its_file_is_a_problem_not_a_hang(
    tmp_path: Path, replacement: str
) -> None:
    run_id, blob = _recorded(tmp_path / "store")
    blob.unlink()
    if replacement == "fifo":
        os.mkfifo(blob)
    elif replacement == "dev_zero":
        blob.symlink_to("/dev/zero")
    else:
        blob.write_bytes(b"\0" * (50 * BIG))
    with reprolam.open(tmp_path / "store") as rl:
        assert not rl.replay(run_id).verified
        [problem] = rl.audit(run_id).problems
    assert problem.kind == "artifact"
    done = CliRunner().invoke(cli, ["--store", str(tmp_path / "store"), "get", run_id, "data"])
    assert done.exit_code == 2
    assert done.stderr.startswith("error: ")


def test_a_corrupted_artifacts_error_names_a_fix_that_works(tmp_path: Path) -> None:
    """Recording the same bytes again keeps the one stored copy, damaged (and reproduce
    refuses a damaged record), so the error does not send the user to a rerun."""
    root = tmp_path / "store"
    run_id, blob = _recorded(root)
    data = bytearray(blob.read_bytes())
    data[10] ^= 0xFF
    os.chmod(blob, 0o644)
    blob.write_bytes(bytes(data))
    with reprolam.open(root) as rl:
        again = rl.run(FLOW, planner="script")  # the same bytes: the damaged copy stays
        problems = rl.audit(again.id).problems
    (problem,) = [p for p in problems if p.kind == "artifact"]
    assert "restore the store from a backup" in problem.message
    assert "recording the same bytes again" in problem.message
    assert "reproduce the run that produced it" not in problem.message
    result = CliRunner().invoke(cli, ["--store", str(root), "get", run_id, "data"])
    assert result.exit_code != 0
    assert "reproduce the run that produced it" not in result.stderr
