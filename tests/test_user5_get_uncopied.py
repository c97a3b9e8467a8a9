"""``get`` of an input recorded without a copy (``--no-copy``).

It refused even when the file was unchanged ("its bytes are at PATH, if unchanged"): the
user had to copy it by hand. Now an unchanged file (or directory) is copied, checked against
the recorded digest; a changed or missing one is refused in one line naming the path and
the fix, and nothing is written.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

import reprolam
from reprolam import action, workflow
from reprolam.cli.main import cli


@action(outputs=["rows"])
def count_rows(table: Path) -> int:
    return sum(1 for p in table.rglob("*") if p.is_file()) if table.is_dir() else 1


flow = workflow("no-copy", [count_rows], outputs=["rows"], inputs=["table"])


def _recorded(tmp_path: Path, given: Path) -> tuple[str, str]:
    store = str(tmp_path / "store")
    with reprolam.open(store) as rl:
        run_id = rl.run(flow, inputs={"table": reprolam.InputData(given, copy=False)}).id
    return store, run_id


def test_an_unchanged_file_is_got(tmp_path: Path) -> None:
    data = tmp_path / "data.csv"
    data.write_text("a\n1\n2\n")
    store, run_id = _recorded(tmp_path, data)
    out = tmp_path / "out.csv"
    result = CliRunner().invoke(cli, ["--store", store, "get", run_id, "table", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text() == "a\n1\n2\n"
    with reprolam.open(store) as rl:
        got = rl.get(run_id, "table", out=tmp_path / "again.csv")
    assert (got.path, got.size) == (str(tmp_path / "again.csv"), 6)


def test_an_unchanged_directory_is_got(tmp_path: Path) -> None:
    folder = tmp_path / "images"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("a")
    (folder / "sub" / "b.txt").write_text("bb")
    store, run_id = _recorded(tmp_path, folder)
    with reprolam.open(store) as rl:
        rl.get(run_id, "table", out=tmp_path / "copy")
    assert (tmp_path / "copy" / "sub" / "b.txt").read_text() == "bb"


@pytest.mark.parametrize("how", ["edited", "removed"])
def test_a_changed_file_is_refused_in_one_line_and_nothing_is_written(
    tmp_path: Path, how: str
) -> None:
    data = tmp_path / "data.csv"
    data.write_text("a\n1\n2\n")
    store, run_id = _recorded(tmp_path, data)
    if how == "edited":
        data.write_text("a\n1\n9\n")  # same size: only the content tells
    else:
        data.unlink()
    out = tmp_path / "out.csv"
    result = CliRunner().invoke(cli, ["--store", store, "get", run_id, "table", "-o", str(out)])
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.splitlines()
    assert f"{data} no longer holds it" in line
    assert "put the recorded file back at that path" in line
    assert "Traceback" not in result.output
    assert not out.exists()
    with reprolam.open(store) as rl:  # the record is intact
        assert rl.audit(run_id).clean
