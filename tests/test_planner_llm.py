"""The llm planner against a scripted OpenAI-compatible server on 127.0.0.1 (tests/fake_llm.py).

Each test asserts both sides: what the server received (tools, messages, sampling params,
headers) and what the trace holds (``store.steps(run_id)``).
"""

from __future__ import annotations

import json
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from fake_llm import (
    BREAST_CANCER_SCRIPT,
    FakeLLM,
    Received,
    Reply,
    breast_cancer_replies,
    call,
    calls,
    completion,
    error,
    slow,
    text,
)
from reprolam import LLMPlanner, Proposal, RunState, choose_planner
from reprolam.cli.main import cli
from reprolam.engine.engine import Engine, RunResult
from reprolam.engine.policy import Policy
from reprolam.errors import ConfigError
from reprolam.planning.base import Decision, Done
from reprolam.planning.llm_history import call_id
from reprolam.trace import MemoryStore, SQLiteStore
from reprolam.trace.records import RunStatus, StepKind, StepRecord, StepStatus
from reprolam.workflows.breast_cancer import workflow as BREAST_CANCER

ACTIONS = [name for name, _ in BREAST_CANCER_SCRIPT]
LLM_VARS = (
    "REPROLAM_LLM_BASE_URL",
    "REPROLAM_LLM_MODEL",
    "OPENROUTER_API_KEY",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "REPROLAM_STORE",
)


@pytest.fixture(autouse=True)
def no_llm_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests see only the LLM settings they set themselves."""
    for name in LLM_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def store() -> Iterator[MemoryStore]:
    trace = MemoryStore()
    yield trace
    trace.close()


def planner(llm: FakeLLM, **options: Any) -> LLMPlanner:
    options.setdefault("retry_backoff", 0.0)
    return LLMPlanner(base_url=llm.base_url, model="fake-model", **options)


def run_with(store: Any, llm: FakeLLM, **options: Any) -> tuple[RunResult, list[StepRecord]]:
    result = Engine(store).run(BREAST_CANCER, planner=planner(llm, **options))
    return result, store.steps(result.id)


def decision(step: StepRecord) -> dict[str, Any]:
    found: dict[str, Any] = step.proposal["decision"]
    return found


def tool_answers(request: Received) -> dict[str, dict[str, Any]]:
    """tool_call_id -> the JSON result the planner answered that call with."""
    return {
        m["tool_call_id"]: json.loads(m["content"]) for m in request.messages if m["role"] == "tool"
    }


def flat(output: str) -> str:
    """CLI output with rich's line wrapping undone."""
    return " ".join(output.split())


def kinds(steps: list[StepRecord]) -> list[tuple[str, str]]:
    return [(s.kind.value, s.action) for s in steps]


# -- a normal run -----------------------------------------------------------------------------


def test_a_normal_run_completes_and_every_call_is_a_recorded_decision(store: MemoryStore) -> None:
    with FakeLLM(breast_cancer_replies()) as llm:
        result, steps = run_with(store, llm)
    assert result.succeeded, result.run.error
    assert [s.action for s in steps] == ACTIONS
    # the run ends when its outputs exist: no sixth call just to hear "done"
    assert len(llm.received) == 5
    # default sampling: temperature 0, the run's seed; unset params (top_p) are not sent
    body = llm.received[0].body
    assert (body["temperature"], body["seed"], body["max_tokens"]) == (0.0, 0, 1024)
    assert "top_p" not in body
    for step, request, (_, args) in zip(steps, llm.received, BREAST_CANCER_SCRIPT, strict=True):
        record = decision(step)
        assert record["kind"] == "llm_call"
        assert record["request"]["host"] == f"127.0.0.1:{llm.port}"
        assert "base_url" not in record["request"]
        # the recorded request is exactly what the server received
        assert record["request"]["messages"] == request.messages
        assert record["request"]["tools"] == request.body["tools"]
        assert record["response"]["choices"][0]["message"]["tool_calls"][0]["function"] == {
            "name": step.action,
            "arguments": json.dumps(args),
        }
        assert record["parsed"] == {"action": step.action, "params": args, "inputs": {}}
        assert record["usage"]["total_tokens"] > 0
        assert record["latency"] > 0
        assert "error" not in record
        assert step.proposal["rationale"] == f"next: {step.action}"
    assert steps[3].params == {"C": 0.5, "max_iter": 1000}
    assert steps[3].proposal["params"] == {"C": 0.5}  # as the model gave them
    config = result.run.planner
    assert config["name"] == "llm"
    assert config["model"] == "fake-model"
    assert config["host"] == f"127.0.0.1:{llm.port}"
    assert config["api_key_from"] == "none"


