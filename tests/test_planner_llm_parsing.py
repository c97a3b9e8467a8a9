"""Unit checks of the pieces the stand-in runs rely on: text calls, bounded JSON, profiles."""

from __future__ import annotations

import re

import pytest

from reprolam.errors import ConfigError
from reprolam.planning.llm_history import call_id, clip
from reprolam.planning.llm_profiles import adapt_to_error, apply, profile_for
from reprolam.planning.llm_text_calls import calls_from_text, loads, proposal_from_tool_call

TOOLS = ["load_dataset", "train_model", "done"]


@pytest.mark.parametrize(
    ("text", "convention", "name", "arguments"),
    [
        (
            '<tool_call>\n{"name": "train_model", "arguments": {"C": 2}}\n</tool_call>',
            "hermes",
            "train_model",
            {"C": 2},
        ),
        (
            '<tool_call>{"name": "train_model", "arguments": {"C": 2}}',
            "hermes",
            "train_model",
            {"C": 2},
        ),
        (
            '<|python_tag|>{"name": "train_model", "parameters": {"C": 2}}<|eom_id|>',
            "python_tag",
            "train_model",
            {"C": 2},
        ),
        (
            '[TOOL_CALLS][{"name": "train_model", "arguments": {"C": 2}}]',
            "mistral",
            "train_model",
            {"C": 2},
        ),
        (
            'Sure.\n```json\n{"name": "train_model", "arguments": {"C": 2}}\n```',
            "fenced",
            "train_model",
            {"C": 2},
        ),
        (
            'I pick {"name": "train_model", "arguments": {"C": 2}} now',
            "json",
            "train_model",
            {"C": 2},
        ),
        ('{"function": {"name": "load_dataset", "arguments": {}}}', "json", "load_dataset", {}),
        (
            '<tool_call>{"name": "train_model", "arguments": {"C": </tool_call>',
            "hermes",
            "train_model",
            '{"name": "train_model", "arguments": {"C":',
        ),
    ],
)
def test_text_tool_calls_in_every_common_convention(
    text: str, convention: str, name: str, arguments: object
) -> None:
    (found,) = calls_from_text(text, TOOLS)
    assert (found.convention, found.name, found.arguments) == (convention, name, arguments)


@pytest.mark.parametrize(
    "reply",
    [
        # DeepSeek-R1 / Qwen3 on Ollama or llama.cpp: the reasoning comes first, in the text
        '<think>I could call {"name": "train_model", "arguments": {"C": 9}} but nothing is '
        'loaded yet.</think>\n{"name": "load_dataset", "arguments": {}}',
        '<think>Answer in the <tool_call> format.</think>\n<tool_call>\n{"name": '
        '"load_dataset", "arguments": {}}\n</tool_call>',
        # a chat template that opens the block in the prompt: the reply holds only its end
        'Maybe {"name": "train_model", "arguments": {}}? No.\n</think>\n\n'
        '{"name": "load_dataset", "arguments": {}}',
        '[THINK]Or {"name": "train_model", "arguments": {}}.[/THINK]'
        '[TOOL_CALLS][{"name": "load_dataset", "arguments": {}}]',
    ],
)
def test_calls_a_reasoning_model_only_considered_are_not_calls(reply: str) -> None:
    (found,) = calls_from_text(reply, TOOLS)
    assert (found.name, found.arguments) == ("load_dataset", {})


def test_a_reply_cut_off_while_the_model_was_thinking_holds_no_call() -> None:
    reply = '<think>First {"name": "train_model", "arguments": {"C": 1}}, then'
    assert calls_from_text(reply, TOOLS) == []


def test_json_that_names_no_tool_is_not_a_call() -> None:
    assert calls_from_text('The stats are {"name": "mean radius", "value": 14.1}.', TOOLS) == []
    assert calls_from_text("{" * 100_000, TOOLS) == []
    assert calls_from_text("no call here", TOOLS) == []


