"""Provider profiles: how a chat-completions request adapts to the server and model behind it.

OpenAI-compatible servers differ in what they accept. A profile is data -- one row per
provider or model family -- saying which optional parameters to send and how, and which hint
to give when the server refuses something. ``profile_for`` picks the first row whose host and
model patterns match; ``LLMPlanner(profile=...)`` overrides it by name, by a ``Profile``, or by
a mapping of fields to change (``{"send_temperature": False}``).

What every profile shares, because every server accepts it:

* tool-call ids in the history are ours, 9 alphanumeric characters derived from the step
  (Mistral's rule, which everyone else accepts), so forks and resumed runs send the same ids;
* a malformed call is sent back as a well-formed stub plus the rejection (``llm_history``);
* a server that answers "unsupported parameter" gets the same call once more without it,
  and the adaptation is recorded in the decision step (``adapt_to_error``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any, Literal

from reprolam.errors import ConfigError

ToolMode = Literal["native", "text", "auto"]
TOOL_MODES: tuple[str, ...] = ("native", "text", "auto")
# Parameters a request may do without: a server refusing one is asked again without it.
OPTIONAL_PARAMS = (
    "temperature",
    "top_p",
    "seed",
    "max_tokens",
    "max_completion_tokens",
    "tool_choice",
    "parallel_tool_calls",
)


@dataclass(frozen=True, slots=True)
class Profile:
    """How to talk to one provider or model family (see the README's provider table)."""

    name: str
    hosts: tuple[str, ...] = ()  # host suffixes, e.g. "api.openai.com"; () matches any host
    models: str = ""  # regex searched in the model's last path segment; "" matches any model
    send_temperature: bool = True
    send_top_p: bool = True
    max_tokens_param: str = "max_tokens"  # or "max_completion_tokens" (OpenAI reasoning models)
    default_max_tokens: int = 1024  # when the planner's max_tokens is not set explicitly
    tool_choice: str | None = None  # "auto" to send it; None: leave it to the server
    parallel_tool_calls: bool | None = None  # False to ask for one call per turn; None: omit
    hint: str = ""  # the likely server-side cause when tool calling is refused

    def matches(self, host: str, model: str) -> bool:
        hostname = host.split(":", maxsplit=1)[0]
        if self.hosts and not any(hostname.endswith(h) for h in self.hosts):
            return False
        return not self.models or re.search(self.models, model.rsplit("/", 1)[-1]) is not None

    def describe(self) -> dict[str, Any]:
        """The profile as recorded with the run's planner config."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("hosts",)}


_REASONING = r"^(o\d+|gpt-5)([-.:_].*)?$"
# Ordered: the first match wins. Model-family rows come before host rows, so that an
# o-series model behind OpenRouter or a LiteLLM proxy still gets the reasoning rules.
PROFILES: tuple[Profile, ...] = (
    Profile(
        "openai-reasoning",
        models=_REASONING,
        send_temperature=False,  # only the default (1) is accepted
        send_top_p=False,
        max_tokens_param="max_completion_tokens",  # max_tokens is refused
        default_max_tokens=8192,  # reasoning tokens count against it
        hint="OpenAI reasoning models (o-series, gpt-5) take no temperature or top_p",
    ),
    Profile(
        "mistral",
        models=r"(?i)(mistral|mixtral|codestral|ministral|magistral|devstral|pixtral)",
        tool_choice="auto",
        hint="Mistral needs tool-call ids of 9 alphanumeric characters (sent that way)",
    ),
    Profile("openai", hosts=("api.openai.com",), tool_choice="auto", parallel_tool_calls=False),
    Profile("openrouter", hosts=("openrouter.ai",), tool_choice="auto"),
    Profile(
        "ollama",
        hosts=("localhost", "127.0.0.1"),
        models=r"^[\w.-]+:[\w.-]+$",  # Ollama names carry a tag: llama3.1:8b, qwen2.5:7b
        hint="this Ollama model may not support tools: pull one that does (llama3.1, qwen2.5) "
        "or pass tool_mode='text'",
    ),
    Profile(
        "generic",
        hint="vLLM needs --enable-auto-tool-choice --tool-call-parser NAME; llama.cpp needs "
        "--jinja; Ollama needs a model with tool support (or use tool_mode='text')",
    ),
)
PROFILE_NAMES = tuple(p.name for p in PROFILES)
_BY_NAME = {p.name: p for p in PROFILES}


def profile_for(
    host: str, model: str, override: str | Profile | Mapping[str, Any] | None = None
) -> Profile:
    """The profile for this endpoint: the first matching row, then the override applied."""
    if isinstance(override, Profile):
        return override
    if isinstance(override, str):
        if override not in _BY_NAME:
            raise ConfigError(
                f"unknown LLM profile {override!r}: choose one of {', '.join(PROFILE_NAMES)}"
            )
        return _BY_NAME[override]
    found = next(p for p in PROFILES if p.matches(host, model))
    if override:
        known = {f.name for f in fields(Profile)}
        unknown = sorted(set(override) - known)
        if unknown:
            raise ConfigError(
                f"unknown LLM profile field {', '.join(unknown)}: known fields are "
                f"{', '.join(sorted(known))}"
            )
        found = replace(found, **dict(override))
    return found


# -- adapting to a server's refusal -----------------------------------------------------------

_REFUSAL = re.compile(
    r"unsupported|not supported|does not support|unrecognized|unknown|not allowed|"
    r"extra (inputs|fields)|not permitted|invalid",
    re.IGNORECASE,
)
_TOOLS_REFUSED = re.compile(
    r"tools? param requires --jinja|does not support tools|"
    r"tool choice requires --enable-auto-tool-choice|--tool-call-parser|"
    r"tools? (is|are) not supported|tool calling is not supported|"
    r"does not support (function|tool) calling|"
    r"no endpoints found that support tool use",  # OpenRouter, HTTP 404
    re.IGNORECASE,
)
# chat templates without a system turn (Gemma 2's on vLLM or llama.cpp --jinja) raise this
_SYSTEM_REFUSED = re.compile(r"system role not supported|system role is not supported", re.I)
SYSTEM_MERGED = "merged into the first user message"
# OpenRouter answers 404 when no provider of the model takes a feature of the request
_NO_ENDPOINT_FOR = re.compile(r"no endpoints found that support the provided '(\w+)'", re.I)


@dataclass(frozen=True, slots=True)
class Adaptation:
    """One change to the request after the server refused it, recorded in the decision."""

    param: str
    change: str  # "dropped", "renamed to max_completion_tokens", "switched to tool_mode=text"
    because: str  # the server's message, shortened

    def record(self) -> dict[str, str]:
        return {"param": self.param, "change": self.change, "because": self.because}


def adapt_to_error(
    request: Mapping[str, Any], status: int | None, message: str, param: Any = None
) -> Adaptation | None:
    """What to change in ``request`` so the server accepts it, or ``None`` if nothing helps.

    ``message`` is the server's error text (the whole body, for proxies such as LiteLLM that
    wrap the upstream error in their own); ``param`` the error's ``param`` field, if any.
    """
    if status not in (400, 404, 422, 500):
        return None
    short = " ".join(message.split())[:300]
    if "tools" in request and _TOOLS_REFUSED.search(message):
        return Adaptation("tools", "switched to tool_mode=text", short)
    if _SYSTEM_REFUSED.search(message):
        return Adaptation("system", SYSTEM_MERGED, short)
    if status == 404:  # a model not found stays an error; a feature no provider takes does not
        named = _NO_ENDPOINT_FOR.search(message)
        if named is None or named[1] not in OPTIONAL_PARAMS or named[1] not in request:
            return None
        return Adaptation(named[1], "dropped", short)
    if not _REFUSAL.search(message) and not param:
        return None
    candidates = [param] if isinstance(param, str) and param in request else []
    candidates += [p for p in OPTIONAL_PARAMS if p in request and _names(message, p)]
    for name in candidates:
        if name not in OPTIONAL_PARAMS:
            continue
        if name == "max_tokens" and "max_completion_tokens" in message:
            return Adaptation(name, "renamed to max_completion_tokens", short)
        return Adaptation(name, "dropped", short)
    return None


def without_system(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``messages`` with the system message's text put before the first user message's."""
    if not messages or messages[0].get("role") != "system":
        return messages
    system, rest = str(messages[0].get("content") or ""), messages[1:]
    if rest and rest[0].get("role") == "user":
        first = {**rest[0], "content": f"{system}\n\n{rest[0].get('content') or ''}"}
        return [first, *rest[1:]]
    return [{"role": "user", "content": system}, *rest]


def _names(message: str, param: str) -> bool:
    """Whether the message names ``param`` as a word ('max_tokens', not max_completion_tokens)."""
    return re.search(rf"(?<![\w-]){re.escape(param)}(?![\w-])", message) is not None


def apply(request: dict[str, Any], adaptation: Adaptation) -> None:
    """Change ``request`` in place as ``adaptation`` says (tools are the caller's business)."""
    if adaptation.param == "tools":
        return
    if adaptation.param == "system":
        request["messages"] = without_system(request["messages"])
        return
    value = request.pop(adaptation.param, None)
    if adaptation.change.startswith("renamed to "):
        request[adaptation.change.removeprefix("renamed to ")] = value
