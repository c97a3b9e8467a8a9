"""``replay`` re-hashes the contents of the files and directories steps wrote.

A file or directory output is recorded as a manifest naming each file's content by digest.
``replay`` verified the manifests only, so a content damaged in the store (a blob file
edited, truncated or deleted, an inline row edited) replayed as "every artifact intact"
while ``get`` would refuse it or hand it out. It now fails the replay as a damaged
artifact does: exit 1, the step and the file named, the content's digest in --json.
"""

from __future__ import annotations

import json
import os
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import reprolam
from reprolam import ActionContext, action, workflow
from reprolam.cli.main import cli
from reprolam.codecs._files import contents_of
from reprolam.history import verify
from reprolam.trace.sqlite import SQLiteStore

BIG = bytes(range(256)) * 800  # over the inline limit: kept as a blob file


@action(outputs=["report", "bundle"])
def write(*, ctx: ActionContext) -> tuple[Path, Path]:
    report = ctx.workdir / "report.md"
    report.write_text("# small, kept inline\n")
    bundle = ctx.workdir / "bundle"
    (bundle / "sub").mkdir(parents=True)
    (bundle / "sub" / "big.bin").write_bytes(BIG)
    return report, bundle


@action(outputs=["total"])
def count(bundle: Path) -> int:
    return len((bundle / "sub" / "big.bin").read_bytes())


@action(outputs=["copy"])
def again(*, ctx: ActionContext) -> Path:  # another file of the same bytes as big.bin
    copy = ctx.workdir / "again.bin"
    copy.write_bytes(BIG)
    return copy


flow = workflow("files", [write, count, again], outputs=["report", "bundle", "total", "copy"])


def invoke(store: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--store", str(store), *args], catch_exceptions=False)


def _recorded(tmp_path: Path) -> tuple[Path, str, dict[str, str]]:
    """The store, the run, and the content digest of each file output of step 0."""
    store = tmp_path / "store"
    with reprolam.open(store) as rl:
        run = rl.run(flow, planner="script")
        assert rl.replay(run.id).verified
    contents = {}
    with SQLiteStore(store) as trace:
        for name, key in trace.step_at(run.id, 0).outputs.items():
            record, data = trace.get_artifact(key)
            (contents[name],) = contents_of(record.codec, data)
    return store, run.id, contents


def _blob(store: Path, key: str) -> Path:
    with SQLiteStore(store) as trace:
        blob = trace.blobs.path_of(key)
    os.chmod(blob, 0o644)
    return blob


def _replay_problems(store: Path, run_id: str) -> list[dict[str, object]]:
    with reprolam.open(store) as rl:
        result = rl.replay(run_id)
    assert not result.verified
    return [p.to_dict() for p in result.problems]


def test_an_edited_blob_inside_a_directory_output_fails_the_replay(tmp_path: Path) -> None:
    store, run_id, contents = _recorded(tmp_path)
    key = contents["bundle"]
    blob = _blob(store, key)
    data = bytearray(blob.read_bytes())
    data[100] ^= 1
    blob.write_bytes(bytes(data))

    (problem,) = _replay_problems(store, run_id)
    assert (problem["kind"], problem["step"], problem["artifact"]) == ("artifact", 0, key)
    message = str(problem["message"])
    assert message.startswith(
        "content of 'sub/big.bin' in directory output 'bundle' of step 0 (write): "
    )
    assert "corrupted" in message


def test_the_cli_fails_as_for_a_damaged_artifact(tmp_path: Path) -> None:
    store, run_id, contents = _recorded(tmp_path)
    key = contents["bundle"]
    blob = _blob(store, key)
    blob.write_bytes(blob.read_bytes()[:-10])  # truncated

    replayed = invoke(store, "replay", run_id, "--json")
    assert replayed.exit_code == 1
    payload = json.loads(replayed.stdout)
    assert set(payload) == {
        "run",
        "step",
        "steps_replayed",
        "verified",
        "first_problem",
        "problems",
        "outputs",
        "seconds",
        "status",
        "error",
    }
    assert (payload["status"], payload["error"]) == (
        "succeeded",
        None,
    )  # it ran; its record is damaged
    assert payload["verified"] is False
    assert payload["problems"] == [payload["first_problem"]]
    problem = payload["first_problem"]
    assert set(problem) == {"kind", "message", "step", "artifact", "run"}
    assert (problem["kind"], problem["step"], problem["artifact"]) == ("artifact", 0, key)
    assert "'sub/big.bin' in directory output 'bundle'" in problem["message"]
    # every output still rebuilds: the manifests are intact, the damage is named
    assert set(payload["outputs"]) == {"report", "bundle", "total", "copy"}

    shown = invoke(store, "replay", run_id)
    assert shown.exit_code == 1
    assert "'sub/big.bin' in directory output 'bundle' of step 0" in shown.output
    assert "verified: hash chain" not in shown.output


def test_an_edited_inline_file_fails_the_replay(tmp_path: Path) -> None:
    store, run_id, contents = _recorded(tmp_path)
    key = contents["report"]
    with closing(sqlite3.connect(store / "trace.db")) as conn, conn:
        (data,) = conn.execute("SELECT data FROM artifacts WHERE digest = ?", (key,)).fetchone()
        edited = bytes(data).replace(b"small", b"SMALL")
        conn.execute("UPDATE artifacts SET data = ? WHERE digest = ?", (edited, key))
    (problem,) = _replay_problems(store, run_id)
    assert (problem["step"], problem["artifact"]) == (0, key)
    assert str(problem["message"]).startswith("content of file output 'report' of step 0 (write)")


def test_a_missing_content_is_reported_once_at_the_step_that_first_wrote_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Steps 0 and 2 wrote the same bytes, on different pages of the stream: the content is
    named once, as the first step's, after step 0's other problems and before step 1's."""
    monkeypatch.setattr(verify, "STREAM_PAGE", 1)
    store, run_id, contents = _recorded(tmp_path)
    _blob(store, contents["bundle"]).unlink()
    with SQLiteStore(store) as trace:
        total = trace.step_at(run_id, 1).outputs["total"]
    with closing(sqlite3.connect(store / "trace.db")) as conn, conn:
        conn.execute("DELETE FROM artifacts WHERE digest = ?", (total,))

    problems = _replay_problems(store, run_id)
    assert [(p["step"], p["artifact"]) for p in problems][:2] == [
        (0, contents["bundle"]),
        (1, total),
    ]
    assert [p["artifact"] for p in problems].count(contents["bundle"]) == 1


def test_a_content_written_twice_is_read_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, artifact_reads: list[str]
) -> None:
    monkeypatch.setattr(verify, "STREAM_PAGE", 1)
    store, run_id, contents = _recorded(tmp_path)
    read = artifact_reads
    read.clear()  # what recording read: not the replay's
    with reprolam.open(store) as rl:
        assert rl.replay(run_id).verified
    # big.bin's bytes, in `bundle` (step 0) and in `copy` (step 2, another page): read once
    assert read.count(contents["bundle"]) == 1
    assert read.count(contents["report"]) == 1


