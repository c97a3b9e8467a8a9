"""``os.makedirs(path, exist_ok=True)`` of a directory that exists writes nothing.

matplotlib does it for its config and cache directories on import, so every action that
plotted was recorded with two undeclared file writes, and failed under ``effects=strict``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pytest

from reprolam import Policy, action, workflow
from reprolam.engine.engine import Engine
from reprolam.planning.rules import ScriptPlanner
from reprolam.trace.memory import MemoryStore
from reprolam.trace.records import StepRecord, StepStatus

TARGET: dict[str, Any] = {}


@pytest.fixture(autouse=True)
def _private_tempdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The OS temp dir is allowed: give this test its own, so tmp_path counts as outside it."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    (tmp_path / "cache").mkdir()
    TARGET["existing"] = str(tmp_path / "cache")
    TARGET["new"] = str(tmp_path / "new-dir")


@action(outputs=["n"])
def ensures_existing_dir() -> int:
    os.makedirs(TARGET["existing"], exist_ok=True)
    return 1


@action(outputs=["n"])
def creates_dir() -> int:
    os.makedirs(TARGET["new"], exist_ok=True)
    return 1


def _run(fn: Any, effects: str) -> StepRecord:
    flow = workflow("mkdir-effects", [fn], outputs=["n"])
    result = Engine(MemoryStore()).run(
        flow, planner=ScriptPlanner([fn.__name__]), policy=Policy(effects=effects)
    )
    return result.steps[-1]


@pytest.mark.parametrize("effects", ["warn", "strict"])
def test_ensuring_a_directory_that_exists_is_no_effect(effects: str) -> None:
    step = _run(ensures_existing_dir, effects)
    assert step.status is StepStatus.SUCCEEDED, step.error
    assert not step.proposal.get("observed", {}).get("effects")


def test_creating_a_directory_is_still_a_file_write() -> None:
    step = _run(creates_dir, "strict")
    assert step.status is StepStatus.FAILED
    assert step.error is not None
    assert "new-dir" in step.error.message
    assert not Path(TARGET["new"]).exists()
