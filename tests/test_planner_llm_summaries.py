"""Planner-facing summaries (``@action(summary=...)``) and the prompt's size budget."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from fake_llm import FakeLLM, Received, call
from reprolam import LLMPlanner, action, workflow
from reprolam.actions import SUMMARY_MAX_CHARS, spec_of
from reprolam.engine.engine import Engine
from reprolam.errors import ActionSpecError
from reprolam.planning.llm_history import ELIDED
from reprolam.planning.rules import RulesPlanner
from reprolam.trace import MemoryStore
from reprolam.trace.records import StepRecord


def top_correlations(outputs: Mapping[str, Any]) -> str:
    table: dict[str, float] = outputs["correlations"]
    ranked = sorted(table.items(), key=lambda kv: -abs(kv[1]))
    return "top |r|: " + ", ".join(f"{k}={v:+.2f}" for k, v in ranked[:12])


@action(outputs=["correlations"], summary=top_correlations)
def correlate() -> dict[str, float]:
    """Correlate 30 features with the target."""
    return {f"feature_{i:02d}": (i - 15) / 16 for i in range(30)}


def broken_summary(outputs: Mapping[str, Any]) -> str:
    raise KeyError("nope")


@action(outputs=["report"], summary=broken_summary)
def report(correlations: dict[str, float]) -> str:
    """Write a report."""
    return "x" * 10_000


@action(outputs=["padding"], summary=lambda outputs: "p" * 5000)
def pad(report: str, *, n: int = 1) -> str:
    """Pad (a long summary)."""
    return report[:n]


@action(outputs=["final"])
def finish(padding: str, *, n: int = 1) -> int:
    """Finish."""
    return len(padding) + n


FLOW = workflow("summaries", [correlate, report, pad, finish], outputs=["final"])
ORDER = ["correlate", "report", "pad", "finish"]
BUDGET = 2500  # characters: room for the newest result, not for all three


@pytest.fixture
def store() -> Iterator[MemoryStore]:
    trace = MemoryStore()
    yield trace
    trace.close()


def decision(step: StepRecord) -> dict[str, Any]:
    found: dict[str, Any] = step.proposal["decision"]
    return found


def results(request: Received) -> list[dict[str, Any]]:
    return [json.loads(m["content"]) for m in request.messages if m["role"] == "tool"]


def test_an_action_summary_reaches_the_model_and_is_recorded_with_the_decision(
    store: MemoryStore,
) -> None:
    with FakeLLM([call(name) for name in ORDER]) as llm:
        planner = LLMPlanner(base_url=llm.base_url, model="m")
        result = Engine(store).run(FLOW, planner=planner)
    assert result.succeeded, result.run.error
    steps = store.steps(result.id)
    correlated = results(llm.received[1])[0]
    # all twelve strongest features, where a one-line description stops after eight
    assert correlated["summary"].startswith("top |r|: feature_00=-0.94, feature_01=-0.88")
    assert correlated["summary"].count("=") == 12
    assert decision(steps[1])["prompt"]["summaries"] == {"step 0": correlated["summary"]}
    assert "summaries" not in decision(steps[0])["prompt"]  # the first call saw none
    # a failing summary is reported, never fatal; a long one is cut to the limit
    assert results(llm.received[2])[1]["summary"] == "(summary failed: KeyError: 'nope')"
    padded = results(llm.received[3])[2]["summary"]
    assert len(padded) == SUMMARY_MAX_CHARS
    assert padded.endswith(" ...")


def test_past_the_budget_the_oldest_results_are_elided_first(store: MemoryStore) -> None:
    with FakeLLM([call(name) for name in ORDER]) as llm:
        planner = LLMPlanner(base_url=llm.base_url, model="m", prompt_budget=BUDGET)
        result = Engine(store).run(FLOW, planner=planner)
    assert result.succeeded, result.run.error
    last = results(llm.received[3])
    assert [r.get("elided") for r in last] == [ELIDED, ELIDED, None]
    assert "summary" in last[2]
    record = decision(store.steps(result.id)[3])["prompt"]
    assert record["elided_results"] == [0, 1]
    assert list(record["summaries"]) == ["step 2"]  # recorded: what the model actually saw
    assert len(json.dumps(llm.received[3].messages)) < BUDGET + 500


def test_a_summary_must_be_a_function() -> None:
    with pytest.raises(ActionSpecError, match="summary must be a function of the outputs"):
        action(outputs=["x"], summary="top 5")  # type: ignore[arg-type]
    assert spec_of(finish).summary is None
    assert spec_of(correlate).fingerprint == spec_of(correlate).fingerprint


def test_summaries_are_computed_only_for_planners_that_read_them(store: MemoryStore) -> None:
    calls: list[int] = []

    def counted(outputs: Mapping[str, Any]) -> str:
        calls.append(1)
        return "seen"

    @action(outputs=["value"], summary=counted)
    def produce() -> int:
        return 1

    flow = workflow("counted", [produce], outputs=["value"])
    assert (
        Engine(store).run(flow, planner=RulesPlanner()).succeeded
    )  # the rules planner: instant, reads no summaries
    assert calls == []
    with FakeLLM([call("produce")]) as llm:
        Engine(store).run(flow, planner=LLMPlanner(base_url=llm.base_url, model="m"))
    assert calls == [1]
