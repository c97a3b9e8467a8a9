"""The simulated planner: a seeded, offline stand-in for a sampling LLM."""

from __future__ import annotations

from typing import Annotated, Any

import pytest
from pydantic import Field

from reprolam import Planner, RulesPlanner, SimulatedPlanner, action, choose_planner, workflow
from reprolam.engine.engine import Engine, RunResult
from reprolam.engine.policy import Policy
from reprolam.errors import ConfigError
from reprolam.trace import MemoryStore
from reprolam.trace.records import StepKind, StepRecord, StepStatus
from reprolam.workflows.breast_cancer import workflow as BREAST_CANCER

ACTIONS = ["load_dataset", "analyze_data", "preprocess_data", "train_model", "evaluate_model"]


def run(planner: Planner, seed: int = 0, flow: Any = BREAST_CANCER) -> RunResult:
    store = MemoryStore()
    try:
        return Engine(store).run(flow, planner=planner, seed=seed)
    finally:
        store.close()


def plan(result: RunResult) -> list[tuple[str, str, dict[str, Any]]]:
    return [(s.kind.value, s.action, s.params) for s in result.steps]


def executed(steps: list[StepRecord]) -> list[str]:
    return [s.action for s in steps if s.kind is StepKind.ACTION]


def test_same_seed_same_plan_and_same_outputs() -> None:
    a, b = run(SimulatedPlanner(), seed=4), run(SimulatedPlanner(), seed=4)
    assert plan(a) == plan(b)
    assert [s.outputs for s in a.steps] == [s.outputs for s in b.steps]
    assert [s.proposal for s in a.steps] == [s.proposal for s in b.steps]
    # the planner's own seed, when given, wins over the run seed
    c, d = run(SimulatedPlanner(seed=11), seed=1), run(SimulatedPlanner(seed=11), seed=2)
    assert [(s.kind, s.action, s.proposal) for s in c.steps] == [
        (s.kind, s.action, s.proposal) for s in d.steps
    ]


def test_different_seeds_vary_order_hyperparameters_and_optional_steps() -> None:
    results = [run(SimulatedPlanner(), seed=seed) for seed in range(20)]
    assert all(r.succeeded for r in results), [r.run.error for r in results]
    plans = [executed(r.steps) for r in results]
    assert len({tuple(p) for p in plans}) >= 3
    reordered = [p for p in plans if "analyze_data" in p and p.index("analyze_data") > 2]
    skipped = [p for p in plans if "analyze_data" not in p]
    assert reordered, "no seed reordered analyze_data after preprocess_data"
    assert skipped, "no seed skipped the optional analyze_data"
    grid_values = {
        s.params["C"]
        for r in results
        for s in r.steps
        if s.action == "train_model" and s.kind is StepKind.ACTION
    }
    assert len(grid_values) >= 3
    assert grid_values <= {0.01, 0.1, 1.0, 10.0, 100.0}
    # the required actions always run, in dependency order
    for p in plans:
        required = [a for a in p if a != "analyze_data"]
        assert required == ["load_dataset", "preprocess_data", "train_model", "evaluate_model"]


def test_rates_of_zero_give_the_rules_plan() -> None:
    quiet = SimulatedPlanner(reorder_rate=0, param_rate=0, skip_rate=0, invalid_rate=0)
    for seed in (0, 1, 2):
        simulated, rules = run(quiet, seed=seed), run(RulesPlanner(), seed=seed)
        assert executed(simulated.steps) == ACTIONS
        assert [(s.action, s.params, s.outputs) for s in simulated.steps] == [
            (s.action, s.params, s.outputs) for s in rules.steps
        ]


