"""``audit`` checks the bytes of the files a step wrote, not only their manifests.

A file or directory output is recorded as a manifest naming each file's content by digest;
``verify_trace`` checked the manifest, so an edited content (a blob file, or an inline row
in trace.db) audited clean while ``get`` would hand the edited bytes out.
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from pathlib import Path

import reprolam
from reprolam import ActionContext, action, workflow
from reprolam.trace.sqlite import SQLiteStore


@action(outputs=["report", "bundle"])
def write(*, ctx: ActionContext) -> tuple[Path, Path]:
    report = ctx.workdir / "report.md"
    report.write_text("# small, kept inline\n")
    bundle = ctx.workdir / "bundle"
    bundle.mkdir()
    (bundle / "big.bin").write_bytes(bytes(range(256)) * 800)  # a blob file
    return report, bundle


flow = workflow("files", [write], outputs=["report", "bundle"])


def _recorded(tmp_path: Path) -> tuple[Path, str, dict[str, str]]:
    store = tmp_path / "store"
    with reprolam.open(store) as rl:
        run = rl.run(flow)
        assert rl.audit(run.id).clean
        manifests = rl.show(run.id).steps[0].outputs
    with reprolam.open(store) as rl:
        report = rl.get(run.id, "report", out=tmp_path / "r.md")
    assert report.size > 0
    contents = {}
    with SQLiteStore(store) as trace:
        from reprolam.codecs._files import contents_of

        for name, key in manifests.items():
            record, data = trace.get_artifact(key)
            contents[name] = contents_of(record.codec, data)[0]
    return store, run.id, contents


def _problem(store: Path, run_id: str) -> dict[str, object]:
    with reprolam.open(store) as rl:
        report = rl.audit(run_id)
    assert not report.clean
    (problem,) = report.to_dict()["problems"]
    return problem


def test_an_edited_inline_file_content_is_reported(tmp_path: Path) -> None:
    store, run_id, contents = _recorded(tmp_path)
    key = contents["report"]
    with closing(sqlite3.connect(store / "trace.db")) as conn, conn:
        (data,) = conn.execute("SELECT data FROM artifacts WHERE digest = ?", (key,)).fetchone()
        edited = b"#" + bytes(data[1:]).replace(b"small", b"SMALL")
        conn.execute("UPDATE artifacts SET data = ? WHERE digest = ?", (edited, key))
    problem = _problem(store, run_id)
    assert (problem["check"], problem["step"], problem["artifact"]) == ("artifacts", 0, key)
    assert "content of file output 'report' of step 0 (write)" in str(problem["message"])


def test_an_edited_blob_file_inside_a_directory_output_is_reported(tmp_path: Path) -> None:
    store, run_id, contents = _recorded(tmp_path)
    key = contents["bundle"]
    with SQLiteStore(store) as trace:
        blob = trace.blobs.path_of(key)
    os.chmod(blob, 0o644)
    data = bytearray(blob.read_bytes())
    data[100] ^= 1
    blob.write_bytes(bytes(data))
    problem = _problem(store, run_id)
    assert problem["artifact"] == key
    assert "output 'bundle'" in str(problem["message"])
    assert "corrupted" in str(problem["message"])


def test_a_missing_file_content_is_reported(tmp_path: Path) -> None:
    store, run_id, contents = _recorded(tmp_path)
    with SQLiteStore(store) as trace:
        trace.blobs.path_of(contents["bundle"]).unlink()
    problem = _problem(store, run_id)
    assert problem["artifact"] == contents["bundle"]
