"""Every exit path of an action is a recorded failed step with its real cause (issue 13)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import pytest
from click.testing import CliRunner
from pydantic import Field

import trust_flow
from reprolam import ActionSpecError, ConfigError, Engine, Policy, RulesPlanner, action
from reprolam.cli.main import cli
from reprolam.engine.executors import MESSAGE_MAX, TRACEBACK_MAX
from reprolam.engine.policy import validate_overrides
from reprolam.engine.process import ProcessExecutor
from reprolam.history.audit import audit
from reprolam.history.reproduce import reproduce
from reprolam.history.resume import resume
from reprolam.trace import MemoryStore, RunStatus, SQLiteStore, StepStatus
from reprolam.workflows.breast_cancer import workflow as breast_cancer

FLOW_REF = f"{Path(trust_flow.__file__)}:flow"


def run_mode(monkeypatch: pytest.MonkeyPatch, mode: str) -> tuple[MemoryStore, str]:
    monkeypatch.setenv("TRUST_MODE", mode)
    store = MemoryStore()
    result = Engine(store).run(trust_flow.flow, planner=RulesPlanner(), policy=Policy())
    return store, result.id


@pytest.mark.parametrize(
    ("mode", "error_type"),
    [("exit0", "SystemExit"), ("exit3", "SystemExit"), ("base", "Custom")],
)
def test_a_base_exception_from_an_action_is_a_failed_step(
    monkeypatch: pytest.MonkeyPatch, mode: str, error_type: str
) -> None:
    store, run_id = run_mode(monkeypatch, mode)
    run = store.get_run(run_id)
    assert run.status is RunStatus.FAILED  # not left interrupted, not succeeded
    failed = [s for s in store.steps(run_id) if s.status is StepStatus.FAILED]
    assert failed
    assert failed[0].action == "finish"
    assert failed[0].error is not None
    assert failed[0].error.type == error_type
    assert "trust_flow.py" in failed[0].error.traceback
    assert audit(store, run_id).failures.ratio == 1.0


def test_an_exception_whose_str_raises_is_recorded_not_a_crash(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store, run_id = run_mode(monkeypatch, "broken_str")
    assert store.get_run(run_id).status is RunStatus.FAILED
    error = store.steps(run_id)[1].error
    assert error is not None
    assert error.type == "BrokenStr"
    assert "__str__ raised RuntimeError" in error.message
    assert "BrokenStr" in error.traceback


def test_a_huge_exception_message_is_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    store, run_id = run_mode(monkeypatch, "huge")
    error = store.steps(run_id)[1].error
    assert error is not None
    assert len(error.message) <= MESSAGE_MAX + 100
    assert "characters cut" in error.message
    assert len(error.traceback) <= TRACEBACK_MAX + 100
    assert len(store.get_run(run_id).error or "") < MESSAGE_MAX + 1000


@pytest.mark.parametrize("mode", ["exit0", "base", "broken_str"])
def test_cli_run_exits_non_zero_when_an_action_exits(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, mode: str
) -> None:
    monkeypatch.setenv("TRUST_MODE", mode)
    result = CliRunner().invoke(cli, ["--store", str(tmp_path), "run", FLOW_REF])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    with SQLiteStore(tmp_path) as store:
        (run,) = store.list_runs()
        assert run.status is RunStatus.FAILED


def test_keyboard_interrupt_interrupts_and_a_resume_that_dies_too_leaves_it_interrupted(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TRUST_MODE", "interrupt")
    with SQLiteStore(tmp_path) as store:
        with pytest.raises(KeyboardInterrupt):
            Engine(store).run(trust_flow.flow, planner=RulesPlanner())
        (run,) = store.list_runs()
        assert run.status is RunStatus.INTERRUPTED
        assert store.steps(run.id)[-1].status is StepStatus.STARTED
        # The resume re-runs the interrupted step first; it dies the same way.
        with pytest.raises(KeyboardInterrupt):
            resume(store, run.id, workflow=trust_flow.flow)
        assert store.get_run(run.id).status is RunStatus.INTERRUPTED  # was: running forever
        monkeypatch.setenv("TRUST_MODE", "ok")
        done = resume(store, run.id, workflow=trust_flow.flow)
        assert done.run.status is RunStatus.SUCCEEDED
        assert audit(store, run.id).clean


def test_resume_whose_rerun_raises_a_base_exception_records_a_failure(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TRUST_MODE", "interrupt")
    with SQLiteStore(tmp_path) as store:
        with pytest.raises(KeyboardInterrupt):
            Engine(store).run(trust_flow.flow, planner=RulesPlanner())
        (run,) = store.list_runs()
        monkeypatch.setenv("TRUST_MODE", "exit0")
        resumed = resume(store, run.id, workflow=trust_flow.flow)
        assert resumed.run.status is RunStatus.FAILED
        rerun = store.steps(run.id)[1]
        assert rerun.status is StepStatus.FAILED
        assert rerun.error is not None
        assert rerun.error.type == "SystemExit"


# -- declarations and values from outside ---------------------------------------------------


def test_a_default_that_violates_its_bound_is_refused_at_decoration() -> None:
    with pytest.raises(ActionSpecError, match=r"default of param 'n' \(1\).*greater than"):

        @action(outputs=["x"])
        def bad(*, n: Annotated[int, Field(ge=10)] = 1) -> int:
            return n

    with pytest.raises(ActionSpecError, match="default of param 'name'"):

        @action(outputs=["x"])
        def typed(*, name: str = 3) -> str:  # type: ignore[assignment]
            return name


def test_a_reserved_param_name_is_refused_with_the_fix() -> None:
    with pytest.raises(ActionSpecError, match=r"'inputs' is a reserved name.*rename it"):

        @action(outputs=["x"])
        def shadowing(*, inputs: int = 1) -> int:
            return inputs


def test_an_override_is_not_coerced_into_another_type() -> None:
    space = breast_cancer.actions
    with pytest.raises(ConfigError, match=r"train_model\.C=True"):
        validate_overrides(space, {"train_model": {"C": True}})
    with pytest.raises(ConfigError, match=r"train_model\.C='0\.1'"):
        validate_overrides(space, {"train_model": {"C": "0.1"}})
    assert validate_overrides(space, {"train_model": {"C": 1}}) == {"train_model": {"C": 1}}


def test_cli_set_true_for_a_float_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["--store", str(tmp_path), "run", "--set", "train_model.C=true"]
    )
    assert result.exit_code == 2
    assert "C=True" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("bad", [math.nan, math.inf, -1.0, 0.0])
def test_a_timeout_that_is_not_a_finite_positive_number_is_refused(bad: float) -> None:
    with pytest.raises(ConfigError, match="timeout"):
        Engine(MemoryStore(), executor=ProcessExecutor()).run(
            trust_flow.flow, planner=RulesPlanner(), policy=Policy(action_timeout=bad)
        )


@pytest.mark.parametrize("text", ["nan", "inf"])
def test_cli_timeout_nan_and_inf_are_one_line_errors(tmp_path: Path, text: str) -> None:
    result = CliRunner().invoke(
        cli,
        ["--store", str(tmp_path), "run", FLOW_REF, "--executor", "process", "--timeout", text],
    )
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert "timeout" in result.output


@pytest.mark.parametrize("bad", [math.nan, math.inf, -1e-9])
def test_reproduce_refuses_a_tolerance_that_is_not_finite(bad: float) -> None:
    store = MemoryStore()
    run = Engine(store).run(trust_flow.quick, planner=RulesPlanner())
    with pytest.raises(ConfigError, match="tolerance"):
        reproduce(store, run.id, rtol=bad, workflow=trust_flow.quick)
    assert store.list_runs(verifies=run.id) == []  # refused before anything was executed


def test_cli_reproduce_rtol_nan_is_refused(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path) as store:
        run = Engine(store).run(trust_flow.quick, planner=RulesPlanner())
    result = CliRunner().invoke(
        cli, ["--store", str(tmp_path), "reproduce", run.id, "--rtol", "nan"]
    )
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