def test_deep_json_is_a_clear_rejection_never_a_recursion_error() -> None:
    for deep in ("[" * 200_000 + "]" * 200_000, '{"a":' * 50_000 + "1" + "}" * 50_000):
        with pytest.raises(ValueError, match="nested deeper than 32 levels"):
            loads(deep)
        proposal = proposal_from_tool_call("train_model", deep)
        assert proposal.invalid_reason is not None
        assert "nested deeper than 32 levels" in proposal.invalid_reason
    assert loads('{"a": "' + "[" * 40 + '"}') == {"a": "[" * 40}  # brackets in strings: no depth
    with pytest.raises(ValueError, match="NaN is not valid JSON"):
        loads('{"C": NaN}')


def test_call_ids_are_nine_alphanumeric_characters_and_a_function_of_the_step() -> None:
    ids = {call_id(step, position) for step in range(500) for position in range(3)}
    assert len(ids) == 1500
    assert all(re.fullmatch(r"[A-Za-z0-9]{9}", i) for i in ids)
    assert call_id(7) == call_id(7, 0)


def test_clip_says_how_much_is_left_out() -> None:
    assert clip("abc", 5) == "abc"
    assert (
        clip("x" * 10, 4, where="step 3")
        == "xxxx [... 6 more characters elided; the full text is in step 3]"
    )


@pytest.mark.parametrize(
    ("host", "model", "profile"),
    [
        ("api.openai.com", "o3-mini", "openai-reasoning"),
        ("openrouter.ai", "openai/gpt-5-mini", "openai-reasoning"),
        ("127.0.0.1:4000", "o1", "openai-reasoning"),
        ("api.openai.com", "gpt-4o-mini", "openai"),
        ("api.openai.com", "o4-mini-2025-04-16", "openai-reasoning"),
        ("openrouter.ai", "meta-llama/llama-3.1-8b-instruct", "openrouter"),
        ("api.mistral.ai", "mistral-small-latest", "mistral"),
        ("localhost:8000", "mistralai/Mistral-7B-Instruct-v0.3", "mistral"),
        ("localhost:11434", "qwen2.5:7b", "ollama"),
        ("localhost:8000", "Qwen/Qwen2.5-7B-Instruct", "generic"),
        ("gpu-box:8080", "omni-7b", "generic"),
    ],
)
def test_profiles_are_matched_by_model_family_then_host(
    host: str, model: str, profile: str
) -> None:
    assert profile_for(host, model).name == profile


def test_profiles_can_be_overridden_by_name_or_field() -> None:
    assert profile_for("api.openai.com", "o3", "generic").name == "generic"
    changed = profile_for("localhost", "m", {"send_temperature": False, "tool_choice": "auto"})
    assert (changed.send_temperature, changed.tool_choice) == (False, "auto")
    with pytest.raises(ConfigError, match="unknown LLM profile 'vllm-ish'"):
        profile_for("localhost", "m", "vllm-ish")
    with pytest.raises(ConfigError, match="unknown LLM profile field temperature"):
        profile_for("localhost", "m", {"temperature": 0})