def test_invalid_proposals_are_policy_rejections_with_reasons() -> None:
    reasons: dict[str, str] = {}
    for seed in range(8):
        result = run(SimulatedPlanner(invalid_rate=1.0), seed=seed)
        assert result.succeeded, result.run.error
        steps = result.steps
        rejections = [s for s in steps if s.kind is StepKind.REJECTION]
        assert rejections
        for step in rejections:
            assert step.status is StepStatus.REJECTED
            assert step.error is not None
            assert step.error.type == "PolicyViolation"
            kind = step.proposal["decision"]["varied"][0]
            reasons[kind] = step.error.message
            following = steps[step.index + 1]
            assert following.kind is StepKind.ACTION  # corrected after the feedback
    assert "unknown action" in reasons["invalid: unknown action"]
    assert "greater than" in reasons["invalid: param out of bounds"]
    assert "does not exist in this run" in reasons["invalid: missing input"]


def test_decision_records_have_the_llm_planner_shape() -> None:
    result = run(SimulatedPlanner(param_rate=1.0, invalid_rate=0), seed=3)
    train = next(s for s in result.steps if s.action == "train_model")
    assert train.kind is StepKind.ACTION
    record = train.proposal["decision"]
    assert record["kind"] == "simulated"
    (call,) = record["tool_calls"]
    assert call["name"] == "train_model"
    assert record["parsed"] == {
        "action": "train_model",
        "params": {"C": train.params["C"]},
        "inputs": {},
    }
    assert train.proposal["params"] == {"C": train.params["C"]}
    assert record["varied"] == [f"param: train_model.C={train.params['C']!r}"]
    assert record["text"] == train.proposal["rationale"]


@action(outputs=["data"])
def make_data() -> list[float]:
    """Three numbers."""
    return [1.0, 2.0, 3.0]


@action(outputs=["fit"])
def fit(data: list[float], *, C: Annotated[float, Field(gt=0, le=100)] = 1.0) -> float:
    """Diverges for the default C, like an optimizer that needs more regularization."""
    if C == 1.0:
        raise ArithmeticError("diverged with C=1.0")
    return sum(data) * C


FLAKY = workflow("flaky", [make_data, fit], outputs=["fit"])


def test_after_a_failure_it_proposes_a_recovery_with_another_grid_value() -> None:
    quiet = SimulatedPlanner(reorder_rate=0, param_rate=0, skip_rate=0, invalid_rate=0)
    result = run(quiet, seed=0, flow=FLAKY)
    assert result.succeeded, result.run.error
    failed, recovery = result.steps[1], result.steps[2]
    assert (failed.action, failed.status, failed.params) == ("fit", StepStatus.FAILED, {"C": 1.0})
    assert recovery.action == "fit"
    assert recovery.status is StepStatus.SUCCEEDED
    assert recovery.recovers == 1
    assert recovery.params["C"] in {0.01, 0.1, 10.0, 100.0}
    assert recovery.proposal["decision"]["varied"][0] == "recover: retry step 1 (fit)"


def test_recovery_stays_within_the_failure_budget() -> None:
    always = SimulatedPlanner(grids={"fit.C": [1.0, 1.0]}, invalid_rate=0)
    store = MemoryStore()
    result = Engine(store).run(FLAKY, planner=always, policy=Policy(max_failures=2))
    assert not result.succeeded
    assert "failure budget exhausted" in (result.run.error or "")
    assert [s.recovers for s in result.steps] == [None, None, 1]


def test_bad_settings_are_config_errors() -> None:
    with pytest.raises(ConfigError, match=r"reorder_rate=1.5 is not in \[0, 1\]"):
        SimulatedPlanner(reorder_rate=1.5)
    with pytest.raises(ConfigError, match=r"'action\.param' mapped to at least two values"):
        SimulatedPlanner(grids={"C": [1.0]})


def test_planner_choice_and_config() -> None:
    choice = choose_planner("simulated")
    assert isinstance(choice.planner, SimulatedPlanner)
    assert "offline, seeded stand-in" in choice.reason
    config = SimulatedPlanner(seed=5, grids={"train_model.C": [0.1, 1.0]}).config()
    assert config == {
        "name": "simulated",
        "seed": 5,
        "reorder_rate": 0.3,
        "param_rate": 0.3,
        "skip_rate": 0.3,
        "invalid_rate": 0.1,
        "grids": {"train_model.C": [0.1, 1.0]},
    }
