"""``reprolam.compat.rlam``: the paper's rlam 0.1.0 API, recorded as real reprolam runs.

Behaviour is compared with the real ``rlam`` (installed with the ``bench`` extra) where the
two should agree; what reprolam adds (the store) is checked in the store itself.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import networkx as nx
import pytest

import reprolam
from reprolam.compat import rlam as compat
from reprolam.compat.rlam.utils import compute_environment_hash
from reprolam.history.audit import audit
from reprolam.trace import MemoryStore
from reprolam.trace.links import step_after, step_label

SUITE = Path(__file__).parent / "rlam_suite"
# sha256 of rlam 0.1.0's published test files (rlam-0.1.0.tar.gz, tests/)
PUBLISHED = {
    "test_action.py": "6e0be7b0cd2face0df5881651ed11c543b33101ef0cb56e84d49ff6b7f3fcf62",
    "test_invariants.py": "3222697df2f529cdf0c2d3ea7eed6e5b05404285f6a2684c5c8a9e2814e0f1d0",
    "test_replay.py": "a365d4efa34ced211d22c218884085e30d5f0c2da1fd780b79b0f0e62a13a686",
    "test_trace.py": "71c86c90324a409c8f5abfa9438d64963581789fbbf8c14db62e7aa419479a98",
    "LICENSE": "20959ff2fe18a0664206d920791161741f094b6a1539a0e253ee4b00158d1add",
}


def real_rlam() -> ModuleType:
    """The published package, imported at test time (after the suite's redirect is undone)."""
    module = pytest.importorskip("rlam")
    assert module.ExecutionTrace.__module__ == "rlam.trace", "the redirect leaked"
    return module


def action(pkg: Any, action_id: str, **inputs: Any) -> Any:
    params = inputs.pop("params", {})
    return pkg.Action(
        action_id=action_id,
        action_type="step",
        inputs=inputs,
        parameters=params,
        environment_hash="env",
    )


Plan = list[tuple[str, Callable[..., Any], dict[str, Any], list[str]]]


def build(pkg: Any, trace: Any, plan: Plan) -> None:
    for action_id, fn, inputs, parents in plan:
        trace.add_result(pkg.execute_action(action(pkg, action_id, **inputs), fn), parents=parents)


def fail() -> None:
    raise ValueError("no luck")


# A DAG whose topological order is not the order actions were added: forking at A2 takes A4
# (added later, no parents) along but not A3.
PLAN = [
    ("A1", lambda x: x + 1, {"x": 1}, []),
    ("A2", lambda x: x * 10, {"x": 2}, ["A1"]),
    ("A3", fail, {}, ["A2"]),
    ("A4", lambda: "side", {}, []),
]


def snapshot(trace: Any) -> dict[str, Any]:
    nodes = {
        n: (d["action"].action_id, d["output"], d["status"], d["error"])
        for n, d in trace.graph.nodes(data=True)
    }
    return {"nodes": nodes, "edges": sorted(trace.graph.edges), "order": list(trace.graph)}


def test_the_suite_is_rlams_own_files_unmodified() -> None:
    for name, expected in PUBLISHED.items():
        assert hashlib.sha256((SUITE / name).read_bytes()).hexdigest() == expected, name


def test_traces_and_forks_match_the_real_rlam_node_for_node() -> None:
    rlam = real_rlam()
    ours, theirs = compat.ExecutionTrace(), rlam.ExecutionTrace()
    build(compat, ours, PLAN)
    build(rlam, theirs, PLAN)
    assert snapshot(ours) == snapshot(theirs)
    for point in ("A1", "A2", "A3", "A4"):
        assert snapshot(compat.fork_trace(ours, point)) == snapshot(rlam.fork_trace(theirs, point))
    assert compat.replay_action(ours, "A2") == rlam.replay_action(theirs, "A2") == 20


def test_a_failure_without_a_message_keeps_rlams_empty_error() -> None:
    def silent() -> None:
        raise ValueError

    rlam = real_rlam()
    ours, theirs = compat.ExecutionTrace(), rlam.ExecutionTrace()
    build(compat, ours, [("A1", silent, {}, [])])
    build(rlam, theirs, [("A1", silent, {}, [])])
    assert ours.get_result("A1")["error"] == theirs.get_result("A1")["error"] == ""
    reopened = compat.ExecutionTrace.open(ours.run_id or "", store=ours.store)
    assert reopened.get_result("A1")["error"] == ""


def test_a_tool_that_is_not_callable_is_a_failed_result_as_in_rlam() -> None:
    """E.g. a LAM's registry lookup of an action type it does not know returns None."""
    rlam = real_rlam()
    ours = compat.execute_action(action(compat, "A1"), None)  # type: ignore[arg-type]
    theirs = rlam.execute_action(action(rlam, "A1"), None)
    assert (ours.status, ours.error) == (theirs.status, theirs.error)
    assert ours.error == "'NoneType' object is not callable"
    trace = compat.ExecutionTrace()
    trace.add_result(ours)
    assert trace.get_result("A1")["error"] == ours.error
    assert audit(trace.store, trace.run_id or "").clean


def test_every_logged_action_is_a_hash_chained_step_with_stored_values() -> None:
    trace = compat.ExecutionTrace()
    build(compat, trace, PLAN)
    store, run_id = trace.store, trace.run_id
    assert store.location == "memory:"
    assert run_id is not None
    steps = store.steps(run_id)
    assert [step_label(s) for s in steps] == ["A1", "A2", "A3", "A4"]
    assert [step_after(s) for s in steps] == [(), (0,), (1,), ()]
    assert [s.status.value for s in steps] == ["succeeded", "succeeded", "failed", "succeeded"]
    assert steps[2].error is not None
    assert steps[2].error.type == "ValueError"
    _, data = store.get_artifact(steps[1].outputs["A2"])
    assert data == b"20"
    run = store.get_run(run_id)
    assert run.status is reprolam.RunStatus.FAILED  # A3 failed and nothing follows it
    assert run.outputs == {"A4": steps[3].outputs["A4"]}  # the leaves' outputs: A3 failed
    report = audit(store, run_id)
    assert report.clean, report.problems
    assert report.failures.ratio == 1.0


def test_an_action_changing_its_input_in_place_records_the_input_it_received() -> None:
    """The record said A2 took [1, 2, 99] from outside: what the tool left, not A1's output."""

    def grow(data: list[int]) -> int:
        data.append(99)
        return len(data)

    trace = compat.ExecutionTrace()
    first = compat.execute_action(action(compat, "A1"), lambda: [1, 2])
    trace.add_result(first)
    trace.add_result(compat.execute_action(action(compat, "A2", data=first.output), grow), ["A1"])
    steps = trace.store.steps(trace.run_id or "")
    assert steps[1].inputs["data"] == steps[0].outputs["A1"]  # lineage: A1's output
    reopened = compat.ExecutionTrace.open(trace.run_id or "", store=trace.store)
    assert reopened.get_result("A2")["action"].inputs == {"data": [1, 2]}
    report = audit(trace.store, trace.run_id or "")
    assert report.clean, report.problems
    assert "1 produced by earlier steps, 0 external" in report.checks()["lineage"]["summary"]


def test_a_deep_copy_is_an_independent_trace_as_in_rlam_and_pickling_is_refused_clearly() -> None:
    """copy.deepcopy(trace) raised 'cannot pickle _thread.lock object' (the store's lock)."""
    import copy
    import pickle

    rlam = real_rlam()
    ours, theirs = compat.ExecutionTrace(), rlam.ExecutionTrace()
    build(compat, ours, PLAN)
    build(rlam, theirs, PLAN)
    grown = [("A5", lambda: 5, {}, ["A3"])]
    ours_copy, theirs_copy = copy.deepcopy(ours), copy.deepcopy(theirs)
    build(compat, ours_copy, grown)
    build(rlam, theirs_copy, grown)
    assert snapshot(ours_copy) == snapshot(theirs_copy)
    assert snapshot(ours) == snapshot(theirs)  # the original is untouched
    assert copy.deepcopy(compat.ExecutionTrace()).run_id is None
    run = ours.store.get_run(ours_copy.run_id or "")
    assert (run.parent_id, run.fork_index) == (ours.run_id, 4)  # inherits all 4 steps
    report = audit(ours.store, ours_copy.run_id or "")
    assert report.clean, report.problems
    assert copy.copy(ours).graph is ours.graph  # another name for the same trace, as in rlam
    with pytest.raises(reprolam.ConfigError, match=r"ExecutionTrace\.open\(run_id"):
        pickle.dumps(ours)


def test_replay_reads_the_store_and_refuses_tampered_bytes() -> None:
    calls = []
    trace = compat.ExecutionTrace()
    result = compat.execute_action(action(compat, "A1", x=2), lambda x: calls.append(x) or [x])
    trace.add_result(result)
    assert compat.replay_action(trace, "A1") == [2]
    assert calls == [2]  # replay executed nothing
    store = trace.store
    assert isinstance(store, MemoryStore)
    key = store.steps(trace.run_id or "")[0].outputs["A1"]
    codec, size, _ = store._artifacts[key]
    store._artifacts[key] = (codec, size, b"[3]")
    with pytest.raises(reprolam.IntegrityError):
        compat.replay_action(trace, "A1")


def test_recovery_is_recorded_as_such_and_refused_for_a_success() -> None:
    trace = compat.ExecutionTrace()
    build(compat, trace, PLAN[:3])
    ok = compat.execute_action(action(compat, "A5"), lambda: 1)
    with pytest.raises(RuntimeError, match=r"Recovery requires FAILED status\. Action 'A2' has"):
        trace.add_recovery("A2", ok)
    with pytest.raises(RuntimeError, match="Action 'A9' does not exist in trace"):
        trace.add_recovery("A9", ok)
    assert len(trace.store.steps(trace.run_id or "")) == 3  # nothing written
    trace.add_recovery("A3", ok)
    step = trace.store.steps(trace.run_id or "")[3]
    assert (step.recovers, step_after(step)) == (2, (2,))
    assert trace.graph.has_edge("A3", "A5")
    run = trace.store.get_run(trace.run_id or "")
    assert run.status is reprolam.RunStatus.SUCCEEDED
    assert audit(trace.store, run.id).failures.recoveries == [(3, 2)]


def violations(pkg: Any) -> tuple[Any, tuple[str, ...]]:
    """The messages of a duplicate action, an unlogged parent and an unknown id."""
    trace = pkg.ExecutionTrace()
    build(pkg, trace, PLAN[:1])
    again = pkg.execute_action(action(pkg, "A1"), lambda: 2)
    with pytest.raises(RuntimeError) as duplicate:
        trace.add_result(again)
    orphan = pkg.execute_action(action(pkg, "A2"), lambda: 2)
    with pytest.raises(RuntimeError) as unlogged:
        trace.add_result(orphan, parents=["A0"])
    with pytest.raises(KeyError) as missing:
        trace.get_result("A7")
    return trace, (str(duplicate.value), str(unlogged.value), str(missing.value))


def test_invariant_violations_use_rlams_messages_and_write_nothing() -> None:
    trace, ours = violations(compat)
    _, theirs = violations(real_rlam())
    assert ours == theirs
    assert "already exists in trace" in ours[0]
    assert len(trace.store.steps(trace.run_id or "")) == 1


def test_an_empty_action_id_is_refused_in_rlams_terms_before_anything_is_recorded() -> None:
    """rlam 0.1.0 logs '' as a node; the store's labels are non-empty, and the refusal said
    'a step label is a non-empty string', a word rlam code never meets."""
    trace = compat.ExecutionTrace()
    trace.add_result(compat.execute_action(action(compat, "A1", x=1), lambda x: x))
    with pytest.raises(reprolam.ConfigError, match=r"Action.action_id is empty") as info:
        trace.add_result(compat.execute_action(action(compat, ""), lambda: 1), parents=["A1"])
    assert "action_id='load-1'" in str(info.value)
    trace.add_result(compat.execute_action(action(compat, "A2", x=1), fail))
    with pytest.raises(reprolam.ConfigError, match=r"Action.action_id is empty"):
        trace.add_recovery("A2", compat.execute_action(action(compat, ""), lambda: 1))
    assert list(trace.graph) == ["A1", "A2"]
    assert len(trace.store.steps(trace.run_id or "")) == 2


def test_the_graph_cannot_be_changed_behind_the_traces_back() -> None:
    trace = compat.ExecutionTrace()
    with pytest.raises(nx.NetworkXError, match="Frozen graph"):
        trace.graph.add_node("A1")
    assert trace.graph.number_of_nodes() == 0


def test_a_result_not_executed_by_reprolam_is_recorded_as_given_and_audited_incomplete() -> None:
    trace = compat.ExecutionTrace()
    made = compat.ExecutionResult(action=action(compat, "A1"), output=5, status="SUCCESS")
    trace.add_result(made)
    edited = compat.execute_action(action(compat, "A2", x=1), lambda x: x)
    edited.output = 99  # changed after execution: no longer what ran
    trace.add_result(edited)
    assert compat.replay_action(trace, "A2") == 99
    report = audit(trace.store, trace.run_id or "")
    incomplete = {p.step: p.message for p in report.problems if p.kind == "incomplete"}
    assert set(incomplete) == {0, 1}
    assert "fingerprint, seed" in incomplete[0]


def test_an_output_that_cannot_be_stored_fails_the_action_in_the_trace() -> None:
    trace = compat.ExecutionTrace()
    result = compat.execute_action(action(compat, "A1"), object)
    assert result.status == "SUCCESS"  # as rlam says: the call itself worked
    trace.add_result(result)
    node = trace.get_result("A1")
    assert node["status"] == "FAILED"
    assert node["output"] is None
    assert node["error"].startswith("output 'A1' cannot be stored: ")


def test_results_compare_by_their_rlam_fields_only() -> None:
    act = action(compat, "A1")
    first = compat.execute_action(act, lambda: 1)
    second = compat.execute_action(act, lambda: 1)
    assert first == second  # different timings, same result
    assert first != compat.execute_action(act, lambda: 2)


def test_environment_hash_is_reprolams_and_names_the_runs_environment() -> None:
    trace = compat.ExecutionTrace()
    build(compat, trace, PLAN[:1])
    env = compute_environment_hash()
    assert env == reprolam.compute_environment_hash()
    assert trace.store.get_run(trace.run_id or "").environment == env


@pytest.mark.slow  # a fresh process
def test_a_persistent_trace_reopens_in_another_process(tmp_path: Path) -> None:
    store = tmp_path / "store"
    trace = compat.ExecutionTrace(store=store)
    build(compat, trace, PLAN)
    trace.store.flush()
    script = f"""
import json
from reprolam.compat.rlam import ExecutionTrace, execute_action, Action, replay_action
trace = ExecutionTrace.open({trace.run_id!r}, store={str(store)!r})
a = trace.get_result("A2")["action"]
trace.add_result(execute_action(Action(action_id="A5", action_type="next",
    inputs={{"x": replay_action(trace, "A2")}}, parameters={{}}, environment_hash="e"),
    lambda x: x + 1), parents=["A2"])
print(json.dumps([sorted(trace.graph.edges), a.inputs, a.timestamp.isoformat(),
                  trace.get_result("A3")["error"], replay_action(trace, "A5")]))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    edges, inputs, stamp, error, a5 = json.loads(out)
    assert edges == [["A1", "A2"], ["A2", "A3"], ["A2", "A5"]]
    assert inputs == {"x": 2}
    assert stamp == trace.get_result("A2")["action"].timestamp.isoformat()
    assert error == "no luck"
    assert a5 == 21
    reopened = compat.ExecutionTrace.open(trace.run_id or "", store=store)
    assert reopened.has_action("A5")
    assert audit(reopened.store, trace.run_id or "").clean


def test_the_store_comes_from_reprolam_store_when_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REPROLAM_STORE", str(tmp_path / "env-store"))
    trace = compat.ExecutionTrace()
    build(compat, trace, PLAN[:1])
    assert trace.store.location == str(tmp_path / "env-store")
    monkeypatch.delenv("REPROLAM_STORE")
    assert compat.ExecutionTrace().store.location == "memory:"
    assert repr(compat.ExecutionTrace()) == "ExecutionTrace(run=None, store=memory:, 0 actions)"


def test_a_reprolam_action_given_as_a_tool_is_called_the_rlam_way() -> None:
    @reprolam.action(outputs=["total"])
    def total(samples: list[float], *, scale: float = 1.0) -> float:
        """Sum the samples."""
        return sum(samples) * scale

    act = action(compat, "A1", samples=[1.0, 2.0], params={"scale": 3})
    assert compat.execute_action(act, total).output == 9.0
    wrong = action(compat, "A2", values=[1.0])
    failed = compat.execute_action(wrong, total)  # rlam never raises: the error is the result
    assert failed.status == "FAILED"
    assert "unexpected keyword argument 'values'" in (failed.error or "")


def test_a_client_records_the_trace_and_its_trust_opt_in_is_honoured(tmp_path: Path) -> None:
    with reprolam.open(tmp_path / "s", trusted=True) as rl:
        trace = compat.ExecutionTrace(store=rl)
        build(compat, trace, PLAN[:2])
        assert trace.store is rl.store
        assert trace.run.serializer.trusted
        assert rl.audit(trace.run_id or "").clean
        assert rl.show(trace.run_id or "").steps[1].proposal["label"] == "A2"
        reopened = compat.ExecutionTrace.open(trace.run_id or "", store=rl)
        assert compat.replay_action(reopened, "A2") == 20


@pytest.mark.slow  # a PostgreSQL server
def test_a_trace_recorded_in_postgresql_audits_clean(pg_dsn: str, tmp_path: Path) -> None:
    from reprolam.trace.postgres import PostgresStore

    with PostgresStore(pg_dsn, artifacts_dir=tmp_path / "artifacts") as store:
        trace = compat.ExecutionTrace(store=store)
        build(compat, trace, PLAN)
        forked = compat.fork_trace(trace, "A2")
        grown = compat.execute_action(action(compat, "A3b", x=1), lambda x: x)
        forked.add_result(grown, parents=["A2"])
        for run_id in (trace.run_id, forked.run_id):
            report = audit(store, run_id or "")
            assert report.clean, report.problems
        reopened = compat.ExecutionTrace.open(forked.run_id or "", store=store)
        assert snapshot(reopened)["edges"] == snapshot(forked)["edges"]


def test_opening_a_run_in_a_store_that_is_not_there_creates_no_store(tmp_path: Path) -> None:
    """`ExecutionTrace.open(run, store=typo)` made an empty store at the typo, then said
    there was no such run."""
    missing = tmp_path / "no-such-store"
    with pytest.raises(reprolam.NotFoundError, match="there is no trace store in"):
        compat.ExecutionTrace.open("01a2", store=str(missing))
    assert not missing.exists()
