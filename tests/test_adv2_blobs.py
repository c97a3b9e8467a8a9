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
    """A plain rerun keeps an edit of the same size (it is not read again) and reproduce
    refuses a damaged record, so the error sends the user to --reuse, which reads it."""
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
    assert "reuse=True" in problem.message  # from Python: its own word (the CLI says --reuse)
    assert "reproduce the run that produced it" not in problem.message
    result = CliRunner().invoke(cli, ["--store", str(root), "get", run_id, "data"])
    assert result.exit_code != 0
    assert "reproduce the run that produced it" not in result.stderr


@pytest.mark.parametrize("damage", ["truncated", "emptied", "link"])
def test_a_run_that_records_the_same_bytes_again_repairs_a_damaged_blob(
    tmp_path: Path, damage: str
) -> None:
    """The blob was kept as it was, damaged, whatever recorded its bytes again."""
    root = tmp_path / "store"
    run_id, blob = _recorded(root)
    good = blob.read_bytes()
    if damage == "link":
        blob.unlink()
        (tmp_path / "other").write_bytes(good[::-1])
        blob.symlink_to(tmp_path / "other")
    else:
        blob.write_bytes(good[:10] if damage == "truncated" else b"")
    with reprolam.open(root) as rl:
        rl.run(FLOW, planner="script")  # the same bytes again
        assert rl.audit(run_id).problems == []
    assert blob.read_bytes() == good
    assert not blob.is_symlink()


def test_a_blob_a_read_found_damaged_is_repaired_by_the_next_run(tmp_path: Path) -> None:
    root = tmp_path / "store"
    run_id, blob = _recorded(root)
    good = blob.read_bytes()
    edited = bytearray(good)
    edited[10] ^= 0xFF
    blob.write_bytes(bytes(edited))  # the same size: not told apart without reading it
    with reprolam.open(root) as rl:
        with pytest.raises(reprolam.ReprolamError, match="is corrupted"):
            rl.get(run_id, "data", out=str(tmp_path / "out.bin"))
        rl.run(FLOW, planner="script")
        assert rl.audit(run_id).problems == []
    assert blob.read_bytes() == good
