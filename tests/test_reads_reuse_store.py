"""Store-wide ``--reuse`` after a file a step read changed: the run that executed the step again
with the new content is reused from then on, and the first run's step once the file holds
what it read again (each candidate's reads are checked, first computation first)."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

import reprolam
from reads_flow import FLOW, PATHS, cache_advice, use_private_tempdir
from reprolam import action, workflow
from reprolam.cli.main import cli
from reprolam.engine.cache import StepCache
from reprolam.testing.step_cache import probe
from reprolam.trace import MemoryStore
from reprolam.trace.records import StepRecord


@pytest.fixture(autouse=True)
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return use_private_tempdir(tmp_path, monkeypatch)


def test_reuse_takes_the_newest_computation_whose_file_still_holds(tmp_path: Path) -> None:
    original = PATHS["raw"].read_text()
    with reprolam.open(tmp_path / "store") as rl:
        a = rl.run(FLOW, planner="script", reuse=True)
        assert "cache" not in a.steps[0].proposal  # nothing to reuse yet: executed
        PATHS["raw"].write_text("1\n2\n4\n")
        b = rl.run(FLOW, planner="script", reuse=True)
        c = rl.run(FLOW, planner="script", reuse=True)
        PATHS["raw"].write_text(original)
        d = rl.run(FLOW, planner="script", reuse=True)
    executed = cache_advice(b.steps[0])
    assert executed["reused"] is False
    assert executed["counterpart"] == [a.id, 0]
    (why,) = executed["changed"]  # type: ignore[misc]
    assert why.startswith(f"file {PATHS['raw']}: content changed since the recorded run")
    assert b.steps[1].outputs["total"] != a.steps[1].outputs["total"]  # the new content
    # C takes B's step (A's read the old content), and B's total after it
    assert [cache_advice(s)["counterpart"] for s in c.steps] == [[b.id, 0], [b.id, 1]]
    assert all(cache_advice(s)["reused"] is True for s in c.steps)
    assert [cache_advice(s).get("reads_checked") for s in c.steps] == [1, None]
    assert c.steps[1].outputs == b.steps[1].outputs
    # back to what A read: A's step again (the first computation comes first)
    assert [cache_advice(s)["counterpart"] for s in d.steps] == [[a.id, 0], [a.id, 1]]
    assert d.steps[1].outputs == a.steps[1].outputs


def test_a_third_content_executes_and_names_the_file_against_the_first_run(
    tmp_path: Path,
) -> None:
    with reprolam.open(tmp_path / "store") as rl:
        a = rl.run(FLOW, planner="script", reuse=True)
        PATHS["raw"].write_text("4\n")
        rl.run(FLOW, planner="script", reuse=True)
        PATHS["raw"].write_text("5\n")
        e = rl.run(FLOW, planner="script", reuse=True)
    load = cache_advice(e.steps[0])
    assert load["reused"] is False
    assert load["counterpart"] == [a.id, 0]  # no candidate holds: the first one says why
    assert load["changed"] == [
        f"file {PATHS['raw']}: content changed since the recorded run "
        f"(digest {a.steps[0].proposal['observed']['effects'][0]['digest'][:12]} -> "
        f"{e.steps[0].proposal['observed']['effects'][0]['digest'][:12]})"
    ]
    assert e.steps[1].outputs["total"] != a.steps[1].outputs["total"]


def test_a_fork_with_reuse_takes_the_computation_whose_file_holds(tmp_path: Path) -> None:
    """The parent's step read the old content: a later run's step with the new one serves."""
    with reprolam.open(tmp_path / "store") as rl:
        parent = rl.run(FLOW, planner="script")
        PATHS["raw"].write_text("7\n")
        newer = rl.run(FLOW, planner="script", reuse=True)
        fork = rl.fork(parent.id, at=0, reuse=True, workflow=FLOW)
    assert [cache_advice(s)["counterpart"] for s in fork.steps] == [[newer.id, 0], [newer.id, 1]]
    assert all(cache_advice(s)["reused"] is True for s in fork.steps)
    assert fork.steps[1].outputs == newer.steps[1].outputs


@action(outputs=["rows"])
def scaled(*, k: int) -> list[int]:
    return [k * int(x) for x in PATHS["raw"].read_text().split()]


SCALED = workflow("scaled", [scaled], outputs=["rows"])


def test_a_sweep_with_reuse_takes_the_computation_whose_file_holds(tmp_path: Path) -> None:
    with reprolam.open(tmp_path / "store") as rl:
        parent = rl.run(SCALED, planner="script", set={"scaled.k": 1})
        PATHS["raw"].write_text("8\n")
        newer = rl.run(SCALED, planner="script", set={"scaled.k": 1}, reuse=True)
        assert cache_advice(newer.steps[0])["reused"] is False
        swept = rl.sweep(parent.id, at=0, grid={"scaled.k": [1, 2]}, reuse=True)
        again, other = sorted(swept.points, key=lambda p: p.values["scaled.k"])
        assert again.run is not None
        (step,) = rl.store.own_steps(again.run.id)
    assert (again.executed, again.reused) == (0, 1)
    assert cache_advice(step)["counterpart"] == [newer.id, 0]  # not the parent's: its file changed
    assert (other.executed, other.reused) == (1, 0)  # k=2 was never computed


def test_reuses_of_a_stale_step_are_passed_over_without_reading_their_source(
    tmp_path: Path,
) -> None:
    """Runs that reused A's step carry A's reads: once A's file changed they are skipped
    (not followed back to A again), and the step is executed."""
    with reprolam.open(tmp_path / "store") as rl:
        a = rl.run(FLOW, planner="script")
        reusers = [rl.run(FLOW, planner="script", reuse=True) for _ in range(3)]
        assert all(cache_advice(r.steps[0])["counterpart"] == [a.id, 0] for r in reusers)
        PATHS["raw"].write_text("9\n")
        store = rl.store
        followed: list[tuple[str, int]] = []
        own_step = store.own_step

        def spy(run_id: str, index: int) -> StepRecord:
            followed.append((run_id, index))
            return own_step(run_id, index)

        store.own_step = spy  # type: ignore[method-assign]
        advice = StepCache(reuse=True, store=store).advise(a.steps[0])
    assert advice is not None
    assert (advice.run_id, advice.index, advice.reused) == (a.id, 0, False)
    assert followed == []  # the reusers' source was A, passed over already


def test_without_a_candidate_there_is_no_advice() -> None:
    store = MemoryStore()
    assert StepCache(reuse=True, store=store).advise(probe()) is None


def test_the_cli_says_which_file_changed_and_which_run_it_reused(tmp_path: Path) -> None:
    runner = CliRunner()
    store = str(tmp_path / "store")
    command = ["--store", store, "run", "reads_flow:FLOW", "--planner", "script", "--reuse"]

    def run() -> tuple[str, str]:
        ran = runner.invoke(cli, command)
        assert ran.exit_code == 0, ran.output
        (run_id,) = re.findall(r"run (\S+) succeeded", ran.stdout)
        return run_id, "".join(ran.stderr.split())  # lines wrapped to the terminal anywhere

    a, _ = run()
    PATHS["raw"].write_text("6\n")
    b, said = run()
    assert f"re-executed:differsfromstep0ofrun{a}infile{PATHS['raw']}:contentchanged" in said
    _, said = run()
    assert f"reusedtheoutputsofstep0ofrun{b}" in said
    assert a not in said


def test_an_edited_candidate_is_passed_over_for_an_intact_one(tmp_path: Path) -> None:
    """A record that no longer holds its hash serves nothing, however fresh its reads: the
    next candidate does."""
    with reprolam.open(tmp_path / "store") as rl:
        a = rl.run(FLOW, planner="script")
        b = rl.run(FLOW, planner="script")  # both read the same content
        edited = replace(a.steps[0], outputs={"rows": "0" * 64})  # its hash no longer holds
        store = rl.store
        store.find_cached_steps = lambda probe: iter([edited, b.steps[0]])  # type: ignore[method-assign]
        advice = StepCache(reuse=True, store=store).advise(a.steps[0])
        assert advice is not None
        assert (advice.run_id, advice.reused) == (b.id, True)
        store.find_cached_steps = lambda probe: iter([edited])  # type: ignore[method-assign]
        assert StepCache(reuse=True, store=store).advise(a.steps[0]) is None