def test_an_undamaged_run_with_files_replays_verified(tmp_path: Path) -> None:
    store, run_id, _ = _recorded(tmp_path)
    replayed = invoke(store, "replay", run_id, "--json")
    assert replayed.exit_code == 0, replayed.output
    payload = json.loads(replayed.stdout)
    assert (payload["verified"], payload["problems"], payload["first_problem"]) == (True, [], None)
    assert payload["steps_replayed"] == 3


@pytest.mark.parametrize("fmt", ["prov-json", "prov-xml", "prov-n", "rocrate"])
def test_export_refuses_a_run_whose_file_contents_are_damaged(tmp_path: Path, fmt: str) -> None:
    """Provenance leaves a store only verified as replay verifies it: the manifests held,
    so PROV and pictures were written for a run whose directory output had lost a file."""
    store, run_id, contents = _recorded(tmp_path)
    _blob(store, contents["bundle"]).unlink()
    target = tmp_path / f"out.{fmt}"
    result = CliRunner().invoke(
        cli, ["--store", str(store), "export", run_id, "--format", fmt, "-o", str(target)]
    )
    assert result.exit_code != 0
    assert "does not verify" in result.output
    assert "sub/big.bin" in result.output
    assert not target.exists()


def test_reproduce_refuses_a_run_whose_file_contents_are_damaged(tmp_path: Path) -> None:
    store, run_id, contents = _recorded(tmp_path)
    blob = _blob(store, contents["bundle"])
    data = bytearray(blob.read_bytes())
    data[100] ^= 1
    blob.write_bytes(bytes(data))
    with reprolam.open(store) as rl:
        result = rl.reproduce(run_id, workflow=flow)
        assert result.reproduction is None  # nothing executed or written
        assert not result.reproduced
        assert any(p.artifact == contents["bundle"] for p in result.problems)
        assert len(rl.runs()) == 1
