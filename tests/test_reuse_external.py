"""``--reuse`` never takes the outputs of an ``external`` action's step.

An external action acts on the world outside the record (it uploads, sends, submits): its
result is what it did there, so a reused step would record an upload that never happened.
Such a step is executed whenever it runs, as a fork's counterpart or found store-wide; the
cache still says it is a hit, and why it ran all the same. Pure actions with declared side
effects keep being reused by their cache key.
"""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

import reprolam
from reprolam import action, workflow
from reprolam.cli.main import cli
from reprolam.cli.render import _cache_note


@action(outputs=["data"])
def load(*, n: int = 3) -> list[int]:
    return list(range(n))


@action(outputs=["receipt"], determinism="external", side_effects=["posts the data"])
def upload(data: list[int], *, outbox: str = "") -> str:
    with open(outbox, "a") as sent:  # stands for the world outside the record
        sent.write(f"{len(data)}\n")
    return f"sent {len(data)}"


@action(outputs=["total"])
def total(data: list[int], receipt: str) -> int:
    return sum(data) + len(receipt)


FLOW = workflow("uploads", [load, upload, total], outputs=["total"])


def _sent(tmp_path: Path) -> list[str]:
    return (tmp_path / "outbox").read_text().split()


def _outbox(tmp_path: Path) -> dict[str, str]:
    return {"upload.outbox": str(tmp_path / "outbox")}


def test_a_fork_executes_its_parents_external_step_again_and_says_why(tmp_path: Path) -> None:
    with reprolam.open(tmp_path / "store") as rl:
        parent = rl.run(FLOW, planner="script", set=_outbox(tmp_path))
        fork = rl.fork(parent.id, at=1, reuse=True, workflow=FLOW)
    assert _sent(tmp_path) == ["3", "3"]  # uploaded again, not taken from the parent's record
    advice = fork.steps[1].proposal["cache"]
    assert advice["hit"] is True
    assert advice["reused"] is False
    assert advice["external"] is True
    assert fork.steps[2].proposal["cache"]["reused"] is True  # the pure step after it is


def test_a_store_wide_reuse_executes_an_external_step(tmp_path: Path) -> None:
    with reprolam.open(tmp_path / "store") as rl:
        rl.run(FLOW, planner="script", set=_outbox(tmp_path))
        again = rl.run(FLOW, planner="script", set=_outbox(tmp_path), reuse=True)
    assert _sent(tmp_path) == ["3", "3"]
    assert again.steps[0].proposal["cache"]["reused"] is True  # load: pure, reused
    assert "cache" not in again.steps[1].proposal  # not looked up: executed
    assert again.steps[2].proposal["cache"]["reused"] is True
    assert again.succeeded


def test_without_reuse_an_external_hit_is_not_offered_for_reuse(tmp_path: Path) -> None:
    with reprolam.open(tmp_path / "store") as rl:
        parent = rl.run(FLOW, planner="script", set=_outbox(tmp_path))
        fork = rl.fork(parent.id, at=1, workflow=FLOW)  # advice only
    advice = fork.steps[1].proposal["cache"]
    assert (advice["hit"], advice["reused"], advice["external"]) == (True, False, True)
    note = _cache_note(advice)
    assert "--reuse" not in note  # it would not take the outputs: not suggested
    assert "external" in note
    assert "never reused" in note
    assert "--reuse" in _cache_note(fork.steps[2].proposal["cache"])  # a pure hit: suggested


def test_the_cli_fork_prints_why_the_external_step_ran(tmp_path: Path) -> None:
    store = tmp_path / "store"
    with reprolam.open(store) as rl:
        parent = rl.run(FLOW, planner="script", set=_outbox(tmp_path))
    args = ["--store", str(store), "fork", parent.id, "--at", "1", "--reuse"]
    forked = CliRunner().invoke(cli, args)  # the workflow is registered in this process
    assert forked.exit_code == 0, forked.output
    assert "step 1 upload: cache hit" in forked.output
    assert "never reused" in forked.output
    assert _sent(tmp_path) == ["3", "3"]
