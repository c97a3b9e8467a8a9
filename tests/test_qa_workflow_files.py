"""A workflow file that imports its own helper module, as `python flows.py` would allow."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from reprolam.cli.main import cli

FLOWS = """
import qa_sibling_helpers
from reprolam import action, workflow

@action(outputs=["y"])
def double() -> int:
    return qa_sibling_helpers.scale(21)

flow = workflow("siblings", [double], outputs=["y"])
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "project"
    directory.mkdir()
    (directory / "qa_sibling_helpers.py").write_text("def scale(x):\n    return x * 2\n")
    (directory / "flows.py").write_text(FLOWS)
    monkeypatch.chdir(tmp_path)  # not the project: the file is named by its path
    monkeypatch.setattr(sys, "path", list(sys.path))  # whatever the loader adds is undone
    monkeypatch.delitem(sys.modules, "qa_sibling_helpers", raising=False)
    return directory


@pytest.mark.parametrize("executor", ["local", "process"])
def test_a_workflow_file_imports_modules_beside_it(project: Path, executor: str) -> None:
    store = str(project.parent / "store")
    args = ["--store", store, "run", "project/flows.py:flow", "--executor", executor, "--json"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["run"]["status"] == "succeeded"