def test_the_server_gets_the_action_space_as_tools_with_bounds_and_the_sampling_params(
    store: MemoryStore,
) -> None:
    with FakeLLM(breast_cancer_replies()) as llm:
        run_with(store, llm, temperature=0.7, top_p=0.9, seed=42, max_tokens=256)
    first = llm.received[0]
    assert first.headers["content-type"] == "application/json"
    assert first.body["model"] == "fake-model"
    assert first.tool_names == [*ACTIONS, "done"]
    tools = {t["function"]["name"]: t["function"] for t in first.body["tools"]}
    c = tools["train_model"]["parameters"]["properties"]["C"]
    assert (c["exclusiveMinimum"], c["maximum"], c["default"]) == (0, 10000.0, 1.0)
    assert set(tools["train_model"]["parameters"]["properties"]["inputs"]["properties"]) == {
        "X_processed",
        "y",
        "split",
    }
    assert tools["done"]["parameters"]["required"] == ["reason"]
    for request in llm.received:
        sampling = {k: request.body.get(k) for k in ("temperature", "top_p", "seed", "max_tokens")}
        assert sampling == {"temperature": 0.7, "top_p": 0.9, "seed": 42, "max_tokens": 256}
        assert "stream" not in request.body or request.body["stream"] is False


def test_the_model_sees_goal_history_artifact_summaries_and_outputs(store: MemoryStore) -> None:
    with FakeLLM(breast_cancer_replies()) as llm:
        run_with(store, llm)
    first, last = llm.received[0], llm.received[-1]
    assert first.messages[0]["role"] == "system"
    assert "Breast Cancer Wisconsin" in first.messages[1]["content"]
    assert "model, metrics" in first.messages[1]["content"]
    assert "none yet" in first.messages[-1]["content"]
    # every earlier call is an assistant tool call answered by a tool message
    assistant = [m for m in last.messages if m["role"] == "assistant"]
    assert [m["tool_calls"][0]["function"]["name"] for m in assistant] == ACTIONS[:4]
    answers = tool_answers(last)
    assert [a["status"] for a in answers.values()] == ["succeeded"] * 4
    trained = answers[assistant[3]["tool_calls"][0]["id"]]
    assert trained["params"] == {"C": 0.5, "max_iter": 1000}
    assert "LogisticRegression(C=0.5" in trained["outputs"]["model"]
    prompt = last.messages[-1]["content"]
    assert "- X: frame," in prompt
    assert "DataFrame 569x30" in prompt
    assert "Required outputs still missing: metrics." in prompt


# -- rejections and feedback ------------------------------------------------------------------


