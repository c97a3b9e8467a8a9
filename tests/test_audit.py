"""Audit: completeness, hash chain, artifacts, lineage, failures, reproductions, and metrics."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import time
from contextlib import closing
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import pytest
from click.testing import CliRunner, Result
from pydantic import Field

import reprolam
from reprolam import ActionContext, Done, Engine, Proposal, RulesPlanner, RunState, action, workflow
from reprolam.cli.main import cli
from reprolam.hashing import digest
from reprolam.history.audit import AuditProblem, AuditReport, audit
from reprolam.history.fork import fork
from reprolam.trace import MemoryStore, SQLiteStore
from reprolam.trace.anchor import sealed
from reprolam.trace.contract import TraceStore
from reprolam.trace.records import ArtifactRecord, ErrorInfo, StepRecord, seal
from reprolam.trace.snapshot import StateSnapshot


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One Breast Cancer run in a SQLite store (tests copy it before changing anything)."""
    root = tmp_path_factory.mktemp("recorded")
    result = reprolam.run("breast-cancer", store=root, seed=0)
    assert result.succeeded
    return root, result.id


@pytest.fixture
def store_copy(recorded: tuple[Path, str], tmp_path: Path) -> tuple[Path, str]:
    root, run_id = recorded
    copy = tmp_path / "store"
    shutil.copytree(root, copy)
    return copy, run_id


