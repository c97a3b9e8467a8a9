"""The path helpers every observed file goes through (``reprolam.file_reads``): fast where
imports open thousands of files, and the same answers as the plain definitions."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reprolam import file_reads


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "real" / "pkg").mkdir(parents=True)
    (tmp_path / "real" / "pkg" / "mod.py").write_text("x = 1\n")
    (tmp_path / "real" / "data.csv").write_text("1\n")
    (tmp_path / "linked").symlink_to(tmp_path / "real", target_is_directory=True)
    (tmp_path / "real" / "pkg" / "alias.py").symlink_to(tmp_path / "real" / "data.csv")
    return tmp_path


def test_real_file_resolves_as_realpath_does(tree: Path) -> None:
    for path in (
        tree / "real" / "pkg" / "mod.py",
        tree / "linked" / "pkg" / "mod.py",  # through a linked directory
        tree / "linked" / "pkg" / "alias.py",  # a linked file in it
        tree / "linked" / "pkg" / ".." / "data.csv",
        tree / "linked" / "pkg" / "alias.py" / ".." / "mod.py",  # not a directory: as realpath
        tree / "linked" / "missing.py",
    ):
        assert file_reads.real_file(str(path)) == os.path.realpath(path), path


def test_a_file_replaced_by_a_link_is_resolved_again(tree: Path) -> None:
    path = tree / "linked" / "pkg" / "mod.py"
    assert file_reads.real_file(str(path)) == str(tree / "real" / "pkg" / "mod.py")
    path.unlink()
    path.symlink_to(tree / "real" / "data.csv")  # its directory's resolution is kept
    assert file_reads.real_file(str(path)) == str(tree / "real" / "data.csv")


def test_a_relative_path_is_resolved_from_the_working_directory(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tree / "linked" / "pkg")
    assert file_reads.real_file("data.csv") == str(tree / "real" / "pkg" / "data.csv")
    # ``..`` after a linked directory goes up from where the link points, not lexically
    (tree / "elsewhere" / "deep").mkdir(parents=True)
    (tree / "real" / "pkg" / "jump").symlink_to(tree / "elsewhere" / "deep")
    assert file_reads.real_file("jump/../x.csv") == str(tree / "elsewhere" / "x.csv")
    absolute = str(tree / "real" / "pkg" / "jump" / ".." / "x.csv")
    assert file_reads.real_file(absolute) == str(tree / "elsewhere" / "x.csv")


@pytest.mark.parametrize(
    ("path", "inside"),
    [
        ("/srv/data", True),
        ("/srv/data/a.csv", True),
        ("/srv/database", False),  # a sibling sharing the prefix
        ("/srv", False),
        ("/opt/lib/x.py", True),
        ("/opt/libx/x.py", False),
    ],
)
def test_under_answers_alike_for_tuples_and_other_iterables(path: str, inside: bool) -> None:
    roots = ("/srv/data", "/opt/lib")
    assert file_reads.under(path, roots) is inside
    assert file_reads.under(path, list(roots)) is inside
    assert file_reads.under(path, set(roots)) is inside


def test_a_read_through_a_link_then_dotdot_is_recorded_where_it_was_read(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reprolam.engine.observe import ActionWatch

    (tree / "elsewhere" / "deep").mkdir(parents=True)
    (tree / "elsewhere" / "x.csv").write_text("1\n")
    (tree / "real" / "pkg" / "jump").symlink_to(tree / "elsewhere" / "deep")
    monkeypatch.chdir(tree / "real" / "pkg")
    watch = ActionWatch(determinism="pure").start()
    try:
        with open("jump/../x.csv") as data:  # the file the kernel opens: elsewhere/x.csv
            data.read()
    finally:
        observed = watch.stop()
    assert observed is not None
    assert [e["target"] for e in observed["effects"]] == [str(tree / "elsewhere" / "x.csv")]
