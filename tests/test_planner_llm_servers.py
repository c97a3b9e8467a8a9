"""The llm planner against stand-ins for the servers scientists use (tests/llm_standins.py).

For each stand-in: a run of the bundled breast-cancer workflow through the CLI succeeds, the
trace records how the request adapted to the server, and ``reprolam reproduce`` of the run
makes no LLM call at all.
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from fake_llm import BREAST_CANCER_SCRIPT, FakeLLM, call, text
from llm_standins import Driver, all_of, no_system_role, standins, vllm, vllm_id
from reprolam import LLMPlanner, action, workflow
from reprolam.cli.main import cli
from reprolam.engine.engine import Engine
from reprolam.history.fork import fork
from reprolam.planning.llm_history import call_id
from reprolam.trace import MemoryStore, SQLiteStore
from reprolam.trace.records import RunStatus, StepKind, StepRecord
from reprolam.workflows.breast_cancer import workflow as BREAST_CANCER

ACTIONS = [name for name, _ in BREAST_CANCER_SCRIPT]
KEY = "sk-test-standin-0123456789"
STANDINS = standins()


@pytest.fixture(autouse=True)
def clean_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "REPROLAM_LLM_BASE_URL",
        "REPROLAM_LLM_MODEL",
        "OPENROUTER_API_KEY",
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "REPROLAM_STORE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("reprolam.planning.llm.wait", lambda seconds: None)


@pytest.fixture
def store() -> Iterator[MemoryStore]:
    trace = MemoryStore()
    yield trace
    trace.close()


def invoke(store: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--store", str(store), *args], catch_exceptions=False)


def decision(step: StepRecord) -> dict[str, Any]:
    found: dict[str, Any] = step.proposal["decision"]
    return found


def run_cli(
    tmp_path: Path, server: FakeLLM, model: str, *extra: str
) -> tuple[str, list[StepRecord]]:
    ran = invoke(
        tmp_path,
        "run",
        "--planner",
        "llm",
        "--llm-base-url",
        server.base_url,
        "--model",
        model,
        *extra,
        "--json",
    )
    assert ran.exit_code == 0, ran.output
    run_id = json.loads(ran.stdout)["run"]["id"]
    with SQLiteStore(tmp_path) as trace:
        assert trace.get_run(run_id).status is RunStatus.SUCCEEDED
        return run_id, trace.steps(run_id)


def reproduce_offline(tmp_path: Path, run_id: str, server: FakeLLM, monkeypatch: Any) -> None:
    """``reproduce`` succeeds with every connection refused and no request reaching the server."""
    before = len(server.received)

    def no_network(*args: object) -> None:
        raise AssertionError(f"network connection attempted: {args}")

    with monkeypatch.context() as patch:
        patch.setattr(socket.socket, "connect", no_network)
        reproduced = invoke(tmp_path, "reproduce", run_id)
    assert reproduced.exit_code == 0, reproduced.output
    assert len(server.received) == before


def actions_of(steps: list[StepRecord]) -> list[str]:
    return [s.action for s in steps if s.kind is StepKind.ACTION]


# -- the matrix -------------------------------------------------------------------------------


def test_openai_gets_tools_and_sampling_and_a_history_it_accepts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    standin = STANDINS["openai"]
    with standin.server() as server:
        run_id, steps = run_cli(tmp_path, server, standin.model)
        reproduce_offline(tmp_path, run_id, server, monkeypatch)
    assert actions_of(steps) == ACTIONS
    assert len(server.received) == 5
    body = server.received[-1].body
    assert (body["temperature"], body["max_tokens"], body["seed"]) == (0.0, 1024, 0)
    ids = [c["id"] for m in body["messages"] for c in m.get("tool_calls") or []]
    assert ids == [call_id(i) for i in range(4)]


@action(outputs=["box"], description="Make a box. " + "Its sides are measured in cm. " * 60)
def make_box(*, span: list[tuple[float, str]], size: tuple[int, int] = (2, 3)) -> int:
    """Make a box of a size."""
    return size[0] * size[1] + len(span)


def test_openai_accepts_the_tools_of_tuple_params_and_long_descriptions(store: MemoryStore) -> None:
    # pydantic writes a tuple as prefixItems without items; OpenAI refuses such a schema
    # ("array schema missing items") on every call, so no run with a tuple param could start
    standin = STANDINS["openai"]
    flow = workflow("boxes", [make_box], outputs=["box"])
    script = [call("make_box", {"size": [4, 5], "span": [[2.0, "b"]]})]
    with standin.server(script) as server:
        planner = LLMPlanner(base_url=server.base_url, model=standin.model, api_key=KEY)
        result = Engine(store).run(flow, planner=planner)
    assert result.status is RunStatus.SUCCEEDED, store.steps(result.id)[-1]
    assert [s.params for s in store.steps(result.id)] == [{"size": [4, 5], "span": [[2.0, "b"]]}]
    size = server.received[0].body["tools"][0]["function"]["parameters"]["properties"]["size"]
    assert (size["items"], size["maxItems"]) == ({"type": "integer"}, 2)
    # a description longer than OpenAI's 1024 characters is cut, keeping the outputs' names
    description = server.received[0].body["tools"][0]["function"]["description"]
    assert len(description) == 1024
    assert description.endswith("… Inputs: none. Outputs: box.")


@action(outputs=["table"], name="données")
def gather(*, n: int = 1) -> int:
    """Gather the data."""
    return n


def test_an_action_name_openai_refuses_as_a_tool_name_switches_auto_to_text_or_names_it(
    store: MemoryStore,
) -> None:
    # a Python identifier (données, or longer than 64 characters) is no tool name OpenAI takes:
    # every call was refused (400), the run failed saying 'its message says why'
    standin = STANDINS["openai"]
    flow = workflow("accents", [gather], outputs=["table"])
    answer = text(json.dumps({"name": "données", "arguments": {"n": 2}}))
    with standin.server([answer]) as server:
        planner = LLMPlanner(base_url=server.base_url, model=standin.model, api_key=KEY)
        result = Engine(store).run(flow, planner=planner)
    assert result.status is RunStatus.SUCCEEDED
    assert [s.params for s in store.steps(result.id)] == [{"n": 2}]
    assert [bool(r.body.get("tools")) for r in server.received] == [True, False]
    adapted = decision(store.steps(result.id)[0])["adapted"]
    assert adapted[0]["param"] == "tools"

    with standin.server() as server:
        native = LLMPlanner(
            base_url=server.base_url, model=standin.model, api_key=KEY, tool_mode="native"
        )
        failed = Engine(store).run(flow, planner=native)
    assert failed.status is RunStatus.FAILED
    fix = decision(store.steps(failed.id)[0])["error"]["fix"]
    assert "'données' is not a tool name" in fix
    assert "@action(name=" in fix


def test_a_chat_template_without_a_system_role_gets_the_instructions_in_the_first_user_turn(
    store: MemoryStore,
) -> None:
    # Gemma 2's template on vLLM raises 'System role not supported': every call was refused
    # (400) and the run failed with 'the server refused the request: its message says why'
    checks = all_of(no_system_role, vllm(["--enable-auto-tool-choice", "--tool-call-parser"]))
    with FakeLLM([], responder=Driver(make_id=vllm_id), validator=checks) as server:
        planner = LLMPlanner(base_url=server.base_url, model="google/gemma-2-9b-it")
        result = Engine(store).run(BREAST_CANCER, planner=planner)
    assert result.status is RunStatus.SUCCEEDED, result.run.error
    steps = store.steps(result.id)
    assert actions_of(steps) == ACTIONS
    assert len(server.received) == len(ACTIONS) + 1  # refused once, then learned
    assert decision(steps[0])["adapted"][0]["param"] == "system"
    first = server.received[-1].messages[0]
    assert first["role"] == "user"
    assert first["content"].startswith("You plan a reproducible scientific workflow.")


def test_openai_reasoning_models_get_no_temperature_and_max_completion_tokens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    standin = STANDINS["openai-reasoning"]
    with standin.server() as server:
        run_id, steps = run_cli(tmp_path, server, standin.model)
        reproduce_offline(tmp_path, run_id, server, monkeypatch)
    assert actions_of(steps) == ACTIONS
    assert len(server.received) == 5  # the profile knew: no call was refused
    for request in server.received:
        assert "temperature" not in request.body
        assert "max_tokens" not in request.body
        assert request.body["max_completion_tokens"] == 8192
    assert all(decision(s)["profile"] == "openai-reasoning" for s in steps)


def test_a_refused_parameter_is_retried_once_without_it_and_the_adaptation_recorded(
    store: MemoryStore,
) -> None:
    """The generic profile sends what reasoning models refuse: each refusal adapts once."""
    standin = STANDINS["openai-reasoning"]
    with standin.server() as server:
        planner = LLMPlanner(
            base_url=server.base_url, model=standin.model, api_key=KEY, profile="generic"
        )
        result = Engine(store).run(BREAST_CANCER, planner=planner)
    steps = store.steps(result.id)
    assert result.succeeded, result.run.error
    assert actions_of(steps) == ACTIONS
    first = decision(steps[0])
    assert [(a["param"], a["change"]) for a in first["adapted"]] == [
        ("max_tokens", "renamed to max_completion_tokens"),
        ("temperature", "dropped"),
    ]
    assert "Use 'max_completion_tokens' instead" in first["adapted"][0]["because"]
    assert first["request"]["max_completion_tokens"] == 1024
    # learned for the rest of the run: one refused request per parameter, once
    assert len(server.received) == 5 + 2
    assert all("adapted" not in decision(s) for s in steps[1:])
    assert all("temperature" not in r.body for r in server.received[3:])


def test_a_litellm_proxy_error_shape_is_understood(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    standin = STANDINS["litellm"]
    with standin.server() as server:
        run_id, steps = run_cli(tmp_path, server, standin.model)
        reproduce_offline(tmp_path, run_id, server, monkeypatch)
    assert actions_of(steps) == ACTIONS
    (adapted,) = decision(steps[0])["adapted"]
    assert (adapted["param"], adapted["change"]) == ("temperature", "dropped")
    assert "litellm.UnsupportedParamsError" in adapted["because"]
    assert len(server.received) == 6


def test_vllm_strict_history_survives_a_malformed_and_a_truncated_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    standin = STANDINS["vllm"]
    truncated = call("load_dataset", '{"inputs": {"X')
    body = dict(truncated.body)
    body["choices"] = [{**body["choices"][0], "finish_reason": "length"}]
    script = [call("load_dataset", "{bad json"), type(truncated)(body=body)]
    with standin.server(script) as server:
        run_id, steps = run_cli(tmp_path, server, standin.model)
        reproduce_offline(tmp_path, run_id, server, monkeypatch)
    assert [s.kind for s in steps[:2]] == [StepKind.REJECTION] * 2
    assert actions_of(steps) == ACTIONS
    assert "arguments are not valid JSON" in (steps[0].error.message if steps[0].error else "")
    assert "cut off at the max tokens limit" in (steps[1].error.message if steps[1].error else "")
    # recorded verbatim, sent back well-formed: no request after the bad ones was refused
    assert decision(steps[0])["tool_calls"][0]["arguments"] == "{bad json"
    assert len(server.received) == 7
    later = server.received[2].messages
    sent_back = [c for m in later for c in m.get("tool_calls") or []]
    assert [c["function"]["arguments"] for c in sent_back] == ["{}", "{}"]
    answers = [json.loads(m["content"]) for m in later if m["role"] == "tool"]
    assert "not valid JSON" in answers[0]["reason"]


def test_vllm_without_the_tool_parser_flags_falls_back_to_text_and_names_the_flags(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store: MemoryStore
) -> None:
    standin = STANDINS["vllm-no-tool-parser"]
    with standin.server() as server:
        run_id, steps = run_cli(tmp_path, server, standin.model)
        reproduce_offline(tmp_path, run_id, server, monkeypatch)
        assert actions_of(steps) == ACTIONS
        (adapted,) = decision(steps[0])["adapted"]
        assert (adapted["param"], adapted["change"]) == ("tools", "switched to tool_mode=text")
        assert all(decision(s)["tool_mode"] == "text" for s in steps)
        assert all(decision(s)["parsed_from_text"] == "json" for s in steps)
        assert all("tools" not in r.body for r in server.received[1:])
        # tool_mode native: no fallback, and the error names the server-side fix
        native = LLMPlanner(base_url=server.base_url, model=standin.model, tool_mode="native")
        failed = Engine(store).run(BREAST_CANCER, planner=native)
    assert failed.run.status is RunStatus.FAILED
    assert "--enable-auto-tool-choice --tool-call-parser" in (failed.run.error or "")


def test_mistral_ids_hold_in_runs_and_in_forks(store: MemoryStore) -> None:
    standin = STANDINS["mistral"]
    with standin.server() as server:
        planner = LLMPlanner(base_url=server.base_url, model=standin.model)
        original = Engine(store).run(BREAST_CANCER, planner=planner)
        assert original.succeeded, original.run.error
        forked = fork(
            store, original.id, at=3, overrides={"train_model": {"C": 2.0}}, planner=planner
        )
        # a fork of a run planned by rules: its inherited steps become calls too
        from reprolam.planning.rules import RulesPlanner

        ruled = Engine(store).run(BREAST_CANCER, planner=RulesPlanner())
        from_rules = fork(store, ruled.id, at=2, planner=planner)
    assert forked.succeeded, forked.run.error
    assert from_rules.succeeded, from_rules.run.error
    assert all(r.body.get("tool_choice") == "auto" for r in server.received)
    ids = {c["id"] for r in server.received for m in r.messages for c in m.get("tool_calls") or []}
    assert ids
    assert all(re.fullmatch(r"[a-zA-Z0-9]{9}", i) for i in ids)


@pytest.mark.parametrize("style", ["hermes", "python_tag", "fenced", "json"])
def test_a_model_answering_tool_calls_in_text_is_understood(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, style: str
) -> None:
    standin = standins()["ollama"]
    standin.driver.style = style
    with standin.server() as server:
        run_id, steps = run_cli(tmp_path, server, standin.model)
        reproduce_offline(tmp_path, run_id, server, monkeypatch)
    assert actions_of(steps) == ACTIONS
    assert len(server.received) == 5
    assert all(decision(s)["parsed_from_text"] == style for s in steps)
    assert all(decision(s)["tool_mode"] == "native" for s in steps)
    # the text call goes back as text: the model reads its own words, answered by a result
    last = server.received[-1].messages
    assert not any(m.get("tool_calls") for m in last)
    assert any("Result of your call" in str(m["content"]) for m in last if m["role"] == "user")


@pytest.mark.parametrize("name", ["ollama-no-tools", "llama.cpp"])
def test_servers_refusing_tools_get_text_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    standin = STANDINS[name]
    with standin.server() as server:
        run_id, steps = run_cli(tmp_path, server, standin.model)
        reproduce_offline(tmp_path, run_id, server, monkeypatch)
    assert actions_of(steps) == ACTIONS
    assert decision(steps[0])["adapted"][0]["change"] == "switched to tool_mode=text"
    assert len(server.received) == 6  # one refused request, then one per action
    system = server.received[-1].messages[0]["content"]
    assert '{"name": "<tool name>", "arguments"' in system
    assert "train_model" in system


def test_llama_cpp_without_jinja_in_native_mode_names_the_flag(store: MemoryStore) -> None:
    standin = STANDINS["llama.cpp"]
    with standin.server() as server:
        planner = LLMPlanner(base_url=server.base_url, model="m", tool_mode="native")
        result = Engine(store).run(BREAST_CANCER, planner=planner)
    assert result.run.status is RunStatus.FAILED
    assert "not retryable: start llama-server with --jinja" in (result.run.error or "")


def test_text_mode_sends_no_tools_and_the_model_answers_json(store: MemoryStore) -> None:
    standin = STANDINS["openai"]
    with standin.server([text("Sure! I will load the data first.")]) as server:
        planner = LLMPlanner(
            base_url=server.base_url, model=standin.model, api_key=KEY, tool_mode="text"
        )
        result = Engine(store).run(BREAST_CANCER, planner=planner)
    steps = store.steps(result.id)
    assert result.succeeded, result.run.error
    assert steps[0].kind is StepKind.REJECTION
    assert actions_of(steps) == ACTIONS
    assert all("tools" not in r.body and "tool_choice" not in r.body for r in server.received)
    assert result.run.planner["tool_mode"] == "text"
