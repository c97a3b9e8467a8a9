"""The process executor: timeouts count the action only, a dead worker is not a timeout."""

from __future__ import annotations

import sys
import time

import pytest

import trust_flow
from reprolam import Engine, Policy, RulesPlanner
from reprolam.codecs import default_serializer
from reprolam.engine.executors import LocalExecutor
from reprolam.engine.process import ProcessExecutor
from reprolam.history.audit import audit
from reprolam.trace import MemoryStore, RunStatus, StepStatus

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


def run(flow: object, monkeypatch: pytest.MonkeyPatch, mode: str, timeout: float | None) -> tuple:
    monkeypatch.setenv("TRUST_MODE", mode)
    store = MemoryStore()
    executor = ProcessExecutor()
    try:
        started = time.monotonic()
        result = Engine(store, executor=executor).run(
            flow,  # type: ignore[arg-type]
            planner=RulesPlanner(),
            policy=Policy(action_timeout=timeout, max_failures=1),
        )
        return store, result, time.monotonic() - started
    finally:
        executor.close()


def test_worker_start_up_does_not_count_against_the_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The first call spawns the worker and imports reprolam and the workflow (seconds on a
    # busy machine); the actions themselves take microseconds.
    store, result, _elapsed = run(trust_flow.quick, monkeypatch, "ok", timeout=0.5)
    assert result.run.status is RunStatus.SUCCEEDED, store.steps(result.id)
    assert audit(store, result.id).clean


def test_a_killed_worker_is_worker_died_not_a_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    store, result, elapsed = run(trust_flow.flow, monkeypatch, "kill", timeout=60.0)
    failed = store.steps(result.id)[-1]
    assert failed.status is StepStatus.FAILED
    assert failed.error is not None
    assert failed.error.type == "WorkerDied"
    assert "SIGKILL" in failed.error.message
    assert elapsed < 50  # noticed at once, not after the timeout
    report = audit(store, result.id)
    assert not [p for p in report.problems if p.kind == "error_record"]  # no traceback needed


def test_a_slow_action_is_an_action_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRUST_SLEEP", "30")
    store, result, elapsed = run(trust_flow.flow, monkeypatch, "sleep", timeout=1.0)
    failed = store.steps(result.id)[-1]
    assert failed.error is not None
    assert failed.error.type == "ActionTimeout"
    assert elapsed < 25
    report = audit(store, result.id)
    assert not [p for p in report.problems if p.kind == "error_record"]
    assert report.failures.ratio == 1.0


def test_system_exit_in_a_worker_is_a_failed_step_and_the_worker_survives(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store, result, _elapsed = run(trust_flow.flow, monkeypatch, "exit0", timeout=None)
    failed = store.steps(result.id)[-1]
    assert failed.error is not None
    assert failed.error.type == "SystemExit"
    assert "trust_flow.py" in failed.error.traceback


@pytest.mark.parametrize("trusted", [False, True])
def test_a_value_only_pickle_takes_is_stored_as_in_process_when_the_store_is_trusted(
    trusted: bool,
) -> None:
    # The worker encodes outputs as the run does: pickled when the store is trusted (it
    # refused them, telling the user to opt in to the trust they had given), else refused.
    outcomes = {}
    for executor in (LocalExecutor(), ProcessExecutor()):
        store = MemoryStore()
        try:
            result = Engine(
                store, executor=executor, serializer=default_serializer(trusted=trusted)
            ).run(trust_flow.opaque, planner=RulesPlanner())
        finally:
            executor.close()
        last = store.steps(result.id)[-1]
        outcomes[executor.name] = (result.run.status, last.status, last.outputs)
    assert outcomes["process"] == outcomes["local"]
    assert (outcomes["local"][0] is RunStatus.SUCCEEDED) is trusted
