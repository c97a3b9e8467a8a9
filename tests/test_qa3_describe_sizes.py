"""What the LLM planner reads about a file output includes its size.

``describe(path)`` gave the name only (``path 'report.md'``), so a model deciding whether a
report is empty or a download worked had nothing to go on. A path that exists is now
described with its size (a directory: files and bytes, counted up to a cap); one that is
gone keeps its name only.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from fake_llm import FakeLLM, call
from reprolam import ActionContext, action, workflow
from reprolam.cli.main import cli
from reprolam.codecs import _describe, describe


def test_a_file_is_described_with_its_size(tmp_path: Path) -> None:
    (tmp_path / "report.md").write_text("# hello\n")
    assert describe(tmp_path / "report.md") == "path 'report.md' (8 bytes)"
    (tmp_path / "empty.csv").write_text("")
    assert describe(tmp_path / "empty.csv") == "path 'empty.csv' (0 bytes)"
    assert describe(tmp_path / "gone.txt") == "path 'gone.txt'"


def test_a_directory_is_described_by_its_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    figures = tmp_path / "figures"
    (figures / "sub").mkdir(parents=True)
    (figures / "a.txt").write_text("abc")
    (figures / "sub" / "b.txt").write_text("de")
    assert describe(figures) == "path 'figures' (directory, 2 files, 5 bytes)"
    (figures / "sub" / "b.txt").unlink()
    assert describe(figures) == "path 'figures' (directory, 1 file, 3 bytes)"
    monkeypatch.setattr(_describe, "_MAX_WALK", 0)
    assert describe(figures) == "path 'figures' (directory, over 0 files)"


@action(outputs=["report"])
def write(*, ctx: ActionContext) -> Path:
    report = ctx.workdir / "report.md"
    report.write_text("# hi\n")
    return report


@action(outputs=["done"])
def finish(report: Path) -> bool:
    return True


flow = workflow("sized", [write, finish], outputs=["done"])


@pytest.mark.xfail(
    strict=True,
    reason="engine/loop.py describes the action's own path, removed with its workdir by then; "
    "it needs describe(self.values.get(key, outcome.outputs[name])) (perf-engine3's module)",
)
def test_the_prompt_gives_a_file_outputs_size(tmp_path: Path) -> None:
    with FakeLLM([call("write"), call("finish")]) as server:
        ran = CliRunner().invoke(
            cli,
            ["--store", str(tmp_path / "store"), "run", f"{__file__}:flow", "--model", "m",
             "--llm-base-url", server.base_url, "--json"],
        )  # fmt: skip
    assert ran.exit_code == 0, ran.output
    assert "path 'report.md' (5 bytes)" in json.dumps(server.received[-1].messages)
