"""Reproduce keeps its verdict and never retries twice; damaged records never brick a store."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

import noisy_flow
from reprolam import Engine, Policy, Proposal, RulesPlanner, RunState
from reprolam.cli.main import cli
from reprolam.engine.faults import strikes
from reprolam.history.audit import audit
from reprolam.history.reproduce import reproduce
from reprolam.trace import MemoryStore, RunStatus, SQLiteStore, StepStatus
from reprolam.trace.records import Verdict
from test_failures import FLOW

NOISY = f"{Path(noisy_flow.__file__)}:flow"


def invoke(store: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--store", str(store), *args], catch_exceptions=False)


def seed_where(pattern: list[bool], action_name: str, rate: float) -> int:
    for seed in range(10_000):
        if [strikes({action_name: rate}, seed, action_name, i) for i in range(len(pattern))] == (
            pattern
        ):
            return seed
    raise AssertionError("no such seed")


class Recovering:
    """Rules, plus: after a failed step, propose the same action again, linked to the failure."""

    name = "recovering"
    instant = True

    def propose(self, state: RunState) -> Any:
        last = state.last_step
        if last is not None and last.status is StepStatus.FAILED:
            return Proposal(last.action, params={"scale": 0.5}, recovers=last.index)
        return RulesPlanner().propose(state)

    def config(self) -> dict[str, Any]:
        return {"name": self.name}


def test_reproduce_of_a_run_recovered_by_retries_is_bitwise_identical() -> None:
    seed = seed_where([True, True, False], "add", 0.5)
    store = MemoryStore()
    policy = Policy(faults={"add": 0.5}, retries=2)
    original = Engine(store).run(FLOW, planner=RulesPlanner(), seed=seed, policy=policy)
    statuses = [s.status for s in store.steps(original.id)]
    assert statuses.count(StepStatus.FAILED) == 2
    assert original.succeeded
    again = reproduce(store, original.id, workflow=FLOW)
    assert again.bitwise, again.summary()
    assert again.compared == len(statuses)  # every retry happened once, not twice
    assert again.reproduction is not None
    assert [s.status for s in store.steps(again.reproduction.id)] == statuses
    assert store.get_run(again.reproduction.id).verdict == Verdict.IDENTICAL
    assert audit(store, original.id).reproducibility == "reproduced"


def test_reproduce_of_a_run_recovered_by_its_planner_is_bitwise_identical() -> None:
    seed = seed_where([True, False], "add", 0.5)
    store = MemoryStore()
    policy = Policy(faults={"add": 0.5})
    original = Engine(store).run(FLOW, planner=Recovering(), seed=seed, policy=policy)
    steps = store.steps(original.id)
    assert steps[2].recovers == 1
    assert original.succeeded
    again = reproduce(store, original.id, workflow=FLOW)
    assert again.bitwise, again.summary()
    assert again.compared == len(steps)


def test_a_diverged_reproduction_is_recorded_failed_with_its_verdict(tmp_path: Path) -> None:
    ran = invoke(tmp_path, "run", NOISY, "--json")
    assert ran.exit_code == 0, ran.output
    run_id = json.loads(ran.output)["run"]["id"]
    result = invoke(tmp_path, "reproduce", run_id, "--json")
    assert result.exit_code == 1
    reproduction = json.loads(result.output)["reproduction"]
    with SQLiteStore(tmp_path) as store:
        record = store.get_run(reproduction)
        assert record.verdict == Verdict.DIVERGED
        assert record.status is RunStatus.FAILED  # not "succeeded"
        assert "diverged at step 0" in (record.error or "")
        assert audit(store, reproduction).clean  # the verdict is sealed with the record
    listed = invoke(tmp_path, "runs", "--json")
    by_id = {r["id"]: r for r in json.loads(listed.output)}
    assert by_id[reproduction]["verdict"] == "diverged"
    assert by_id[reproduction]["status"] == "failed"
    assert "diverged" in invoke(tmp_path, "runs").output
    assert "verdict diverged" in invoke(tmp_path, "show", reproduction).output


def test_an_identical_reproduction_records_identical(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path) as store:
        run = Engine(store).run(FLOW, planner=RulesPlanner())
        again = reproduce(store, run.id, workflow=FLOW)
        assert again.reproduction is not None
        record = store.get_run(again.reproduction.id)
        assert record.verdict == Verdict.IDENTICAL
        assert record.status is RunStatus.SUCCEEDED
    assert "identical" in invoke(tmp_path, "show", record.id).output


# -- damaged records ----------------------------------------------------------------------------


@pytest.fixture
def recorded(tmp_path: Path) -> tuple[Path, str]:
    with SQLiteStore(tmp_path) as store:
        run = Engine(store).run(FLOW, planner=RulesPlanner())
        Engine(store).run(FLOW, planner=RulesPlanner(), seed=1)  # an undamaged neighbour
    return tmp_path, run.id


def edit(store: Path, sql: str, *params: Any) -> None:
    with closing(sqlite3.connect(store / "trace.db")) as conn, conn:
        conn.execute(sql, params)


def first_output(store: Path, run_id: str) -> str:
    with closing(sqlite3.connect(store / "trace.db")) as conn:
        (outputs,) = conn.execute(
            "SELECT outputs FROM steps WHERE run_id = ? AND idx = 0", (run_id,)
        ).fetchone()
    return str(next(iter(json.loads(outputs).values())))


DAMAGE = {
    "flipped byte in an inline artifact": lambda store, run_id: edit(
        store,
        "UPDATE artifacts SET data = CAST('[9]' AS BLOB), size = 3 WHERE digest = ?",
        first_output(store, run_id),
    ),
    "missing artifact row": lambda store, run_id: edit(
        store, "DELETE FROM artifacts WHERE digest = ?", first_output(store, run_id)
    ),
    "invalid JSON in a step field": lambda store, run_id: edit(
        store, "UPDATE steps SET proposal = '{bad' WHERE run_id = ? AND idx = 1", run_id
    ),
    "invalid JSON in a run field": lambda store, run_id: edit(
        store, "UPDATE runs SET policy = '[1,' WHERE id = ?", run_id
    ),
    "unknown run status": lambda store, run_id: edit(
        store, "UPDATE runs SET status = 'exploded' WHERE id = ?", run_id
    ),
    "unknown step kind": lambda store, run_id: edit(
        store, "UPDATE steps SET kind = 'mystery' WHERE run_id = ? AND idx = 0", run_id
    ),
    "error that is not an object": lambda store, run_id: edit(
        store, "UPDATE steps SET error = '3' WHERE run_id = ? AND idx = 0", run_id
    ),
    # A value of another kind than the column holds (each was a traceback in some command)
    "text as a run's fork point": lambda store, run_id: edit(
        store, "UPDATE runs SET fork_index = 'abc' WHERE id = ?", run_id
    ),
    "text as a run's creation time": lambda store, run_id: edit(
        store, "UPDATE runs SET created_at = 'abc' WHERE id = ?", run_id
    ),
    "a run's creation time no date holds": lambda store, run_id: edit(
        store, "UPDATE runs SET created_at = 1e300 WHERE id = ?", run_id
    ),
    "a blob as a run's pid": lambda store, run_id: edit(
        store, "UPDATE runs SET pid = X'00' WHERE id = ?", run_id
    ),
    "text as a step's duration": lambda store, run_id: edit(
        store, "UPDATE steps SET duration = 'abc' WHERE run_id = ? AND idx = 1", run_id
    ),
    "text as a step's start time": lambda store, run_id: edit(
        store, "UPDATE steps SET started_at = 'abc' WHERE run_id = ? AND idx = 1", run_id
    ),
    "a blob as a step's action": lambda store, run_id: edit(
        store, "UPDATE steps SET action = X'00' WHERE run_id = ? AND idx = 1", run_id
    ),
    "a deleted first step row": lambda store, run_id: edit(
        store, "DELETE FROM steps WHERE run_id = ? AND idx = 0", run_id
    ),
    "a step index edited far past the end": lambda store, run_id: edit(
        store, "UPDATE steps SET idx = 4611686018427387904 WHERE run_id = ? AND idx = 1", run_id
    ),
    "text as a step's index": lambda store, run_id: edit(
        store, "UPDATE steps SET idx = 'abc' WHERE run_id = ? AND idx = 0", run_id
    ),
    "a real number as a step's seed": lambda store, run_id: edit(
        store, "UPDATE steps SET seed = 0.5 WHERE run_id = ? AND idx = 1", run_id
    ),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_one_damaged_record_is_a_problem_not_a_broken_store(
    recorded: tuple[Path, str], damage: str
) -> None:
    store, run_id = recorded
    DAMAGE[damage](store, run_id)
    listed = invoke(store, "runs", "--json")
    assert listed.exit_code == 0, listed.output
    assert len(json.loads(listed.output)) == 2
    assert invoke(store, "runs").exit_code == 0
    audited = invoke(store, "audit", run_id, "--json")
    assert audited.exit_code == 1, audited.output  # a problem found, not a bad input (2)
    problems = json.loads(audited.output)["problems"]
    assert problems
    assert "Traceback" not in audited.output
    shown = invoke(store, "show", run_id)
    assert shown.exit_code == 0, shown.output
    assert invoke(store, "replay", run_id).exit_code == 1
    for command in (("export", run_id, "--format", "prov-json", "-o", str(store / "p.json")),):
        exported = invoke(store, *command)
        assert exported.exit_code == 2, exported.output  # refused: the run does not verify
        assert "does not verify" in exported.output


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_the_ui_shows_a_damaged_record_as_it_shows_the_cli(
    recorded: tuple[Path, str], damage: str
) -> None:
    from starlette.testclient import TestClient

    from reprolam.ui import create_app

    store, run_id = recorded
    DAMAGE[damage](store, run_id)
    with SQLiteStore(store) as opened:
        app = create_app(opened, index_in_background=False)
        with TestClient(app, raise_server_exceptions=False, base_url="http://localhost") as client:
            for url in ("/", "/api/runs", f"/runs/{run_id}", f"/api/runs/{run_id}",
                        f"/runs/{run_id}/audit", f"/runs/{run_id}/forks"):  # fmt: skip
                assert client.get(url).status_code == 200, (url, client.get(url).text[-500:])


def test_a_damaged_run_row_is_marked_in_the_list(recorded: tuple[Path, str]) -> None:
    store, run_id = recorded
    edit(store, "UPDATE runs SET overrides = 'not json' WHERE id = ?", run_id)
    listed = json.loads(invoke(store, "runs", "--json").output)
    damaged = [r for r in listed if r.get("damaged")]
    assert [r["id"] for r in damaged] == [run_id]
    assert "overrides" in damaged[0]["damaged"]
    assert "DAMAGED" in invoke(store, "runs").output


def test_annotations_edited_outside_reprolam_are_shown_not_a_crash(
    recorded: tuple[Path, str],
) -> None:
    # Tags and notes are not hashed: anyone with the store may write them, a blob or a time
    # as text included. The run list ("sequence item 0: expected str instance, bytes found")
    # and the UI's pages (HTTP 500) failed on them.
    from starlette.testclient import TestClient

    from reprolam.ui import create_app

    store, run_id = recorded
    edit(store, "INSERT INTO annotations VALUES (?, 'tag', X'00ff', 1.0)", run_id)
    edit(store, "INSERT INTO annotations VALUES (?, 'note', 'hi', 'not a time')", run_id)
    listed = invoke(store, "runs", "--json")
    assert listed.exit_code == 0, listed.output
    (row,) = [r for r in json.loads(listed.output) if r["id"] == run_id]
    assert row["tags"] == ["(a blob of 2 bytes)"]
    assert invoke(store, "runs").exit_code == 0
    assert invoke(store, "show", run_id).exit_code == 0
    with SQLiteStore(store) as opened:
        notes = [a for a in opened.annotations(run_id) if a.kind == "note"]
        assert [(a.value, a.created_at) for a in notes] == [("hi", 0.0)]
        with TestClient(
            create_app(opened, index_in_background=False), base_url="http://localhost"
        ) as client:
            for url in ("/", "/api/runs", f"/runs/{run_id}", f"/api/runs/{run_id}"):
                assert client.get(url).status_code == 200, url


def test_an_artifact_size_edited_to_text_is_a_preview_error_not_a_500(
    recorded: tuple[Path, str],
) -> None:
    from starlette.testclient import TestClient

    from reprolam.ui import create_app

    store, run_id = recorded
    digest = first_output(store, run_id)
    edit(store, "UPDATE artifacts SET size = 'abc' WHERE digest = ?", digest)
    with (
        SQLiteStore(store) as opened,
        TestClient(create_app(opened), base_url="http://localhost") as client,
    ):
        for url in (f"/runs/{run_id}", f"/runs/{run_id}/steps/0", f"/artifacts/{digest}"):
            page = client.get(url)
            assert page.status_code in (200, 400), url  # shown, or refused in one line
        assert "recorded with size abc" in client.get(f"/runs/{run_id}/steps/0").text


def test_the_ui_marks_a_damaged_record_as_runs_and_show_do(recorded: tuple[Path, str]) -> None:
    # A run whose status was edited to an unknown word reads as 'failed' (and a damaged
    # step with its fallbacks): the pages showed those as recorded, with no mark.
    from starlette.testclient import TestClient

    from reprolam.ui import create_app

    store, run_id = recorded
    DAMAGE["unknown run status"](store, run_id)
    DAMAGE["unknown step kind"](store, run_id)
    with (
        SQLiteStore(store) as opened,
        TestClient(create_app(opened), base_url="http://localhost") as client,
    ):
        assert "DAMAGED" in client.get("/").text
        page = client.get(f"/runs/{run_id}").text
        assert "DAMAGED" in page
        assert "exploded" in page  # what is wrong, as show says it
        assert "DAMAGED" in client.get(f"/runs/{run_id}/steps/0").text
        assert "DAMAGED" not in client.get(f"/runs/{run_id}/steps/1").text
