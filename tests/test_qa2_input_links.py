"""An input named by a symbolic link (data/current.csv -> raw_2024.csv) is read through it.

It was refused ("is not a regular file or directory"), though ``cp`` and every analysis
tool follow a link they are given. The link's path is what is recorded, so pointing it at
other data shows up in reproduce as a changed input; links inside a directory input are
still refused (a directory artifact holds regular files only).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from reprolam import action, workflow
from reprolam.cli.main import cli


@action(outputs=["rows"])
def count_rows(table: Path) -> int:
    return len(table.read_text().splitlines())


@action(outputs=["names"])
def list_dir(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


flow = workflow("links-flow", [count_rows, list_dir], outputs=["rows", "names"],
                inputs=["table", "folder"])  # fmt: skip


def invoke(tmp_path: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--store", str(tmp_path / "store"), *args])


@pytest.fixture
def data(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    (root / "plates").mkdir(parents=True)
    (root / "plates" / "p1.txt").write_text("1")
    (root / "raw_2024.csv").write_text("a\n1\n2\n")
    (root / "raw_2025.csv").write_text("a\n1\n2\n3\n")
    (root / "current.csv").symlink_to("raw_2024.csv")
    (root / "plates-latest").symlink_to("plates")
    return root


@pytest.mark.parametrize("copy", [True, False])
def test_links_to_a_file_and_a_directory_are_followed(
    tmp_path: Path, data: Path, copy: bool
) -> None:
    args = ["run", f"{__file__}:flow", "--planner", "script", "--json"]
    args += ["--input", f"table={data / 'current.csv'}"]
    args += ["--input", f"folder={data / 'plates-latest'}"]
    done = invoke(tmp_path, *args, *([] if copy else ["--no-copy"]))
    assert done.exit_code == 0, done.output
    run_id = json.loads(done.stdout)["run"]["id"]
    got = invoke(tmp_path, "get", run_id, "rows", "-o", str(tmp_path / "rows.json"))
    assert got.exit_code == 0, got.output
    assert json.loads((tmp_path / "rows.json").read_text()) == 3

    (data / "current.csv").unlink()
    (data / "current.csv").symlink_to("raw_2025.csv")  # the link now names other data
    again = invoke(tmp_path, "reproduce", run_id)
    assert f"input 'table' changed: {data / 'current.csv'} was" in again.stderr
    assert "input 'folder'" not in again.stderr


def test_a_link_inside_a_directory_input_is_still_refused(tmp_path: Path, data: Path) -> None:
    (data / "plates" / "p2.txt").symlink_to(data / "raw_2024.csv")
    done = invoke(
        tmp_path, "run", f"{__file__}:flow", "--planner", "script",
        "--input", f"table={data / 'current.csv'}", "--input", f"folder={data / 'plates'}",
    )  # fmt: skip
    assert done.exit_code == 2
    assert "p2.txt is a symbolic link or special file" in done.stderr
