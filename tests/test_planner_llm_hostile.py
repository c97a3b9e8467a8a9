"""A hostile server never kills a run that a retry or a corrected reply can save.

Malformed JSON, truncated replies, a megabyte of text, JSON nested a hundred thousand levels
deep, 429 with ``Retry-After``, a hang, a body that is not JSON, a connection cut half-way:
each is a recorded rejection or failed planner call with its reason, and the run (on top of
vLLM's strict history checks) succeeds.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from fake_llm import FakeLLM, Received, Reply, call, completion
from llm_standins import Driver, vllm
from reprolam import LLMPlanner
from reprolam.engine.engine import Engine
from reprolam.trace import MemoryStore
from reprolam.trace.records import RunStatus, StepKind, StepRecord, StepStatus
from reprolam.workflows.breast_cancer import workflow as BREAST_CANCER

MEGABYTE = 1_000_000
DEEP = 100_000


@pytest.fixture
def store() -> Iterator[MemoryStore]:
    trace = MemoryStore()
    yield trace
    trace.close()


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    found: list[float] = []
    monkeypatch.setattr("reprolam.planning.llm.wait", found.append)
    return found


def decision(step: StepRecord) -> dict[str, Any]:
    found: dict[str, Any] = step.proposal["decision"]
    return found


def truncated() -> Reply:
    body = completion(
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "x",
                    "type": "function",
                    "function": {"name": "load_dataset", "arguments": '{"inputs": {"'},
                }
            ],
        },
        finish_reason="length",
    )
    return Reply(body=body)


def huge_text() -> Reply:
    content = "Let me think. " + "blah " * (MEGABYTE // 5)
    return Reply(body=completion({"role": "assistant", "content": content}, finish_reason="stop"))


# (bad reply, what the trace must say about it)
BAD: list[tuple[Reply, StepKind, str]] = [
    (call("load_dataset", "{bad json"), StepKind.REJECTION, "arguments are not valid JSON"),
    (truncated(), StepKind.REJECTION, "cut off at the max tokens limit"),
    (huge_text(), StepKind.REJECTION, "replied with text instead of calling a tool"),
    (call("load_dataset", "[" * DEEP + "]" * DEEP), StepKind.REJECTION, "nested deeper than 32"),
    (
        Reply(raw=b'{"choices": ' + b"[" * DEEP + b"]" * DEEP + b"}"),
        StepKind.DECISION,
        "not valid JSON (JSON nested deeper than 64 levels)",
    ),
    (
        Reply(429, {"error": {"message": "rate limited"}}, headers={"Retry-After": "2"}),
        StepKind.DECISION,
        "rate limited",
    ),
    (Reply(body={"ok": True}, delay=3.0), StepKind.DECISION, "timed out"),
    (Reply(raw=b"<html>502 Bad Gateway</html>"), StepKind.DECISION, "not valid JSON"),
    (Reply(body={"x": "y" * 1000}, trickle=0.1), StepKind.DECISION, "no complete reply within 1 s"),
    (
        Reply(body=completion({"role": "assistant", "content": "x" * 5000}), cut=True),
        StepKind.DECISION,
        "Connection",
    ),
    (Reply(body={"choices": []}), StepKind.DECISION, "no choices[0].message"),
]


class Hostile:
    """Three requests in four get the next bad reply, the fourth a correct call."""

    def __init__(self, bad: list[Reply]) -> None:
        self.bad = list(bad)
        self.driver = Driver()
        self.turn = 0

    def __call__(self, request: Received) -> Reply:
        self.turn += 1
        if self.turn % 4 != 0 and self.bad:
            return self.bad.pop(0)
        return self.driver(request)


@pytest.mark.slow
def test_no_bad_reply_kills_a_run_that_can_be_saved(store: MemoryStore, waits: list[float]) -> None:
    hostile = Hostile([reply for reply, _, _ in BAD])
    server = FakeLLM(
        responder=hostile, validator=vllm(["--enable-auto-tool-choice", "--tool-call-parser"])
    )
    with server:
        planner = LLMPlanner(
            base_url=server.base_url, model="m", timeout=1.0, retry_backoff=0.0, max_retries=3
        )
        result = Engine(store).run(BREAST_CANCER, planner=planner)
    steps = store.steps(result.id)
    assert result.succeeded, result.run.error
    assert [s.action for s in steps if s.kind is StepKind.ACTION] == [
        "load_dataset",
        "analyze_data",
        "preprocess_data",
        "train_model",
        "evaluate_model",
    ]
    bad_steps = [s for s in steps if s.kind is not StepKind.ACTION]
    assert len(bad_steps) == len(BAD)
    for step, (_, kind, reason) in zip(bad_steps, BAD, strict=True):
        assert step.kind is kind, (step.kind, reason)
        assert step.status in (StepStatus.REJECTED, StepStatus.FAILED)
        assert step.error is not None
        assert reason in step.error.message, (reason, step.error.message[:300])
    # the server asked for 2 s: the wait honoured it (the backoff alone would be 0)
    assert 2.0 in waits
    # the megabyte reply is in the trace once; fed back, it is cut with a marker
    huge = next(s for s in bad_steps if "replied with text" in (s.error.message if s.error else ""))
    assert len(decision(huge)["response"]["choices"][0]["message"]["content"]) > MEGABYTE
    assert len(decision(huge)["text"]) < 25_000
    after = server.received[-1]
    assert len(after.raw) < 60_000
    assert "more characters elided" in json.dumps(after.messages)
    # ... and no later step records it again: every later request stays small
    later = [
        decision(s)["request"] for s in steps[steps.index(huge) + 1 :] if "request" in decision(s)
    ]
    assert later
    assert all(len(json.dumps(request)) < 60_000 for request in later)


def test_retry_after_longer_than_the_policy_allows_ends_the_run_saying_so(
    store: MemoryStore, waits: list[float]
) -> None:
    slow_down = Reply(429, {"error": {"message": "quota"}}, headers={"Retry-After": "3600"})
    with FakeLLM([slow_down]) as server:
        planner = LLMPlanner(base_url=server.base_url, model="m", max_retry_wait=60)
        result = Engine(store).run(BREAST_CANCER, planner=planner)
    assert result.run.status is RunStatus.FAILED
    assert "retry after 3600 s, longer than max_retry_wait=60" in (result.run.error or "")
    assert waits == []
    (step,) = store.steps(result.id)
    assert decision(step)["error"]["retry_after"] == 3600.0


def test_retry_after_as_an_http_date_is_honoured(store: MemoryStore, waits: list[float]) -> None:
    import time
    from email.utils import formatdate

    when = formatdate(time.time() + 30, usegmt=True)
    slow_down = Reply(503, {"error": {"message": "busy"}}, headers={"Retry-After": when})
    with FakeLLM([slow_down], responder=Driver()) as server:
        planner = LLMPlanner(base_url=server.base_url, model="m", retry_backoff=0.0)
        result = Engine(store).run(BREAST_CANCER, planner=planner)
    assert result.succeeded, result.run.error
    assert len(waits) == 1
    assert 25 <= waits[0] <= 31


def test_retry_after_in_milliseconds_is_honoured(store: MemoryStore, waits: list[float]) -> None:
    # Azure OpenAI sends retry-after-ms (alone, at times): it was ignored, and the retry came
    # after the 1 s backoff, long before the server would take it
    headers = {"retry-after-ms": "12500"}
    slow_down = Reply(429, {"error": {"message": "rate limited"}}, headers=headers)
    with FakeLLM([slow_down], responder=Driver()) as server:
        planner = LLMPlanner(base_url=server.base_url, model="m", retry_backoff=1.0)
        result = Engine(store).run(BREAST_CANCER, planner=planner)
    assert result.succeeded, result.run.error
    assert waits == [12.5]
    assert decision(store.steps(result.id)[0])["error"]["retry_after"] == 12.5


def test_an_error_in_a_200_body_is_a_failed_call_naming_the_servers_words(
    store: MemoryStore, waits: list[float]
) -> None:
    # OpenRouter: once the model has started, an upstream failure comes back as status 200
    # with {"error": {"code", "message"}} in the body, or in choices[0] with finish_reason error
    upstream = Reply(body={"error": {"code": 502, "message": "Provider returned error"}})
    in_choice = completion({"role": "assistant", "content": ""}, finish_reason="error")
    in_choice["choices"][0]["error"] = {"code": 429, "message": "Upstream rate limited"}
    with FakeLLM([upstream, Reply(body=in_choice)], responder=Driver()) as server:
        planner = LLMPlanner(base_url=server.base_url, model="m", retry_backoff=0.0)
        result = Engine(store).run(BREAST_CANCER, planner=planner)
    assert result.succeeded, result.run.error
    first, second = store.steps(result.id)[:2]
    for step, words in ((first, "(code 502): Provider returned error"), (second, "(code 429)")):
        assert step.kind is StepKind.DECISION
        assert step.status is StepStatus.FAILED
        assert step.error is not None
        assert words in step.error.message
        assert decision(step)["error"]["retryable"] is True


def test_a_refusal_in_a_200_body_is_not_retried_and_ends_the_run_saying_why(
    store: MemoryStore, waits: list[float]
) -> None:
    broke = Reply(body={"error": {"code": 402, "message": "Insufficient credits"}})
    with FakeLLM([broke], responder=Driver()) as server:
        planner = LLMPlanner(base_url=server.base_url, model="m")
        result = Engine(store).run(BREAST_CANCER, planner=planner)
    assert result.run.status is RunStatus.FAILED
    assert "Insufficient credits; not retryable" in (result.run.error or "")
    assert len(server.received) == 1
    assert waits == []
