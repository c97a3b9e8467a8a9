"""Stand-ins for the LLM servers scientists use, each applying that server's documented checks.

Every stand-in is a ``FakeLLM`` (127.0.0.1, a free port chosen at run time) with a
``validator`` that refuses what the real server refuses, with the real server's error shape,
and a model (``Driver``) that drives the breast-cancer workflow the way such a model answers:
native tool calls with the server's own id format, or a call written in the text.

What each reproduces (the sources are the servers' docs and error messages):

* OpenAI: an assistant message with ``tool_calls`` must be answered by a ``tool`` message
  for every id; a ``tool`` message must answer a call; tool names match
  ``^[a-zA-Z0-9_-]{1,64}$``, descriptions are at most 1024 characters; an array schema has
  ``items`` (pydantic writes a tuple with ``prefixItems`` only); arguments are strings; a
  key is required. Reasoning models
  (o-series, gpt-5) refuse ``temperature`` other than 1, ``top_p`` and ``max_tokens``
  ("Use 'max_completion_tokens' instead").
* vLLM: tools with ``tool_choice`` auto need ``--enable-auto-tool-choice`` and
  ``--tool-call-parser``; every tool call's arguments in the history are parsed as JSON.
* Mistral: tool-call ids are 9 characters a-z, A-Z, 0-9 -- in the history too.
* Ollama: a model with tool support may still write ``<tool_call>`` in its text; a model
  without it answers 400 "does not support tools".
* llama.cpp: without ``--jinja``, tools are refused ("tools param requires --jinja flag")
  and every message needs a string ``content``.
* LiteLLM: a proxy wraps the upstream refusal in its own shape
  (``litellm.UnsupportedParamsError``, ``code`` a string, ``type`` "None").
"""

from __future__ import annotations

import itertools
import json
import random
import re
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fake_llm import BREAST_CANCER_SCRIPT, FakeLLM, Received, Reply, completion
from reprolam.workflows.breast_cancer import workflow as BREAST_CANCER

Check = Callable[[Received], Reply | None]
_ids = itertools.count()


def openai_error(
    status: int, message: str, *, param: str | None = None, code: str | None = None
) -> Reply:
    error = {"message": message, "type": "invalid_request_error", "param": param, "code": code}
    return Reply(status=status, body={"error": error})


def vllm_error(message: str) -> Reply:
    body = {"object": "error", "message": message, "type": "BadRequestError", "param": None}
    return Reply(status=400, body={**body, "code": 400})


# -- the next call a model would make ------------------------------------------------------


def available_artifacts(request: Received) -> set[str]:
    """The artifact names the planner's last user message lists as available now."""
    last = next(m for m in reversed(request.messages) if m["role"] == "user")
    listed = str(last["content"]).split("Artifacts available now", 1)[-1]
    return set(re.findall(r"^- (\w+): ", listed, flags=re.MULTILINE))


def next_call(request: Received) -> tuple[str, dict[str, Any]]:
    """The first breast-cancer action whose outputs do not exist yet, with its arguments."""
    have = available_artifacts(request)
    for name, args in BREAST_CANCER_SCRIPT:
        if not set(BREAST_CANCER.actions.get(name).outputs) <= have:
            return name, dict(args)
    return "done", {"reason": "all outputs exist"}


def openai_id() -> str:
    return "call_" + "".join(random.Random(next(_ids)).choices(string.ascii_letters, k=24))


def mistral_id() -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(random.Random(next(_ids)).choices(alphabet, k=9))


def vllm_id() -> str:
    return f"chatcmpl-tool-{random.Random(next(_ids)).getrandbits(128):032x}"


def text_call(name: str, args: Mapping[str, Any], style: str) -> str:
    payload = json.dumps({"name": name, "arguments": dict(args)})
    return {
        "hermes": f"I will call a tool.\n<tool_call>\n{payload}\n</tool_call>",
        "python_tag": "<|python_tag|>"
        + json.dumps({"name": name, "parameters": dict(args)})
        + "<|eom_id|>",
        "fenced": f"Next step:\n```json\n{payload}\n```",
        "json": payload,
    }[style]


@dataclass
class Driver:
    """A model that answers each request with the next action, natively or in text.

    ``style``: ``native`` (tool_calls, ids from ``make_id``) or a text convention
    (``hermes``, ``python_tag``, ``fenced``, ``json``). Requests without tools are answered
    with a bare JSON object, as the planner's text mode asks.
    """

    style: str = "native"
    make_id: Callable[[], str] = openai_id
    model: str = "stand-in"

    def __call__(self, request: Received) -> Reply:
        name, args = next_call(request)
        if self.style == "native" and request.body.get("tools"):
            message = {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": self.make_id(),
                        "type": "function",
                        "function": {"name": name, "arguments": json.dumps(args)},
                    }
                ],
            }
            return Reply(body=completion(message))
        style = self.style if request.body.get("tools") else "json"
        content = text_call(name, args, style)
        return Reply(
            body=completion({"role": "assistant", "content": content}, finish_reason="stop")
        )