@pytest.mark.parametrize(
    ("message", "param", "expected"),
    [
        (
            "Unsupported parameter: 'max_tokens' is not supported with this model. "
            "Use 'max_completion_tokens' instead.",
            "max_tokens",
            ("max_tokens", "renamed to max_completion_tokens"),
        ),
        (
            "Unsupported value: 'temperature' does not support 0.0 with this model.",
            "temperature",
            ("temperature", "dropped"),
        ),
        (
            "litellm.UnsupportedParamsError: openai does not support parameters: "
            "['temperature'], for model=o3",
            None,
            ("temperature", "dropped"),
        ),
        ("1 validation error: seed Extra inputs are not permitted", None, ("seed", "dropped")),
        ("tools param requires --jinja flag", None, ("tools", "switched to tool_mode=text")),
        (
            '"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser '
            "to be set",
            None,
            ("tools", "switched to tool_mode=text"),
        ),
        (
            "registry.ollama.ai/library/gemma2:2b does not support tools",
            None,
            ("tools", "switched to tool_mode=text"),
        ),
        ("The model `gpt-9` does not exist", None, None),
        ("Invalid 'messages[2].content': string too long", None, None),
    ],
)
def test_a_refusal_names_what_to_change(
    message: str, param: str | None, expected: tuple[str, str] | None
) -> None:
    request = {
        "model": "m",
        "messages": [],
        "tools": [],
        "temperature": 0.0,
        "seed": 0,
        "max_tokens": 9,
    }
    found = adapt_to_error(request, 400, message, param)
    if expected is None:
        assert found is None
        return
    assert found is not None
    assert (found.param, found.change) == expected
    apply(request, found)
    if found.param == "max_tokens":
        assert request["max_completion_tokens"] == 9
    if found.param != "tools":
        assert found.param not in request
    assert adapt_to_error(request, 429, message, param) is None  # only refusals adapt


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (
            "No endpoints found that support tool use. To learn more about provider routing, "
            "visit: https://openrouter.ai/docs/provider-routing",
            ("tools", "switched to tool_mode=text"),
        ),
        (
            "No endpoints found that support the provided 'tool_choice' value. To learn more "
            "about provider routing, visit: https://openrouter.ai/docs/provider-routing",
            ("tool_choice", "dropped"),
        ),
        ("The model `gpt-9` does not exist", None),
        ("No endpoints found for nobody/no-such-model.", None),
        ("No endpoints found that support the provided 'stream' value.", None),
    ],
)
def test_openrouters_404_for_a_feature_no_provider_of_the_model_takes_adapts(
    message: str, expected: tuple[str, str] | None
) -> None:
    """OpenRouter refuses tools for a model none of whose providers takes them with a 404,
    which was taken for an unknown model: `--tool-mode auto` never switched to text."""
    request = {"model": "m", "messages": [], "tools": [], "tool_choice": "required"}
    found = adapt_to_error(request, 404, message)
    assert (None if found is None else (found.param, found.change)) == expected


def test_a_lone_surrogate_escape_from_a_model_is_kept_as_its_escape_text() -> None:
    """``"\\ud800"`` is valid JSON but decodes to text no store can hold (a run recording it
    used to fail, and its journal made the store impossible to open)."""
    body = loads('{"content": "hi \\ud800", "pair": "\\ud83d\\ude00", "\\udc80k": 1}')
    assert body == {"content": "hi \\ud800", "pair": "\U0001f600", "\\udc80k": 1}
    proposal = proposal_from_tool_call("train", '{"name": "caf\\udce9"}')
    assert proposal.params == {"name": "caf\\udce9"}
    "".join(proposal.params.values()).encode("utf-8")  # storable


def test_a_refused_request_is_explained_by_what_the_server_said() -> None:
    """Every 400 was blamed on tool calling (the profile's hint: vLLM's flags, llama.cpp's
    --jinja), a context overflow and a streaming-only server included."""
    from reprolam.planning.llm_errors import _fix

    hint = "vLLM needs --enable-auto-tool-choice"
    assert "context" in _fix(400, "This model's maximum context length is 8192", False, hint)
    # llama.cpp's and today's vLLM's words for the same overflow
    llama_cpp = "the request exceeds the available context size, try increasing it"
    vllm = "The decoder prompt (length 9000) is longer than the maximum model length of 8192."
    assert "prompt-budget option" in _fix(400, llama_cpp, False, hint)
    assert "prompt-budget option" in _fix(400, vllm, False, hint)
    assert "stream" in _fix(400, "only stream=true is supported", False, hint)
    assert "--tool-call-parser" in _fix(
        400, '"auto" tool choice requires --enable-auto', False, hint
    )
    assert hint in _fix(400, "tools are not supported by this template", False, hint)
    assert hint not in _fix(400, "invalid value for temperature", False, hint)


def test_a_nul_in_a_tool_name_is_kept_as_its_escape() -> None:
    # a step's action is a text column, and PostgreSQL text cannot hold NUL: the record of the
    # rejection failed and the run stopped (`tool_calls` in the decision keeps the name as sent)
    proposal = proposal_from_tool_call("load\x00dataset", "{}")
    assert proposal.action == "load\\x00dataset"