def test_unknown_tool_bad_json_and_out_of_bounds_param_are_rejections_fed_back(
    store: MemoryStore,
) -> None:
    script = [
        call("train_modle", {}),
        call("load_dataset"),
        call("analyze_data", '{"verbose": tru'),
        call("analyze_data"),
        call("preprocess_data"),
        call("train_model", {"C": -1}),
        call("train_model", {"C": 0.5}),
        call("evaluate_model"),
    ]
    with FakeLLM(script) as llm:
        result, steps = run_with(store, llm)
    assert result.succeeded, result.run.error
    assert kinds(steps) == [
        ("rejection", "train_modle"),
        ("action", "load_dataset"),
        ("rejection", "analyze_data"),
        ("action", "analyze_data"),
        ("action", "preprocess_data"),
        ("rejection", "train_model"),
        ("action", "train_model"),
        ("action", "evaluate_model"),
    ]
    expected = {
        0: ("known_action", "unknown action 'train_modle'"),
        2: ("well_formed", "arguments are not valid JSON"),
        5: ("params", "train_model.C=-1: Input should be greater than 0"),
    }
    for index, (check, reason) in expected.items():
        step = steps[index]
        assert step.status is StepStatus.REJECTED
        assert step.error is not None
        assert reason in step.error.message
        assert step.proposal["check"] == check
        # the call that was rejected is recorded as the model made it
        raw_call = decision(step)["tool_calls"][0]
        assert raw_call["name"] == step.action
        assert (
            raw_call["arguments"]
            == script[index].body["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]
        )
        # the next request answers that call with the reason, and says it again as feedback
        following = llm.received[index + 1]
        # under the history's own id for that step (9 alphanumeric characters, for Mistral)
        assert reason in tool_answers(following)[call_id(index)]["reason"]
        assert "Feedback on the last turn: proposal" in following.messages[-1]["content"]
        assert reason in following.messages[-1]["content"]
    assert steps[5].params == {"C": -1}
    assert decision(steps[2])["invalid"].startswith("tool call 'analyze_data' is malformed")


def test_a_text_reply_is_a_rejection_and_the_model_is_told(store: MemoryStore) -> None:
    with FakeLLM([text("Let me think about the data first."), *breast_cancer_replies()]) as llm:
        result, steps = run_with(store, llm)
    assert result.succeeded
    first = steps[0]
    assert (first.kind, first.action, first.status) == (StepKind.REJECTION, "", StepStatus.REJECTED)
    assert first.error is not None
    assert "text instead of calling a tool" in first.error.message
    assert first.proposal["check"] == "well_formed"
    assert decision(first)["text"] == "Let me think about the data first."
    assert decision(first)["tool_calls"] == []
    following = llm.received[1].messages
    assert following[2] == {"role": "assistant", "content": "Let me think about the data first."}
    assert following[3]["role"] == "user"
    assert "text instead of calling a tool" in following[3]["content"]


def test_a_refusal_is_a_rejection_saying_so_and_the_model_reads_its_words(
    store: MemoryStore,
) -> None:
    # OpenAI puts a refusal in message.refusal with content null: the rejection said
    # "replied with text instead of calling a tool ('')" and the model was shown "(empty reply)"
    words = "I'm sorry, I can't help with that."
    refusal = Reply(
        body=completion(
            {"role": "assistant", "content": None, "refusal": words}, finish_reason="stop"
        )
    )
    with FakeLLM([refusal, *breast_cancer_replies()]) as llm:
        result, steps = run_with(store, llm)
    assert result.succeeded
    assert steps[0].error is not None
    assert "the model refused to call a tool" in steps[0].error.message
    assert words in steps[0].error.message
    assert llm.received[1].messages[2] == {"role": "assistant", "content": words}


def test_a_reply_withheld_by_a_content_filter_is_a_rejection_saying_so(
    store: MemoryStore,
) -> None:
    # finish_reason content_filter, content null: it said 'the model replied with text
    # instead of calling a tool ('')'
    withheld = Reply(
        body=completion({"role": "assistant", "content": None}, finish_reason="content_filter")
    )
    with FakeLLM([withheld, *breast_cancer_replies()]) as llm:
        result, steps = run_with(store, llm)
    assert result.succeeded
    assert steps[0].error is not None
    assert "the server's content filter withheld the reply" in steps[0].error.message


def test_only_the_first_of_several_tool_calls_runs_and_each_call_is_answered(
    store: MemoryStore,
) -> None:
    both = calls([("load_dataset", "{}"), ("analyze_data", "{}")])
    with FakeLLM([both, *breast_cancer_replies()[1:]]) as llm:
        result, steps = run_with(store, llm)
    assert result.succeeded
    assert [s.action for s in steps] == ACTIONS
    ids = [call_id(0, 0), call_id(0, 1)]
    answers = tool_answers(llm.received[1])
    assert answers[ids[0]]["status"] == "succeeded"
    assert answers[ids[1]]["status"] == "ignored"


# -- failed calls, retries and budgets --------------------------------------------------------


def test_a_500_and_a_timeout_are_failed_decisions_then_the_run_goes_on(store: MemoryStore) -> None:
    script = [error(500, "upstream exploded"), slow(3.0), *breast_cancer_replies()]
    with FakeLLM(script) as llm:
        result, steps = run_with(store, llm, timeout=0.5)
    assert result.succeeded, result.run.error
    assert kinds(steps)[:2] == [("decision", ""), ("decision", "")]
    assert [s.action for s in steps[2:]] == ACTIONS
    server_error, timeout = decision(steps[0])["error"], decision(steps[1])["error"]
    assert server_error["type"] == "InternalServerError"
    assert server_error["status"] == 500
    assert server_error["retryable"] is True
    assert server_error["body"]["message"] == "upstream exploded"
    assert (timeout["type"], timeout["retryable"]) == ("APITimeoutError", True)
    for step in steps[:2]:
        assert step.status is StepStatus.FAILED
        assert step.error is not None
        assert step.error.message.startswith("LLM call ")
        assert "request" in decision(step)
        assert "response" not in decision(step)
    assert steps[1].error is not None
    assert steps[1].error.type == "APITimeoutError"
    assert decision(steps[1])["latency"] >= 0.5
    # the model hears about the failed call in the next prompt
    assert "planner: LLM call 2" in llm.received[2].messages[-1]["content"]
    assert len(llm.received) == 7


@pytest.mark.parametrize(
    ("replies", "max_retries", "n_failed", "reason"),
    [
        ([error(503)] * 2, 1, 2, "gave up after 2 attempts (max_retries=1)"),
        ([error(429, "slow down")] * 1, 0, 1, "gave up after 1 attempts (max_retries=0)"),
        ([error(401, "bad key")], 5, 1, "not retryable: check the API key"),
        ([error(404, "no such model")], 5, 1, "not retryable: check the model name"),
        # OpenAI's used-up quota is a 429 that no wait helps: it was retried, then 'gave up
        # ... check that the server is up'
        (
            [error(429, "You exceeded your current quota, please check your plan")] * 3,
            2,
            1,
            "not retryable: the API key's account has no quota or credits left",
        ),
    ],
)
def test_failed_calls_retry_per_policy_then_end_the_run_with_the_reason(
    store: MemoryStore, replies: list[Any], max_retries: int, n_failed: int, reason: str
) -> None:
    with FakeLLM(list(replies)) as llm:
        result, steps = run_with(store, llm, max_retries=max_retries)
    assert result.run.status is RunStatus.FAILED
    assert reason in (result.run.error or "")
    assert len(steps) == len(llm.received) == n_failed
    assert all(s.kind is StepKind.DECISION and s.status is StepStatus.FAILED for s in steps)


def test_backoff_doubles_between_attempts(
    store: MemoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    waits: list[float] = []
    monkeypatch.setattr("reprolam.planning.llm.wait", waits.append)
    with FakeLLM([error(502)] * 3) as llm:
        result, _ = run_with(store, llm, max_retries=2, retry_backoff=0.25)
    assert waits == [0.25, 0.5]
    assert len(llm.received) == 3
    assert "gave up after 3 attempts" in (result.run.error or "")


def test_the_call_budget_ends_the_run(store: MemoryStore) -> None:
    with FakeLLM([call("train_modle")] * 3) as llm:
        result, steps = run_with(store, llm, max_calls=2)
    assert len(llm.received) == 2
    assert [s.kind for s in steps] == [StepKind.REJECTION] * 2
    assert result.run.status is RunStatus.FAILED
    assert result.run.error == "LLM call budget exhausted: 2 calls (max_calls=2)"


def test_the_policy_budget_of_consecutive_rejections_ends_the_run(store: MemoryStore) -> None:
    with FakeLLM([text("no")] * 10) as llm:
        result = Engine(store).run(
            BREAST_CANCER, planner=planner(llm), policy=Policy(max_consecutive_rejections=3)
        )
    assert len(llm.received) == 3
    assert result.run.status is RunStatus.FAILED
    assert "3 proposals rejected (or planner calls failed) in a row" in (result.run.error or "")
    assert "text instead of calling a tool" in (result.run.error or "")


def test_done_before_the_outputs_exist_is_recorded_and_ends_the_run(store: MemoryStore) -> None:
    with FakeLLM([call("done", {"reason": "the data cannot be loaded"})]) as llm:
        result, steps = run_with(store, llm)
    assert result.run.status is RunStatus.FAILED
    assert "the data cannot be loaded" in (result.run.error or "")
    assert len(steps) == len(llm.received) == 1
    assert steps[0].kind is StepKind.DECISION
    assert steps[0].error is not None
    assert steps[0].error.type == "PlannerGaveUp"
    assert decision(steps[0])["done"]["reason"] == result.run.error


# -- the trace holds what a reproduction needs ------------------------------------------------


class _Replayed:
    """Re-proposes the recorded action steps (what `reprolam reproduce` does with the trace)."""

    name = "replayed"
    instant = True

    def __init__(self, steps: list[StepRecord]) -> None:
        self.todo = [s for s in steps if s.kind is StepKind.ACTION]

    def propose(self, state: RunState) -> Decision:
        if not self.todo:
            return Done("recorded decisions replayed")
        step = self.todo.pop(0)
        rec = step.proposal
        return Proposal(step.action, params=rec.get("params", {}), inputs=rec.get("inputs", {}))

    def config(self) -> dict[str, Any]:
        return {"name": self.name}


def test_every_executed_step_records_the_exact_proposal_to_replay_it_without_the_llm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = [call("train_modle"), *breast_cancer_replies()]
    script[3] = call("preprocess_data", {"test_size": 0.3, "inputs": {"X": "X"}})
    trace = SQLiteStore(tmp_path / "store")
    with FakeLLM(script) as llm:
        original = Engine(trace).run(BREAST_CANCER, planner=planner(llm), seed=3)
    assert original.succeeded
    assert {r.body["seed"] for r in llm.received} == {3}  # the run's seed, by default
    steps = trace.steps(original.id)
    for step in steps:
        parsed = decision(step)["parsed"]
        assert parsed["action"] == step.action
        assert step.proposal.get("params", {}) == parsed["params"]
        assert step.proposal.get("inputs", {}) == parsed["inputs"]
    assert steps[3].proposal["inputs"] == {"X": "X"}

    def no_network(*args: object) -> None:
        raise AssertionError(f"network connection attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", no_network)  # and the server is gone
    again = Engine(trace).run(BREAST_CANCER, planner=_Replayed(steps), seed=3)
    assert again.succeeded
    replayed = trace.steps(again.id)
    executed = [s for s in steps if s.kind is StepKind.ACTION]
    assert [(s.action, s.params, s.outputs) for s in replayed] == [
        (s.action, s.params, s.outputs) for s in executed
    ]
    trace.close()


def test_reprolam_reproduce_replays_an_llm_run_offline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # rejections of every kind must replay as rejections, malformed arguments included
    script = [call("train_modle"), call("load_dataset", "{bad"), text("hm")]
    with FakeLLM([*script, *breast_cancer_replies()]) as llm:
        monkeypatch.setenv("REPROLAM_LLM_BASE_URL", llm.base_url)
        monkeypatch.setenv("REPROLAM_LLM_MODEL", "fake-model")
        ran = invoke(tmp_path, "run", "--planner", "llm", "--json")
    assert ran.exit_code == 0, ran.output
    run_id = json.loads(ran.stdout)["run"]["id"]

    def no_network(*args: object) -> None:
        raise AssertionError(f"network connection attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    reproduced = invoke(tmp_path, "reproduce", run_id)
    assert reproduced.exit_code == 0, reproduced.output


# -- secrets ----------------------------------------------------------------------------------

SECRET = "sk-test-reprolam-6f1d0c9a4b7e42d3a8e5"


def invoke(store: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--store", str(store), *args], catch_exceptions=False)


def test_the_api_key_is_sent_only_as_authorization_and_never_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.setenv("REPROLAM_LLM_MODEL", "fake-model")
    # a careless server echoes the key back in an error; the run goes on after the retry
    script = [error(500, f"invalid credentials Bearer {SECRET}"), *breast_cancer_replies()]
    with FakeLLM(script) as llm:
        monkeypatch.setenv("REPROLAM_LLM_BASE_URL", llm.base_url)
        result = invoke(tmp_path, "run", "--planner", "llm")
    assert result.exit_code == 0, result.output
    assert SECRET not in result.output
    assert "(API key: OPENAI_API_KEY)" in flat(result.output)
    for request in llm.received:
        assert request.headers["authorization"] == f"Bearer {SECRET}"
        others = {k: v for k, v in request.headers.items() if k.lower() != "authorization"}
        assert SECRET not in json.dumps(others)
        assert SECRET.encode() not in request.raw
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name == "trace.db" for p in files)
    for path in files:
        assert SECRET.encode() not in path.read_bytes(), f"API key written to {path}"
    with SQLiteStore(tmp_path) as trace:
        (run,) = trace.list_runs()
        echoed = decision(trace.steps(run.id)[0])["error"]
    assert echoed["body"]["message"] == "invalid credentials Bearer [redacted]"
    assert run.planner["api_key_from"] == "OPENAI_API_KEY"
    for command in (["runs", "--json"], ["show", run.id, "--json"]):
        shown = invoke(tmp_path, *command)
        assert shown.exit_code == 0
        assert SECRET not in shown.output


# -- choosing the planner ---------------------------------------------------------------------


def test_auto_uses_rules_without_an_endpoint_and_says_so() -> None:
    choice = choose_planner("auto")
    assert choice.planner.name == "rules"
    assert "no LLM endpoint configured" in choice.reason
    alone = choose_planner("auto", model="llama3.1")
    assert alone.planner.name == "rules"
    assert "model alone names no endpoint" in alone.reason


def test_auto_never_spends_on_a_key_alone_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY", SECRET)
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    choice = choose_planner("auto", model="gpt-4.1-mini")
    assert choice.planner.name == "rules"
    assert "OPENROUTER_API_KEY and OPENAI_API_KEY set but no base URL given" in choice.reason
    assert "not consent to spend money" in choice.reason
    assert SECRET not in choice.reason
    # asking for the llm planner by name is consent: the key's provider is used
    named = choose_planner("llm")
    assert isinstance(named.planner, LLMPlanner)
    assert (named.planner.endpoint.host, named.planner.endpoint.model) == (
        "openrouter.ai",
        "openai/gpt-4o-mini",
    )


def test_auto_uses_the_llm_when_a_base_url_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY", SECRET)
    choice = choose_planner("auto", base_url="https://openrouter.ai/api/v1")
    assert isinstance(choice.planner, LLMPlanner)
    endpoint = choice.planner.endpoint
    assert (endpoint.host, endpoint.model, endpoint.key_source) == (
        "openrouter.ai",
        "openai/gpt-4o-mini",
        "OPENROUTER_API_KEY",
    )
    assert "auto: LLM configured (base_url, OPENROUTER_API_KEY)" in choice.reason
    assert SECRET not in choice.reason
    monkeypatch.delenv("OPENROUTER_API_KEY")
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.setenv("REPROLAM_LLM_BASE_URL", "https://api.openai.com/v1")
    openai = choose_planner("auto", model="gpt-4.1-mini")
    assert isinstance(openai.planner, LLMPlanner)
    assert (openai.planner.endpoint.host, openai.planner.endpoint.model) == (
        "api.openai.com",
        "gpt-4.1-mini",
    )


def test_a_provider_key_never_travels_to_another_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY", SECRET)
    choice = choose_planner("llm", base_url="http://localhost:11434/v1", model="llama3.1")
    assert isinstance(choice.planner, LLMPlanner)
    assert choice.planner.endpoint.key_source == "none"
    assert choice.planner.endpoint.api_key == "not-needed"
    given = LLMPlanner(base_url="http://localhost:11434/v1", model="m", api_key=SECRET)
    assert SECRET not in repr(given.endpoint)
    assert SECRET not in json.dumps(given.config())
    assert given.config()["api_key_from"] == "argument"


def test_llm_settings_that_cannot_work_are_config_errors_naming_the_fix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(ConfigError, match=r"REPROLAM_LLM_BASE_URL.*OPENROUTER_API_KEY"):
        choose_planner("llm")
    with pytest.raises(ConfigError, match=r"no model given .* REPROLAM_LLM_MODEL"):
        choose_planner("llm", base_url="http://localhost:8000/v1")
    with pytest.raises(ConfigError, match="not an http"):
        choose_planner("llm", base_url="localhost:8000", model="m")
    monkeypatch.setenv("REPROLAM_LLM_BASE_URL", "https://api.openai.com/v1")
    with pytest.raises(ConfigError, match="needs an API key: set OPENAI_API_KEY"):
        choose_planner("auto")
    with pytest.raises(ConfigError, match="max_retries=-1"):
        LLMPlanner(base_url="http://localhost:1/v1", model="m", max_retries=-1)
    # nan passes every range check (--temperature nan too): the run failed at its first call
    # with 'Out of range float values are not JSON compliant ... check that the LLM server
    # is reachable'
    for setting in ("temperature", "top_p", "timeout", "retry_backoff", "max_retry_wait"):
        with pytest.raises(ConfigError, match=f"{setting}=nan is not a finite number"):
            LLMPlanner(base_url="http://localhost:1/v1", model="m", **{setting: float("nan")})
    LLMPlanner(base_url="http://localhost:1/v1", model="m", max_retry_wait=float("inf"))


def test_cli_temperature_nan_is_refused_before_the_run(tmp_path: Path) -> None:
    ran = invoke(
        tmp_path, "run", "--planner", "llm", "--llm-base-url", "http://127.0.0.1:9/v1",
        "--model", "m", "--temperature", "nan",
    )  # fmt: skip
    assert ran.exit_code == 2, ran.output
    assert "temperature=nan is not a finite number" in ran.output


def test_a_missing_openai_package_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "openai", None)  # import openai now raises ImportError
    with pytest.raises(ConfigError, match=r"pip install 'reprolam\[llm\]'"):
        LLMPlanner(base_url="http://localhost:1/v1", model="m")


# -- the command line -------------------------------------------------------------------------


def test_cli_llm_without_configuration_is_one_clear_line_and_exit_2(tmp_path: Path) -> None:
    result = invoke(tmp_path, "run", "--planner", "llm")
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: --planner llm: the llm planner needs an endpoint")
    for variable in LLM_VARS[:4]:
        assert variable in lines[0]


def test_cli_llm_with_an_unreachable_endpoint_records_the_failures_and_exits_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("reprolam.planning.llm.wait", lambda seconds: None)
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    result = invoke(tmp_path, "run", "--planner", "llm", "--llm-base-url", url, "--model", "m")
    assert result.exit_code == 1, result.output
    out = flat(result.stdout)
    assert "failed (3 steps)" in out
    assert f"reason: LLM call to 127.0.0.1:{port} failed: APIConnectionError" in out
    assert "gave up after 3 attempts (max_retries=2)" in out
    # the URL was given on the command line: the fix does not send the user to a variable
    assert "check that the server is up and the base URL given" in out
    assert "REPROLAM_LLM_BASE_URL" not in out
    with SQLiteStore(tmp_path) as trace:
        (run,) = trace.list_runs()
        steps = trace.steps(run.id)
    assert run.status is RunStatus.FAILED
    assert [s.kind for s in steps] == [StepKind.DECISION] * 3
    assert all(s.error is not None and s.error.type == "APIConnectionError" for s in steps)
    assert "Connection refused" in decision(steps[0])["error"]["message"]
    monkeypatch.setenv("REPROLAM_LLM_BASE_URL", url)  # from the environment: it is named
    result = invoke(tmp_path, "run", "--planner", "llm", "--model", "m")
    assert "check that the server is up and the base URL (REPROLAM_LLM_BASE_URL)" in flat(
        result.stdout
    )


def test_cli_auto_prints_which_planner_it_chose_and_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeLLM(breast_cancer_replies()) as llm:
        monkeypatch.setenv("REPROLAM_LLM_BASE_URL", llm.base_url)
        result = invoke(tmp_path, "run", "--model", "fake-model")
    assert result.exit_code == 0, result.output
    out = flat(result.output)
    assert "planner: auto: LLM configured (--model, REPROLAM_LLM_BASE_URL)" in out
    assert f"model fake-model at 127.0.0.1:{llm.port}" in out
    assert "succeeded (5 steps)" in out


def test_a_key_in_the_environment_alone_does_not_move_a_forks_model_elsewhere(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A run planned by a local server, forked with only OPENAI_API_KEY set: its prompts (and
    the key) would have gone to api.openai.com, which the run never used."""
    from reprolam.planning.choose import LLMSettings

    monkeypatch.delenv("REPROLAM_LLM_BASE_URL", raising=False)
    monkeypatch.delenv("OPENROUTER_API_KEY", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    local = {"name": "llm", "model": "testmodel", "host": "127.0.0.1:18011"}
    with pytest.raises(ConfigError, match=r"called at 127\.0\.0\.1:18011.*api\.openai\.com"):
        LLMPlanner.from_config(local, llm=LLMSettings())
    given = LLMPlanner.from_config(local, llm=LLMSettings(base_url="http://127.0.0.1:18011/v1"))
    assert given.endpoint.host == "127.0.0.1:18011"
    monkeypatch.setenv("REPROLAM_LLM_BASE_URL", "http://127.0.0.1:9/v1")  # chosen, if elsewhere
    assert LLMPlanner.from_config(local, llm=LLMSettings()).endpoint.host == "127.0.0.1:9"
    monkeypatch.delenv("REPROLAM_LLM_BASE_URL")
    openai = {"name": "llm", "model": "gpt-4o-mini", "host": "api.openai.com"}
    assert LLMPlanner.from_config(openai, llm=LLMSettings()).endpoint.host == "api.openai.com"


def test_resuming_an_llm_run_with_no_endpoint_set_names_where_its_model_was_called(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from reprolam.planning.choose import LLMSettings

    for name in ("REPROLAM_LLM_BASE_URL", "OPENROUTER_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    local = {"name": "llm", "model": "qwen3:8b", "host": "127.0.0.1:11434"}
    # it said only 'needs an endpoint ... and the model with REPROLAM_LLM_MODEL' (recorded)
    with pytest.raises(
        ConfigError, match=r"model qwen3:8b was called at 127\.0\.0\.1:11434"
    ) as info:
        LLMPlanner.from_config(local, llm=LLMSettings())
    assert "REPROLAM_LLM_BASE_URL" in str(info.value)
    assert "REPROLAM_LLM_MODEL" not in str(info.value)
    with pytest.raises(ConfigError, match="needs an endpoint"):  # nothing recorded to name
        LLMPlanner.from_config({"name": "llm", "model": "m"}, llm=LLMSettings())


def test_a_done_call_whose_arguments_cannot_be_read_is_a_rejection_not_the_end(
    store: MemoryStore,
) -> None:
    script = [call("done", '{"reason": "the data is'), *breast_cancer_replies()]
    with FakeLLM(script) as llm:
        result, steps = run_with(store, llm)
    assert result.succeeded, result.run.error
    assert steps[0].kind is StepKind.REJECTION
    assert steps[0].error is not None
    assert "tool call 'done' is malformed: its arguments are not valid JSON" in (
        steps[0].error.message
    )
