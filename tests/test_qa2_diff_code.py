"""``reprolam diff A B`` names the code that differs between the two runs as theirs.

It printed "code changed since it was recorded:" and diffs from ``recorded/`` to
``current/`` -- a reproduction's words -- though both sides are recorded runs.
"""

from __future__ import annotations

import json
import linecache
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from reprolam.cli.main import cli

HELPERS = "def scale(x):\n    return x * 2\n"
FLOW = """
from reprolam import action, workflow
from qa2_diff_helpers import scale

@action(outputs=["y"])
def use(*, x: float = 1.0) -> float:
    return scale(x)

flow = workflow("diff-code", [use], outputs=["y"])
"""


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    (tmp_path / "qa2_diff_helpers.py").write_text(HELPERS)
    (tmp_path / "flows.py").write_text(FLOW)
    sys.path.insert(0, str(tmp_path))
    yield tmp_path
    sys.path.remove(str(tmp_path))
    sys.modules.pop("qa2_diff_helpers", None)


def invoke(project: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--store", str(project / "store"), *args])


def _run(project: Path) -> str:
    ran = invoke(project, "run", f"{project}/flows.py:flow", "--json")
    assert ran.exit_code == 0, ran.output
    return str(json.loads(ran.stdout)["run"]["id"])


def test_diff_shows_the_code_of_a_against_the_code_of_b(project: Path) -> None:
    a = _run(project)
    helper = project / "qa2_diff_helpers.py"
    helper.write_text(HELPERS.replace("* 2", "* 3"))
    linecache.checkcache(str(helper))
    sys.modules.pop("qa2_diff_helpers", None)
    b = _run(project)
    shown = invoke(project, "diff", a, b)
    assert shown.exit_code == 0, shown.output
    assert "code differs between a and b:" in shown.stdout
    assert "since it was recorded" not in shown.stdout
    assert "--- a/qa2_diff_helpers:scale" in shown.stdout
    assert "+++ b/qa2_diff_helpers:scale" in shown.stdout
    payload = json.loads(invoke(project, "diff", a, b, "--json").stdout)
    assert any("+    return x * 3" in c["diff"] for c in payload["code"])