# -- the servers' checks -------------------------------------------------------------------

_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


def openai_history(request: Received) -> Reply | None:
    """OpenAI's message-order rules for tool calls, and its tool schema rules."""
    for tool in request.body.get("tools") or []:
        if not _TOOL_NAME.match(tool.get("function", {}).get("name", "")):
            return openai_error(400, "Invalid 'tools[0].function.name': string does not match")
    pending: list[str] = []
    for i, message in enumerate(request.messages):
        role = message.get("role")
        if role == "tool":
            if message.get("tool_call_id") not in pending:
                return openai_error(
                    400,
                    "Invalid parameter: messages with role 'tool' must be a response to a "
                    "preceeding message with 'tool_calls'.",
                    param=f"messages.[{i}].role",
                )
            pending.remove(message["tool_call_id"])
            continue
        if pending:
            return openai_error(
                400,
                "An assistant message with 'tool_calls' must be followed by tool messages "
                "responding to each 'tool_call_id'. The following tool_call_ids did not have "
                f"response messages: {', '.join(pending)}",
                param="messages",
            )
        for call in message.get("tool_calls") or []:
            if not isinstance(call.get("function", {}).get("arguments"), str):
                return openai_error(400, f"Invalid type for 'messages[{i}].tool_calls'")
            if not _TOOL_NAME.match(call["function"].get("name", "")):
                return openai_error(400, f"Invalid 'messages[{i}].tool_calls.function.name'")
            pending.append(call.get("id"))
    return None


def _arrays_without_items(node: Any, where: tuple[str, ...] = ()) -> tuple[str, ...] | None:
    """The context of the first array schema in ``node`` that has no ``items``, if any."""
    if isinstance(node, list):
        found = (_arrays_without_items(v, (*where, str(i))) for i, v in enumerate(node))
        return next((f for f in found if f is not None), None)
    if not isinstance(node, dict):
        return None
    if node.get("type") == "array" and "items" not in node:
        return where
    found = (_arrays_without_items(v, (*where, k)) for k, v in node.items())
    return next((f for f in found if f is not None), None)


def openai_tool_schemas(request: Received) -> Reply | None:
    """OpenAI checks each tool's parameters: an array schema needs ``items`` (strict or not)."""
    for i, tool in enumerate(request.body.get("tools") or []):
        function = tool.get("function", {})
        length = len(function.get("description", ""))
        if length > 1024:
            return openai_error(
                400,
                f"Invalid 'tools[{i}].function.description': string too long. Expected a string "
                f"with maximum length 1024, but got a string with length {length} instead.",
                param=f"tools[{i}].function.description",
                code="string_above_max_length",
            )
        where = _arrays_without_items(function.get("parameters", {}))
        if where is not None:
            return openai_error(
                400,
                f"Invalid schema for function '{function.get('name')}': In context={where}, "
                "array schema missing items.",
                param=f"tools[{i}].function.parameters",
                code="invalid_function_parameters",
            )
    return None


def needs_key(request: Received) -> Reply | None:
    if not request.headers.get("authorization", "").startswith("Bearer sk-"):
        return Reply(401, {"error": {"message": "No auth credentials found", "code": 401}})
    return None


def openai_reasoning(request: Received) -> Reply | None:
    """o-series and gpt-5: only the default temperature; no top_p; no max_tokens."""
    body = request.body
    if "max_tokens" in body:
        return openai_error(
            400,
            "Unsupported parameter: 'max_tokens' is not supported with this model. "
            "Use 'max_completion_tokens' instead.",
            param="max_tokens",
            code="unsupported_parameter",
        )
    if body.get("temperature", 1) != 1:
        return openai_error(
            400,
            f"Unsupported value: 'temperature' does not support {body['temperature']} with this "
            "model. Only the default (1) value is supported.",
            param="temperature",
            code="unsupported_value",
        )
    if "top_p" in body:
        return openai_error(
            400,
            "Unsupported parameter: 'top_p' is not supported with this model.",
            param="top_p",
            code="unsupported_parameter",
        )
    return None


def vllm(flags: Sequence[str]) -> Check:
    """vLLM started with ``flags``: tool choice needs the parser flags; history args parsed."""
    tool_parser = "--enable-auto-tool-choice" in flags and "--tool-call-parser" in flags

    def check(request: Received) -> Reply | None:
        auto = request.body.get("tools") and request.body.get("tool_choice", "auto") == "auto"
        if auto and not tool_parser:
            return vllm_error(
                '"auto" tool choice requires --enable-auto-tool-choice and '
                "--tool-call-parser to be set"
            )
        for message in request.messages:
            for call in message.get("tool_calls") or []:
                try:
                    args = json.loads(call["function"]["arguments"])
                except (ValueError, TypeError) as exc:
                    return vllm_error(f"1 validation error for ChatCompletionRequest: {exc}")
                if not isinstance(args, dict):
                    return vllm_error("tool call arguments must be a JSON object")
        return None

    return check


