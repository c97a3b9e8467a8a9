"""``reproduce`` explains a divergence by the file a step read whose content changed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import reprolam
from reads_flow import FLOW, NOISY_FLOW, PATHS, use_private_tempdir


@pytest.fixture(autouse=True)
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return use_private_tempdir(tmp_path, monkeypatch)


def test_reproduce_names_the_file_whose_content_changed(tmp_path: Path) -> None:
    with reprolam.open(tmp_path / "store") as rl:
        run = rl.run(FLOW, planner="script")
        old = run.steps[0].proposal["observed"]["effects"][0]["digest"]
        PATHS["raw"].write_text("1\n2\n4\n")
        result = rl.reproduce(run.id, workflow=FLOW)
        new = result.reproduction.id if result.reproduction else ""
        recorded_error = rl.store.get_run(new).error
    assert result.divergence is not None
    assert result.divergence.step == 0
    said = f"step 0 (load) read {PATHS['raw']}: content changed since the recorded run"
    assert f"{said} (digest {old[:12]} -> " in result.summary()
    (read,) = result.to_dict()["changed_reads"]
    assert (read["step"], read["action"], read["path"]) == (0, "load", str(PATHS["raw"]))
    assert said in str(recorded_error)  # the reproduction's record says it too


def test_reproduce_names_a_file_deleted_since(tmp_path: Path) -> None:
    with reprolam.open(tmp_path / "store") as rl:
        run = rl.run(FLOW, planner="script")
        os.remove(PATHS["raw"])
        result = rl.reproduce(run.id, workflow=FLOW)
    assert "FileNotFoundError" in result.summary()
    assert f"step 0 (load) read {PATHS['raw']}: deleted since the recorded run" in (
        result.summary()
    )


def test_an_unchanged_file_reproduces_and_is_not_blamed(tmp_path: Path) -> None:
    with reprolam.open(tmp_path / "store") as rl:
        run = rl.run(FLOW, planner="script")
        result = rl.reproduce(run.id, workflow=FLOW)
    assert result.bitwise
    assert result.changed_reads == []


def test_a_divergence_elsewhere_does_not_blame_an_unchanged_read(tmp_path: Path) -> None:
    """The step diverges by its global RNG draw; the file it read is the same: not named."""
    with reprolam.open(tmp_path / "store") as rl:
        run = rl.run(NOISY_FLOW, planner="script")
        PATHS["raw"].write_text("1\n2\n3\n")  # rewritten, same content
        result = rl.reproduce(run.id, workflow=NOISY_FLOW)
    assert result.divergence is not None
    assert result.divergence.step == 0
    assert result.changed_reads == []
    assert "undeclared global rng" in result.summary()  # what does explain it
    assert str(PATHS["raw"]) not in result.summary()
