"""Naming a workflow by file or module: what is found, and a clear error for what is not."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from reprolam.cli.main import cli
from reprolam.errors import WorkflowError
from reprolam.workflows.registry import load_workflow

HEAD = """from reprolam import action, workflow

@action(outputs=["x"])
def one() -> int:
    return 1

"""


def write(tmp_path: Path, name: str, body: str) -> str:
    path = tmp_path / name
    path.write_text(HEAD + body)
    return str(path)


def test_a_file_without_a_name_gives_its_only_workflow(tmp_path: Path) -> None:
    # `workflow` here is reprolam's own builder, imported: it is not called as a factory
    path = write(tmp_path, "single.py", 'flow = workflow("single", [one], outputs=["x"])\n')
    assert load_workflow(path).name == "single"


def test_several_workflows_need_a_name_unless_one_is_called_workflow(tmp_path: Path) -> None:
    two = (
        'other = workflow("other", [one], outputs=["x"])\n'
        'more = workflow("more", [one], outputs=["x"])\n'
    )
    with pytest.raises(WorkflowError, match=r"defines 2 \(more, other\); pass .*two.py:NAME"):
        load_workflow(write(tmp_path, "two.py", two))
    factory = write(tmp_path, "factory.py", two + "def make():\n    return other\n")
    assert load_workflow(factory + ":make").name == "other"  # a factory, called
    own = (
        two + "def workflow():  # the module's own factory, by the default name\n    return more\n"
    )
    assert load_workflow(write(tmp_path, "own.py", own)).name == "more"


@pytest.mark.parametrize(
    ("attr", "message"),
    [
        ("nope", "has no 'nope'; its workflows: flow"),
        ("one", "is an action, not a workflow"),
        ("action", "neither a Workflow nor a function returning one"),
        ("HEAD", r"is not a reprolam Workflow \(got str\)"),
    ],
)
def test_what_is_not_a_workflow_is_named(tmp_path: Path, attr: str, message: str) -> None:
    path = write(tmp_path, "flows.py", 'flow = workflow("f", [one], outputs=["x"])\nHEAD = "x"\n')
    with pytest.raises(WorkflowError, match=message):
        load_workflow(f"{path}:{attr}")
    result = CliRunner().invoke(cli, ["--store", str(tmp_path / "store"), "run", f"{path}:{attr}"])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ")
    assert "Traceback" not in result.output
