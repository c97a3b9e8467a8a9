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
    monkeypatch.chdir(tree / "linked")
    assert file_reads.real_file("data.csv") == str(tree / "real" / "data.csv")


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
