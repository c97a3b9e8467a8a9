"""What ``compare``, ``diff`` and ``show`` state of an edited record.

A step's params edited in the database were shown by ``compare`` and ``diff`` as what the run
ran with, exit 0. Both now verify the runs they report on as replay does, still show them
(a diff is how one looks at an edit), name those that do not verify in one ``warning:`` line
each and in ``--json`` (``unverified``), and exit 1. ``show`` re-hashes nothing (it must stay
fast on long runs): it says so, and its JSON says ``"verified": null``.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from click.testing import CliRunner

import reprolam
from reprolam import action, workflow
from reprolam.cli.main import cli


@action(outputs=["base"])
def base(*, level: int = 1) -> int:
    return level


@action(outputs=["score"])
def score(base: int) -> dict[str, float]:
    return {"accuracy": base / 10}


FLOW = workflow("scores", [base, score], outputs=["score"], metrics="score")


@pytest.fixture
def runs(tmp_path: Path) -> tuple[Path, str, str]:
    with reprolam.open(tmp_path) as rl:
        a = rl.run(FLOW, planner="script")
        b = rl.run(FLOW, planner="script", set={"base.level": 9})
    return tmp_path, a.id, b.id


def _edit_level(root: Path, run_id: str) -> None:
    with closing(sqlite3.connect(root / "trace.db")) as con:
        done = con.execute(
            "UPDATE steps SET params = ? WHERE run_id = ? AND idx = 0", ('{"level":7}', run_id)
        )
        assert done.rowcount == 1
        con.commit()


def _cli(root: Path, *args: str) -> tuple[int, str, str]:
    done = CliRunner().invoke(cli, ["--store", str(root), *args])
    return done.exit_code, done.stdout, done.stderr


def test_intact_runs_compare_and_diff_clean(runs: tuple[Path, str, str]) -> None:
    root, a, b = runs
    with reprolam.open(root) as rl:
        assert rl.compare(a, b).unverified == {}
        assert rl.diff(a, b).unverified == {}
    for command in (["compare", a, b], ["compare", a, b, "--csv"], ["diff", a, b]):
        code, _out, err = _cli(root, *command)
        assert (code, err) == (0, "")


def test_an_edited_run_is_named_by_compare_and_diff_which_exit_1(
    runs: tuple[Path, str, str],
) -> None:
    root, a, b = runs
    _edit_level(root, a)
    with reprolam.open(root) as rl:
        comparison = rl.compare(a, b)
        assert comparison.values[0]["base.level"] == 7  # shown, as stored...
        assert list(comparison.unverified) == [a]  # ...and said not to verify
        assert "step 0 (base) was changed after it was recorded" in comparison.unverified[a]
        assert list(rl.diff(b, a).unverified) == [a]
    for command in (["compare", a, b], ["compare", b, a, "--csv"], ["diff", a, b]):
        code, _out, err = _cli(root, *command)
        assert code == 1, command
        [line] = err.splitlines()
        assert line.startswith(f"warning: run {a} does not verify")
        assert f"reprolam audit {a}" in line
    code, out, _err = _cli(root, "compare", a, b, "--json")
    assert code == 1
    assert list(json.loads(out)["unverified"]) == [a]
    code, out, _err = _cli(root, "diff", a, b, "--json")
    assert code == 1
    assert list(json.loads(out)["unverified"]) == [a]


def test_show_says_it_does_not_verify(runs: tuple[Path, str, str]) -> None:
    root, a, _b = runs
    code, out, _err = _cli(root, "show", a)
    assert code == 0
    assert "as stored, not verified: `reprolam replay RUN` checks every hash" in out
    code, out, _err = _cli(root, "show", a, "--json")
    assert code == 0
    assert json.loads(out)["verified"] is None


def test_notebook_views_carry_the_warning(runs: tuple[Path, str, str]) -> None:
    root, a, b = runs
    _edit_level(root, a)
    with reprolam.open(root) as rl:
        for html in (rl.compare(a, b)._repr_html_(), rl.diff(a, b)._repr_html_()):
            assert f"run {a} does not verify" in html
        assert "does not verify" not in rl.compare(b)._repr_html_()
