"""File and directory artifacts keep their contents through ``store copy`` and crates.

A file artifact is a manifest naming a separate content artifact. ``store copy`` and the
RO-Crate export copied the manifests only, so in the copy (or the imported crate) every
file output and copied input read ``no artifact <digest>``, while ``replay`` still said
every artifact was intact. The contents now go along (large ones streamed); an input
recorded without a copy still names content nobody holds, and is copied as such.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import reprolam
from reprolam import ActionContext, InputData, action, workflow
from reprolam.trace import copy as copy_module


@action(outputs=["report", "figures"])
def write(raw: Path, notes: Path, *, ctx: ActionContext) -> tuple[Path, Path]:
    report = ctx.workdir / "report.md"
    report.write_text(f"# {len(raw.read_text().splitlines())} rows\n" + notes.read_text())
    figures = ctx.workdir / "figures"
    (figures / "sub").mkdir(parents=True)
    (figures / "a.txt").write_text("a")
    (figures / "sub" / "big.bin").write_bytes(bytes(range(256)) * 200)
    (figures / "empty").mkdir()
    return report, figures


flow = workflow("files-copied", [write], outputs=["report", "figures"], inputs=["raw", "notes"])


def _recorded(tmp_path: Path) -> tuple[Path, str]:
    (tmp_path / "raw.csv").write_text("a,b\n1,2\n3,4\n")
    (tmp_path / "notes.txt").write_text("kept beside the data\n")
    source = tmp_path / "source"
    inputs = {"raw": tmp_path / "raw.csv", "notes": InputData(tmp_path / "notes.txt", copy=False)}
    with reprolam.open(source) as rl:
        run_id = rl.run(flow, inputs=inputs).id
    return source, run_id


def _every_file_reads_back(store: Path, run_id: str, out: Path) -> None:
    with reprolam.open(store) as rl:
        assert rl.replay(run_id).verified
        rl.get(run_id, "raw", out=out / "raw.csv")
        rl.get(run_id, "report", out=out / "report.md")
        rl.get(run_id, "figures", out=out / "figures")
    assert (out / "raw.csv").read_text() == "a,b\n1,2\n3,4\n"
    assert (out / "report.md").read_text() == "# 3 rows\nkept beside the data\n"
    assert (out / "figures" / "sub" / "big.bin").read_bytes() == bytes(range(256)) * 200
    assert (out / "figures" / "a.txt").read_text() == "a"
    assert (out / "figures" / "empty").is_dir()


@pytest.mark.parametrize("streamed", [False, True])
def test_store_copy_carries_file_contents(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, streamed: bool
) -> None:
    if streamed:  # every content through the temp-file path
        monkeypatch.setattr(copy_module, "STREAM_BYTES", 0)
    source, run_id = _recorded(tmp_path)
    copied = tmp_path / "copied"
    with reprolam.open(source) as src, reprolam.open(copied) as dst:
        report = copy_module.copy_store(src.store, dst.store)
    assert report.copied == [run_id]
    shutil.rmtree(source)  # the copy must stand alone
    (tmp_path / "out").mkdir()
    _every_file_reads_back(copied, run_id, tmp_path / "out")
    (tmp_path / "notes.txt").write_text("changed since\n")  # only its path held its bytes
    with (
        reprolam.open(copied) as rl,
        pytest.raises(reprolam.NotFoundError, match="no longer holds it"),
    ):
        rl.get(run_id, "notes", out=tmp_path / "notes-got.txt")


def test_copying_again_copies_nothing(tmp_path: Path) -> None:
    source, run_id = _recorded(tmp_path)
    with reprolam.open(source) as src, reprolam.open(tmp_path / "copied") as dst:
        copy_module.copy_store(src.store, dst.store)
        again = copy_module.copy_store(src.store, dst.store)
    assert again.skipped == [run_id]
    assert again.artifacts == 0


def test_a_corrupted_content_stops_the_streamed_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(copy_module, "STREAM_BYTES", 0)
    source, _ = _recorded(tmp_path)
    (blob,) = (p for p in (source / "artifacts").rglob("*") if p.is_file())  # big.bin's content
    target = blob.parent.name + blob.name
    blob.chmod(0o644)
    blob.write_bytes(blob.read_bytes()[:-1] + b"!")
    with (
        reprolam.open(source) as src,
        reprolam.open(tmp_path / "copied") as dst,
        pytest.raises(reprolam.IntegrityError, match=f"artifact {target}"),
    ):
        copy_module.copy_store(src.store, dst.store)


def test_a_crate_carries_file_contents(tmp_path: Path) -> None:
    pytest.importorskip("rocrate")
    source, run_id = _recorded(tmp_path)
    crate = tmp_path / "run.zip"
    with reprolam.open(source) as rl:
        rl.export(run_id, format="rocrate", output=crate)
    shutil.rmtree(source)
    lab = tmp_path / "lab"
    with reprolam.open(lab) as rl:
        rl.import_crate(crate)
    (tmp_path / "out").mkdir()
    _every_file_reads_back(lab, run_id, tmp_path / "out")
