"""What the LLM planner reads about files, inputs and sparse matrices.

* ``describe(path)`` gave the name only (``path 'report.md'``), so a model deciding whether
  a report is empty or a download worked had nothing to go on. A path that exists is now
  described with its size (a directory: files and bytes, counted up to a cap); one that is
  gone keeps its name only.
* The workflow's inputs had no summary at all (``- raw: file, c3396df9eff4``): they are
  described as recorded (a file: its name and size; a value: as an output would be).
* A sparse matrix was its whole multi-clause repr; now type, dtype, shape, stored values.
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


def test_a_sparse_matrix_is_one_short_line() -> None:
    sparse = pytest.importorskip("scipy.sparse")
    matrix = sparse.random(50, 40, density=0.1, format="csr", random_state=0)
    assert describe(matrix) == "csr_matrix float64 (50, 40), 200 stored"
    assert describe({"adj": sparse.eye(3, format="coo")}) == (
        "dict{adj=coo_matrix float64 (3, 3), 3 stored}"
    )


@action(outputs=["rows"])
def count(raw: Path, weights: object) -> int:
    return len(raw.read_text().splitlines())


counting = workflow("inputs-described", [count], outputs=["rows"], inputs=["raw", "weights"])


@pytest.mark.parametrize("copy", [True, False])
def test_the_prompt_describes_the_inputs(tmp_path: Path, copy: bool) -> None:
    import numpy as np

    import reprolam
    from reprolam.planning import LLMPlanner

    (tmp_path / "raw.csv").write_text("a\n1\n2\n")
    inputs = {
        "raw": reprolam.InputData(tmp_path / "raw.csv", copy=copy),
        "weights": np.zeros((3, 2)),
    }
    with FakeLLM([call("count")]) as server, reprolam.open(tmp_path / "store") as rl:
        planner = LLMPlanner(base_url=server.base_url, model="m")
        assert rl.run(counting, inputs=inputs, planner=planner).run.status.value == "succeeded"
    prompt = server.received[0].messages[-1]["content"]
    assert "- raw: file, " in prompt
    assert ", file raw.csv (6 bytes)" in prompt
    assert ", ndarray float64 (3, 2)" in prompt


@action(outputs=["report"])
def write(*, ctx: ActionContext) -> Path:
    report = ctx.workdir / "report.md"
    report.write_text("# hi\n")
    return report


@action(outputs=["done"])
def finish(report: Path) -> bool:
    return True


flow = workflow("sized", [write, finish], outputs=["done"])


def test_the_prompt_gives_a_file_outputs_size(tmp_path: Path) -> None:
    with FakeLLM([call("write"), call("finish")]) as server:
        ran = CliRunner().invoke(
            cli,
            ["--store", str(tmp_path / "store"), "run", f"{__file__}:flow", "--model", "m",
             "--llm-base-url", server.base_url, "--json"],
        )  # fmt: skip
    assert ran.exit_code == 0, ran.output
    assert "path 'report.md' (5 bytes)" in json.dumps(server.received[-1].messages)