_MISTRAL_ID = re.compile(r"^[a-zA-Z0-9]{9}$")


def mistral_ids(request: Received) -> Reply | None:
    for message in request.messages:
        ids = [c.get("id", "") for c in message.get("tool_calls") or []]
        if message.get("role") == "tool":
            ids.append(message.get("tool_call_id", ""))
        for found in ids:
            if not _MISTRAL_ID.match(str(found)):
                return Reply(
                    400,
                    {
                        "object": "error",
                        "message": f"Tool call id was {found} but must be a-z, A-Z, 0-9, "
                        "with a length of 9.",
                        "type": "invalid_request_error",
                        "param": None,
                        "code": None,
                    },
                )
    return None


def no_system_role(request: Received) -> Reply | None:
    """A chat template without a system turn (Gemma 2 on vLLM or llama.cpp --jinja)."""
    if any(m.get("role") == "system" for m in request.messages):
        return vllm_error("System role not supported")
    return None


def ollama_without_tools(model: str) -> Check:
    def check(request: Received) -> Reply | None:
        if request.body.get("tools"):
            message = f"registry.ollama.ai/library/{model} does not support tools"
            return Reply(400, {"error": {"message": message, "type": "api_error"}})
        return None

    return check


def llama_cpp(flags: Sequence[str]) -> Check:
    jinja = "--jinja" in flags

    def check(request: Received) -> Reply | None:
        if jinja:
            return None
        if request.body.get("tools"):
            return Reply(
                400,
                {
                    "error": {
                        "code": 400,
                        "message": "tools param requires --jinja flag",
                        "type": "invalid_request_error",
                    }
                },
            )
        for message in request.messages:
            if not isinstance(message.get("content"), str):
                return Reply(500, {"error": {"code": 500, "message": "Missing 'content'"}})
        return None

    return check


def litellm_drop_params(upstream: str) -> Check:
    """A LiteLLM proxy in front of an o-series model, without ``drop_params``."""

    def check(request: Received) -> Reply | None:
        if "temperature" in request.body and request.body["temperature"] != 1:
            message = (
                f"litellm.UnsupportedParamsError: openai does not support parameters: "
                f"['temperature'], for model={upstream}. To drop these, set "
                "`litellm.drop_params=True` or for proxy:\n\n`litellm_settings:\n drop_params: "
                "true`\n. \n If you want to use these params dynamically send allowed_openai_params"
                "=['temperature'] in your request."
            )
            return Reply(
                400, {"error": {"message": message, "type": "None", "param": None, "code": "400"}}
            )
        return None

    return check


def all_of(*checks: Check) -> Check:
    def check(request: Received) -> Reply | None:
        return next((r for c in checks if (r := c(request)) is not None), None)

    return check


@dataclass
class StandIn:
    """A named stand-in: its checks, its model, and a model name a user would pass."""

    name: str
    model: str
    check: Check
    driver: Driver = field(default_factory=Driver)

    def server(self, script: Sequence[Reply] = ()) -> FakeLLM:
        return FakeLLM(list(script), responder=self.driver, validator=self.check)


def standins() -> dict[str, StandIn]:
    """The matrix: one stand-in per server (and per documented misconfiguration)."""
    vllm_flags = ["--enable-auto-tool-choice", "--tool-call-parser", "hermes"]
    return {
        "openai": StandIn(
            "openai", "gpt-4o-mini", all_of(needs_key, openai_tool_schemas, openai_history)
        ),
        "openai-reasoning": StandIn(
            "openai-reasoning", "o4-mini", all_of(needs_key, openai_reasoning, openai_history)
        ),
        "vllm": StandIn(
            "vllm", "Qwen/Qwen2.5-7B-Instruct", vllm(vllm_flags), Driver(make_id=vllm_id)
        ),
        "vllm-no-tool-parser": StandIn(
            "vllm-no-tool-parser", "Qwen/Qwen2.5-7B-Instruct", vllm([]), Driver(make_id=vllm_id)
        ),
        "mistral": StandIn(
            "mistral",
            "mistral-small-latest",
            all_of(mistral_ids, openai_history),
            Driver(make_id=mistral_id),
        ),
        "ollama": StandIn("ollama", "qwen2.5:7b", openai_history, Driver(style="hermes")),
        "ollama-no-tools": StandIn(
            "ollama-no-tools", "gemma2:2b", ollama_without_tools("gemma2:2b"), Driver()
        ),
        "llama.cpp": StandIn("llama.cpp", "qwen2.5", llama_cpp([]), Driver(style="json")),
        "litellm": StandIn(
            "litellm", "planner", all_of(litellm_drop_params("o3-mini"), openai_history)
        ),
        "openrouter": StandIn(
            "openrouter", "openai/gpt-4o-mini", all_of(needs_key, openai_history)
        ),
    }