def invoke(store: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--store", str(store), *args], catch_exceptions=False)


def audit_json(store: Path, run_id: str, *, exit_code: int) -> dict[str, Any]:
    result = invoke(store, "audit", run_id, "--json")
    assert result.exit_code == exit_code, result.output
    payload: dict[str, Any] = json.loads(result.stdout)
    return payload


def problems_of(payload: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [p for p in payload["problems"] if p["kind"] == kind]


def edit_db(store: Path, sql: str, *params: Any) -> None:
    with closing(sqlite3.connect(store / "trace.db")) as conn, conn:
        assert conn.execute(sql, params).rowcount == 1


def step_output(store: Path, run_id: str, index: int, output: str) -> tuple[str, Path]:
    with SQLiteStore(store) as trace:
        key = trace.step_at(run_id, index).outputs[output]
        return key, trace.blobs.path_of(key)


# -- a clean run, then reproduced ----------------------------------------------------------------


def test_a_clean_run_audits_clean_and_is_reproduced_after_reproduce(
    store_copy: tuple[Path, str],
) -> None:
    store, run_id = store_copy
    payload = audit_json(store, run_id, exit_code=0)
    assert payload["clean"] is True
    assert payload["problems"] == []
    assert all(check["ok"] for check in payload["checks"].values())
    assert set(payload["checks"]) == {
        "completeness",
        "hash_chain",
        "artifacts",
        "lineage",
        "failures",
        "reproduction",
    }
    assert payload["metrics"] == {
        "trace_completeness": 1.0,
        "failure_visibility": 1.0,
        "reproducibility": "not yet reproduced",
    }
    completeness = payload["completeness"]
    assert (completeness["executed"], completeness["complete"]) == (5, 5)
    assert completeness["fields_per_action"]["min"] >= 8  # the paper's "8+ fields per action"
    assert all(link["source"] == "step" for link in payload["lineage"])
    assert len(payload["lineage"]) == 9  # every input of steps 1..4, each from an earlier step

    shown = invoke(store, "audit", run_id)
    assert shown.exit_code == 0
    assert "trace completeness   1.00" in shown.stdout
    assert "failure visibility   1.00" in shown.stdout
    assert "not yet reproduced" in shown.stdout

    assert invoke(store, "reproduce", run_id).exit_code == 0
    payload = audit_json(store, run_id, exit_code=0)
    assert payload["metrics"]["reproducibility"] == "reproduced"
    (attempt,) = payload["reproductions"]
    with SQLiteStore(store) as trace:
        (repro,) = trace.list_runs(verifies=run_id)
    assert attempt["run"] == repro.id
    assert attempt["host"] == repro.host
    assert attempt["when"].startswith(time.strftime("%Y-", time.gmtime(repro.created_at)))
    assert (attempt["verdict"], attempt["compared"], attempt["identical"]) == ("reproduced", 5, 5)
    assert "reproduced" in invoke(store, "audit", run_id).stdout


# -- tampering: each reported with the run, step and artifact concerned ---------------------------


def test_one_byte_changed_in_an_artifact_file(store_copy: tuple[Path, str]) -> None:
    store, run_id = store_copy
    key, blob = step_output(store, run_id, 0, "X")  # 136 kB: a blob file, not an inline row
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0x01
    blob.write_bytes(bytes(data))
    payload = audit_json(store, run_id, exit_code=1)
    (problem,) = payload["problems"]
    assert problem["check"] == "artifacts"
    assert (problem["run"], problem["step"], problem["artifact"]) == (run_id, 0, key)
    assert "corrupted" in problem["message"]
    assert payload["checks"]["artifacts"]["ok"] is False


def test_one_byte_changed_in_an_inline_artifact_row(store_copy: tuple[Path, str]) -> None:
    store, run_id = store_copy
    key, blob = step_output(store, run_id, 4, "metrics")
    assert not blob.exists()  # small: stored inline in trace.db
    with closing(sqlite3.connect(store / "trace.db")) as conn:
        (data,) = conn.execute("SELECT data FROM artifacts WHERE digest = ?", (key,)).fetchone()
    changed = bytearray(data)
    changed[-2] ^= 0x01
    edit_db(store, "UPDATE artifacts SET data = ? WHERE digest = ?", bytes(changed), key)
    payload = audit_json(store, run_id, exit_code=1)
    problem = problems_of(payload, "artifact")[0]
    assert (problem["run"], problem["step"], problem["artifact"]) == (run_id, 4, key)
    assert "trace.db" in problem["message"]


def test_edited_step_params(store_copy: tuple[Path, str]) -> None:
    store, run_id = store_copy
    edit_db(
        store,
        "UPDATE steps SET params = ? WHERE run_id = ? AND idx = 3",
        '{"C":2.0,"max_iter":1000}',
        run_id,
    )
    payload = audit_json(store, run_id, exit_code=1)
    (problem,) = payload["problems"]
    assert (problem["check"], problem["kind"]) == ("hash_chain", "tampered")
    assert (problem["run"], problem["step"]) == (run_id, 3)
    assert "train_model" in problem["message"]


def test_edited_step_outputs(store_copy: tuple[Path, str]) -> None:
    store, run_id = store_copy
    with SQLiteStore(store) as trace:
        step = trace.step_at(run_id, 2)
        stats = trace.step_at(run_id, 1).outputs["stats"]
    original = step.outputs["X_processed"]
    forged = {**step.outputs, "X_processed": stats}  # an existing, intact artifact
    edit_db(
        store,
        "UPDATE steps SET outputs = ? WHERE run_id = ? AND idx = 2",
        json.dumps(forged, sort_keys=True, separators=(",", ":")),
        run_id,
    )
    payload = audit_json(store, run_id, exit_code=1)
    tampered, seal = problems_of(payload, "tampered")
    assert (tampered["run"], tampered["step"]) == (run_id, 2)
    # the seal lists each step's references in order: the run no longer matches it either
    assert (seal["run"], seal["step"]) == (run_id, None)
    assert "does not match its seal" in seal["message"]
    # the steps that used the real X_processed now have an input nobody produced
    broken = problems_of(payload, "lineage")
    assert [(p["step"], p["artifact"]) for p in broken] == [(3, original), (4, original)]
    assert all(p["run"] == run_id for p in broken)
    assert "'X_processed'" in broken[0]["message"]
    assert payload["checks"]["lineage"]["ok"] is False


@pytest.mark.parametrize("index", [1, 4], ids=["middle", "last"])
def test_deleted_step_row(store_copy: tuple[Path, str], index: int) -> None:
    store, run_id = store_copy
    with SQLiteStore(store) as trace:
        outputs = trace.step_at(run_id, index).outputs
    edit_db(store, "DELETE FROM steps WHERE run_id = ? AND idx = ?", run_id, index)
    payload = audit_json(store, run_id, exit_code=1)
    (missing,) = problems_of(payload, "missing_step")
    assert (missing["check"], missing["run"], missing["step"]) == ("hash_chain", run_id, index)
    assert payload["completeness"]["missing_steps"] == 1
    assert payload["metrics"]["trace_completeness"] == pytest.approx(4 / 5)
    if index == 4:  # no gap after the last step: found through the output it produced
        assert missing["artifact"] == outputs["metrics"]
        (lost_output,) = problems_of(payload, "outputs")
        assert lost_output["artifact"] == outputs["metrics"]


def test_deleted_step_rows_are_one_problem_and_an_index_edited_far_is_no_hang(
    store_copy: tuple[Path, str],
) -> None:
    store, run_id = store_copy
    edit_db(store, "DELETE FROM steps WHERE run_id = ? AND idx = 1", run_id)
    edit_db(store, "DELETE FROM steps WHERE run_id = ? AND idx = 2", run_id)
    payload = audit_json(store, run_id, exit_code=1)
    (missing,) = problems_of(payload, "missing_step")
    assert "steps 1 to 2 (2) of run" in missing["message"]
    assert payload["completeness"]["missing_steps"] == 2
    # One problem per missing step made a list of 2**62 problems: audit and replay ran out of
    # memory. The gap is one problem, and the moved step a tampered one.
    edit_db(store, "UPDATE steps SET idx = ? WHERE run_id = ? AND idx = 3", 2**62, run_id)
    payload = audit_json(store, run_id, exit_code=1)
    gaps = problems_of(payload, "missing_step")
    assert [p["step"] for p in gaps] == [1, 5]  # 1..3 (step 3 moved), then 5..2**62-1
    assert payload["completeness"]["missing_steps"] == 3 + 2**62 - 5
    assert invoke(store, "replay", run_id).exit_code == 1


def test_deleted_artifact_file(store_copy: tuple[Path, str]) -> None:
    store, run_id = store_copy
    key, blob = step_output(store, run_id, 2, "X_processed")
    blob.unlink()
    result = invoke(store, "audit", run_id, "--json")
    assert result.exit_code == 1
    (problem,) = json.loads(result.stdout)["problems"]
    assert (problem["kind"], problem["run"], problem["step"]) == ("artifact", run_id, 2)
    assert problem["artifact"] == key
    assert "missing" in problem["message"]
    human = invoke(store, "audit", run_id)
    assert human.exit_code == 1
    text = " ".join(human.stdout.split())  # rich wraps long lines
    assert f"(run {run_id}, step 2, artifact {key[:12]})" in text
    assert "audit found 1 problem(s)" in text


def test_a_moved_artifacts_directory_is_named_by_the_option_of_who_asks(
    store_copy: tuple[Path, str],
) -> None:
    """`audit` said "pass artifacts with its location" on the command line, Python's name
    for the option, while `get` said --artifacts; each now names its own."""
    store, run_id = store_copy
    (store / "artifacts").rename(store / "elsewhere")
    fix = "restore it, or pass {} with its location"
    for args in (["audit", run_id], ["audit", run_id, "--json"], ["replay", run_id]):
        result = invoke(store, *args)
        assert result.exit_code == 1, result.output
        assert fix.format("--artifacts") in " ".join(result.stdout.split()), args
    with reprolam.open(store) as rl:
        (problem, *_) = rl.audit(run_id).problems
    assert problem.to_dict()["message"].endswith(fix.format("artifacts"))  # Python's spelling
    moved = invoke(store, "--artifacts", str(store / "elsewhere"), "audit", run_id)
    assert moved.exit_code == 0, moved.output


# -- failures and recoveries ----------------------------------------------------------------------


@action(outputs=["data"], determinism="seeded")
def draw(*, n: Annotated[int, Field(ge=1, le=100)] = 5, ctx: ActionContext) -> list[int]:
    """Draw n seeded integers."""
    return [ctx.random.randrange(1, 1000) for _ in range(n)]


@action(outputs=["ratio"])
def divide(data: list[int], *, by: float = 1.0) -> float:
    """Divide the sum of the data by ``by`` (raises for 0)."""
    return sum(data) / by


DIVISION = workflow("division", [draw, divide], outputs=["ratio"])


class Scripted:
    """A planner that returns the given decisions in order, then Done."""

    name = "scripted"
    instant = True

    def __init__(self, decisions: list[Proposal]) -> None:
        self.decisions = list(decisions)

    def propose(self, state: RunState) -> Proposal | Done:
        return self.decisions.pop(0) if self.decisions else Done("script over")

    def config(self) -> dict[str, Any]:
        return {"name": self.name}


def scripted_run(store: TraceStore, *decisions: Proposal) -> str:
    return Engine(store).run(DIVISION, planner=Scripted(list(decisions))).id


def test_a_failure_and_its_recovery_audit_clean(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "store") as store:
        run_id = scripted_run(
            store,
            Proposal("draw"),
            Proposal("divide", params={"by": 0.0}),  # the first attempt raises
            Proposal("divide", params={"by": 2.0}, recovers=1),
        )
        assert store.get_run(run_id).status is reprolam.RunStatus.SUCCEEDED
        report = audit(store, run_id)
    assert report.clean, report.problems
    assert (report.failures.failed, report.failures.visible) == (1, 1)
    assert report.failures.recoveries == [(2, 1)]
    assert report.metrics["failure_visibility"] == 1.0
    assert report.completeness.executed == 3  # the failed attempt counts, with no outputs
    assert report.metrics["trace_completeness"] == 1.0


@pytest.mark.parametrize(
    ("recovers", "fragment"),
    [(0, "step 0 (draw) succeeded"), (1, "not an earlier step"), (7, "not an earlier step")],
)
def test_a_recovery_must_point_at_an_earlier_failed_step(recovers: int, fragment: str) -> None:
    store = MemoryStore()
    run_id = scripted_run(
        store, Proposal("draw"), Proposal("divide", params={"by": 2.0}, recovers=recovers)
    )
    report = audit(store, run_id)
    (problem,) = report.problems
    assert (problem.check, problem.kind, problem.run, problem.step) == (
        "failures",
        "recovery",
        run_id,
        1,
    )
    assert fragment in problem.message
    assert report.metrics["failure_visibility"] == 1.0  # nothing failed; the link is wrong


def rewrite(store: TraceStore, run_id: str, index: int, **changes: Any) -> None:
    """Re-record step ``index`` with ``changes``, sealed and re-chained like a real recorder's.

    Models a recorder that wrote an incomplete step: the hashes are all consistent, so only
    the audit's own checks can see what is missing.
    """
    steps = store.own_steps(run_id)
    run = store.get_run(run_id)
    fixed: list[StepRecord] = []
    prev_hash = (steps[index - 1].hash or "") if index else (run.header_hash or "")
    for step in steps[index:]:
        changed = replace(step, **changes) if step.index == index else step
        resealed = seal(replace(changed, prev_hash=prev_hash, hash=None))
        prev_hash = resealed.hash or ""
        fixed.append(resealed)
    store.record(steps=fixed)
    # and keeps its run-state snapshots consistent with what it wrote
    trace = store.steps(run_id)
    for kept in store.snapshots(run_id):
        fresh = StateSnapshot(run_id, 0).advance(trace[: kept.steps])
        fresh.artifacts = {
            n: (k, kept.artifacts[n][1], i) for n, (k, _, i) in fresh.artifacts.items()
        }
        store.put_snapshots([fresh])
    store.record(run=sealed(store, run, store.steps(run_id)))


def test_a_failure_without_traceback_lowers_failure_visibility() -> None:
    store = MemoryStore()
    run_id = scripted_run(
        store,
        Proposal("draw"),
        Proposal("divide", params={"by": 0.0}),
        Proposal("divide", params={"by": 0.0}),
        Proposal("divide", params={"by": 4.0}, recovers=2),
    )
    assert audit(store, run_id).clean
    rewrite(store, run_id, 1, error=ErrorInfo("ZeroDivisionError", "division by zero"))
    report = audit(store, run_id)
    (problem,) = report.problems
    assert (problem.kind, problem.step) == ("error_record", 1)
    assert "no traceback" in problem.message
    assert report.metrics["failure_visibility"] == 0.5


@action(outputs=["ratio"])
def checked(data: list[int]) -> float:
    """Fail as ``assert`` does, with an exception without a message (pytest rewrites an
    ``assert`` in a test module, adding one)."""
    if data:
        raise AssertionError
    return 0.0


def test_a_failure_whose_exception_has_no_message_is_visible() -> None:
    """``assert`` raises AssertionError(): its type and traceback are the whole record."""
    store = MemoryStore()
    flow = workflow("checked", [draw, checked], outputs=["ratio"])
    run_id = Engine(store).run(flow, planner=Scripted([Proposal("draw"), Proposal("checked")])).id
    error = store.steps(run_id)[1].error
    assert error is not None
    assert (error.type, error.message) == ("AssertionError", "")
    assert "raise AssertionError" in error.traceback
    report = audit(store, run_id)
    assert report.clean, report.problems
    assert (report.failures.failed, report.failures.visible) == (1, 1)


def test_a_step_without_fingerprint_or_seed_lowers_trace_completeness() -> None:
    store = MemoryStore()
    run_id = scripted_run(store, Proposal("draw"), Proposal("divide"))
    rewrite(store, run_id, 0, fingerprint="", seed=None)
    report = audit(store, run_id)
    (problem,) = report.problems
    assert (problem.check, problem.kind, problem.step) == ("completeness", "incomplete", 0)
    assert "fingerprint, seed" in problem.message
    assert report.metrics["trace_completeness"] == 0.5
    assert report.completeness.steps[0].missing == ("fingerprint", "seed")


def test_an_interrupted_run_is_one_interrupted_problem() -> None:
    @action(outputs=["ratio"])
    def stop(data: list[int]) -> float:
        raise KeyboardInterrupt

    store = MemoryStore()
    flow = workflow("ctrl-c", [draw, stop], outputs=["ratio"])
    with pytest.raises(KeyboardInterrupt):
        Engine(store).run(flow, planner=RulesPlanner())
    (run,) = store.list_runs()
    report = audit(store, run.id)
    (problem,) = report.problems
    assert (problem.kind, problem.check, problem.step) == ("interrupted", "completeness", 1)
    # the same way to go on as the run's own reason (it said only 'fork it at step 1')
    assert f"continue it with `reprolam resume {run.id}`, or fork it at step 1" in problem.message
    assert report.metrics["trace_completeness"] == 1.0  # step 0 finished, step 1 never did


def test_a_run_still_marked_running_is_one_problem() -> None:
    store = MemoryStore()
    run_id = scripted_run(store, Proposal("draw"), Proposal("divide"))
    run = store.get_run(run_id)
    store.record(run=replace(run, status=reprolam.RunStatus.RUNNING, finished_at=None, seal=None))
    (problem,) = audit(store, run_id).problems
    assert (problem.kind, problem.check, problem.step) == ("running", "completeness", None)
    assert "has not finished" in problem.message


def test_an_input_from_outside_needs_declaring_as_external() -> None:
    store = MemoryStore()
    run_id = scripted_run(store, Proposal("draw"), Proposal("divide"))
    data = b'{"source":"lab notebook"}'
    outside = digest(data)
    store.record(artifacts=[(ArtifactRecord(outside, "json", len(data)), data)])
    rewrite(store, run_id, 0, inputs={"notes": outside})  # step 0 read a file from outside
    (problem,) = audit(store, run_id).problems
    assert (problem.kind, problem.step, problem.artifact) == ("lineage", 0, outside)
    assert "external_inputs" in problem.message
    report = audit(store, run_id, external_inputs=[outside])
    assert report.clean, report.problems
    assert report.lineage[0].source == "external"


# -- forks ---------------------------------------------------------------------------------------


def test_a_fork_audits_clean_with_lineage_across_the_fork(store_copy: tuple[Path, str]) -> None:
    store, run_id = store_copy
    with SQLiteStore(store) as trace:
        child = fork(trace, run_id, at="train_model", overrides={"train_model": {"C": 0.1}})
        grandchild = fork(trace, child.id, at=4, reuse=True)
        parent_steps = trace.steps(run_id)
        for fork_id in (child.id, grandchild.id):
            report = audit(trace, fork_id)
            assert report.clean, report.problems
            assert report.steps == 5
        report = audit(trace, child.id)
    assert report.inherited == 3
    links = {(link.step, link.input): link for link in report.lineage}
    assert (links[3, "X_processed"].producer_run, links[3, "X_processed"].producer_step) == (
        run_id,
        2,
    )
    assert (links[3, "y"].producer_run, links[3, "y"].producer_step) == (run_id, 0)
    assert links[3, "y"].artifact == parent_steps[0].outputs["y"]
    assert (links[4, "model"].producer_run, links[4, "model"].producer_step) == (child.id, 3)
    assert {s.run for s in report.completeness.steps} == {run_id, child.id}

    # damage in an inherited step is reported against the parent that recorded it
    edit_db(
        store,
        "UPDATE steps SET params = ? WHERE run_id = ? AND idx = 1",
        '{"bins":3}',
        run_id,
    )
    payload = audit_json(store, child.id, exit_code=1)
    (problem,) = payload["problems"]
    assert (problem["kind"], problem["run"], problem["step"]) == ("tampered", run_id, 1)


# -- reproduction history ------------------------------------------------------------------------


NOISY = Path(__file__).with_name("noisy_flow.py")


def test_a_diverged_reproduction_is_reported(tmp_path: Path) -> None:
    store = tmp_path / "store"
    run_id = reprolam.run(f"{NOISY}:flow", store=store).id
    assert invoke(store, "reproduce", run_id).exit_code == 1
    payload = audit_json(store, run_id, exit_code=1)
    assert payload["metrics"]["reproducibility"] == "diverged"
    (problem,) = payload["problems"]
    assert (problem["kind"], problem["run"], problem["step"]) == ("diverged", run_id, 0)
    with SQLiteStore(store) as trace:
        assert problem["artifact"] == trace.step_at(run_id, 0).outputs["value"]
    assert payload["reproductions"][0]["divergence"]["output"] == "value"


# -- concurrency ----------------------------------------------------------------------------------


FLOW_MODULE = """
from reprolam import ActionContext, action, workflow

@action(outputs=["data"], determinism="seeded")
def draw(*, n: int = 8, ctx: ActionContext) -> list:
    return [ctx.random.randrange(1000) for _ in range(n)]

@action(outputs=["total"])
def total(data: list) -> int:
    return sum(data)

flow = workflow("concurrent", [draw, total], outputs=["total"])
"""

WORKER = """
import sys, time
from pathlib import Path
sys.path.insert(0, {flows!r})
import reprolam
from reprolam.trace import SQLiteStore
from concurrent_flow import flow
Path({ready!r}).touch()
deadline = time.monotonic() + 30
while not Path({go!r}).exists() and time.monotonic() < deadline:
    time.sleep(0.005)
store = SQLiteStore({store!r})
engine = reprolam.Engine(store)
for i in range({runs}):
    result = engine.run(flow, planner=reprolam.RulesPlanner(), seed={worker} * 1000 + i)
    assert result.succeeded, result.run.error
store.close()
"""


def test_concurrent_writers_leave_complete_runs_that_audit_clean(tmp_path: Path) -> None:
    processes, runs = 4, 25
    (tmp_path / "concurrent_flow.py").write_text(FLOW_MODULE)
    store, go = tmp_path / "store", tmp_path / "go"
    workers = []
    for worker in range(processes):
        code = WORKER.format(
            flows=str(tmp_path),
            ready=str(tmp_path / f"ready-{worker}"),
            go=str(go),
            store=str(store),
            runs=runs,
            worker=worker,
        )
        workers.append(
            subprocess.Popen(
                [sys.executable, "-c", textwrap.dedent(code)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    deadline = time.monotonic() + 30
    while len(list(tmp_path.glob("ready-*"))) < processes and time.monotonic() < deadline:
        time.sleep(0.01)
    go.touch()  # all start writing at once
    outcomes = [w.communicate(timeout=60) for w in workers]
    for worker, (_out, err) in zip(workers, outcomes, strict=True):
        assert "database is locked" not in err
        assert worker.returncode == 0, err
    with SQLiteStore(store) as trace:
        recorded = trace.list_runs()
        assert len(recorded) == processes * runs
        assert len({r.seed for r in recorded}) == processes * runs
        for run in recorded:
            assert run.status is reprolam.RunStatus.SUCCEEDED
            steps = trace.steps(run.id)
            assert [(s.action, s.status.value) for s in steps] == [
                ("draw", "succeeded"),
                ("total", "succeeded"),
            ]
            report = audit(trace, run.id)
            assert report.clean, (run.id, report.problems)


# -- the command ---------------------------------------------------------------------------------


def test_unknown_run_is_bad_input(store_copy: tuple[Path, str]) -> None:
    store, _run_id = store_copy
    result = invoke(store, "audit", "zzzz")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: no run with id or prefix 'zzzz'")
    assert len(result.stderr.strip().splitlines()) == 1


def test_audit_explains_itself() -> None:
    text = CliRunner().invoke(cli, ["audit", "--help"]).output
    assert "Example:" in text
    assert "audit" in CliRunner().invoke(cli, ["--help"]).output


def test_report_types_are_plain_data(store_copy: tuple[Path, str]) -> None:
    store, run_id = store_copy
    with SQLiteStore(store) as trace:
        report = audit(trace, run_id[:13])  # a unique prefix works too
    assert isinstance(report, AuditReport)
    assert report.run.id == run_id
    problem = AuditProblem("lineage", "lineage", "m", run_id, 1, "d")
    assert problem.to_dict() == {
        "check": "lineage",
        "kind": "lineage",
        "message": "m",
        "run": run_id,
        "step": 1,
        "artifact": "d",
    }
    json.dumps(report.to_dict())  # everything in the report serializes
