"""Shortened run ids in tables stay unique prefixes: runs forked in one millisecond (a
sweep's parallel points) share their first 13 characters, and a table showing two identical
ids would name neither."""

from __future__ import annotations

import time
from pathlib import Path

from click.testing import CliRunner

from reprolam.cli.main import cli
from reprolam.cli.render import short_ids
from reprolam.trace import SQLiteStore
from reprolam.trace.records import RunRecord

SAME_MS = "01a22fa2-dfd1-74e3-aea7-0115211eb9c5"
SAME_MS_TOO = "01a22fa2-dfd1-74e3-b001-000000000000"
OTHER = "01a22fa3-0000-7000-8000-000000000000"


def test_ids_are_cut_only_as_far_as_they_stay_distinct() -> None:
    assert short_ids([OTHER, SAME_MS], 13) == [OTHER[:13], SAME_MS[:13]]
    cut = short_ids([SAME_MS, OTHER, SAME_MS_TOO, SAME_MS], 13)
    assert cut == [SAME_MS[:20], OTHER[:20], SAME_MS_TOO[:20], SAME_MS[:20]]
    assert len(set(cut)) == 3  # one run shown twice is the same prefix
    assert short_ids([SAME_MS], 60) == [SAME_MS]
    assert short_ids([], 13) == []


def test_the_runs_table_never_shows_two_runs_under_one_prefix(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path)
    for run_id in (SAME_MS, SAME_MS_TOO):
        store.create_run(RunRecord(id=run_id, workflow="w", seed=0, created_at=time.time()))
    store.close()
    done = CliRunner().invoke(
        cli, ["--store", str(tmp_path), "runs"], env={"COLUMNS": "90"}, catch_exceptions=False
    )
    assert done.exit_code == 0, done.output
    assert SAME_MS[:20] in done.output
    assert SAME_MS_TOO[:20] in done.output
    assert "unique prefix" in done.output


def test_the_run_a_listed_run_forks_or_reproduces_is_named_by_a_unique_prefix(
    tmp_path: Path,
) -> None:
    """'fork of 01a22fa2' named every run created in the same minute, none of them."""
    parent, sibling = "01a22fa2-dfd1-74e3-aea7-0115211eb9c5", "01a22fa2-e000-7000-8000-00000000000a"
    fork, check = "01a22fa2-e100-7000-8000-00000000000b", "01a22fa2-e200-7000-8000-00000000000c"
    store = SQLiteStore(tmp_path)
    for run_id in (parent, sibling):
        store.create_run(RunRecord(id=run_id, workflow="w", seed=0, created_at=time.time()))
    store.create_run(
        RunRecord(id=fork, workflow="w", seed=0, created_at=time.time(), parent_id=parent)
    )
    store.create_run(
        RunRecord(id=check, workflow="w", seed=0, created_at=time.time(), verifies=sibling)
    )
    store.close()
    done = CliRunner().invoke(
        cli, ["--store", str(tmp_path), "runs"], env={"COLUMNS": "200"}, catch_exceptions=False
    )
    assert done.exit_code == 0, done.output
    assert f"(fork of {parent[:18]})" in done.output
    assert f"(reproduces {sibling[:18]})" in done.output
