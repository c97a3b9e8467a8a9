"""What the LLM planner reads about files and bytes an action produced.

A file written to ``ctx.workdir`` was shown as ``PosixPath PosixPath('/.../files/work/
step5-dnru9bpt/report.md')`` (a scratch path that changes every run, and nothing about the
file); bytes as their raw repr. They now read ``path 'report.md'`` (the codec beside it
says file or dir) and ``PNG image (N bytes)``, the same in every run and on every executor.
"""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from fake_llm import FakeLLM, call
from reprolam import ActionContext, action, workflow
from reprolam.cli.main import cli
from reprolam.codecs import describe

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40


@action(outputs=["report", "figures", "image"])
def write(*, ctx: ActionContext) -> tuple[Path, Path, bytes]:
    report = ctx.workdir / "report.md"
    report.write_text("# hi\n")
    figures = ctx.workdir / "figures"
    (figures / "sub").mkdir(parents=True)
    (figures / "a.txt").write_text("a")
    (figures / "sub" / "b.txt").write_text("bb")
    return report, figures, PNG


@action(outputs=["done"])
def finish(report: Path, figures: Path, image: bytes) -> bool:
    return True


flow = workflow("described", [write, finish], outputs=["done"])


def test_paths_and_bytes_are_described_by_what_they_hold(tmp_path: Path) -> None:
    (tmp_path / "f.csv").write_text("a,b\n")
    assert describe(tmp_path / "f.csv") == "path 'f.csv' (4 bytes)"  # its size: test_qa3
    assert describe(tmp_path / "missing.txt") == "path 'missing.txt'"
    assert describe(PNG) == f"PNG image ({len(PNG)} bytes)"
    assert describe(b"\x00\x01" * 100) == "bytes[200] b'" + "\\x00\\x01" * 12 + "'..."


def test_the_prompt_names_files_not_their_scratch_paths(tmp_path: Path) -> None:
    with FakeLLM([call("write"), call("finish")]) as server:
        ran = CliRunner().invoke(
            cli,
            ["--store", str(tmp_path / "store"), "run", f"{__file__}:flow", "--model", "m",
             "--llm-base-url", server.base_url, "--json"],
        )  # fmt: skip
    assert ran.exit_code == 0, ran.output
    prompt = json.dumps(server.received[-1].messages)
    assert "- report: file, 720312ce17d6, path 'report.md'" in prompt
    assert "- figures: dir, " in prompt
    assert "path 'figures'" in prompt
    assert f"PNG image ({len(PNG)} bytes)" in prompt
    assert "PosixPath" not in prompt
    assert "files/work" not in prompt
