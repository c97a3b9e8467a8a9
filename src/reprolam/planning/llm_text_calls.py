"""Tool calls from a model: bounded JSON, calls written as text, and the proposal they make.

Everything here reads untrusted text from a server and must never raise anything but
``ValueError`` with a reason a model can act on: no ``RecursionError`` from nesting a
thousand levels deep, no quadratic work on a megabyte of braces.

Models without native tool calling (many Ollama and llama.cpp models, any model in
``tool_mode='text'``) write the call in their reply. ``calls_from_text`` recognises the
common conventions, most explicit first:

* Hermes / Qwen: ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>`` (the closing
  tag may be missing when the reply was cut off);
* Llama 3.1+: ``<|python_tag|>{"name": ..., "parameters": {...}}``;
* Mistral: ``[TOOL_CALLS][{"name": ..., "arguments": {...}}]``;
* a fenced ```` ```json ```` block, or a bare JSON object, naming a known tool.

Reasoning models run on such servers (DeepSeek-R1, Qwen3, QwQ, Magistral) think aloud first,
in ``<think>...</think>`` (or ``[THINK]...[/THINK]``), and may weigh calls there that they
then do not make: only the answer after the reasoning is searched.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from reprolam.planning.base import Proposal
from reprolam.trace.records import storable

MAX_DEPTH = 32  # a tool call's arguments: far deeper than any schema we publish
MAX_BODY_DEPTH = 64  # a whole response body
_SCAN_CHARS = 200_000
_BRACKETS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def nesting_depth(text: str, limit: int) -> int:
    """How deep ``[]``/``{}`` nest in ``text`` (strings skipped), stopping past ``limit``."""
    depth = deepest = 0
    for match in _BRACKETS.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    break
        elif token in "]}":
            depth -= 1
    return deepest


def loads(text: str, *, max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads`` for untrusted text: strict JSON, nesting at most ``max_depth`` levels."""
    if nesting_depth(text, max_depth) > max_depth:
        raise ValueError(f"JSON nested deeper than {max_depth} levels")
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:  # unreachable after the depth check; kept as a last line of defence
        raise ValueError(f"JSON nested deeper than {max_depth} levels") from None
    # A "\ud800" escape with no pair decodes to a lone surrogate, which no store can hold:
    # recorded as its escape text instead (what the model sent, readable).
    return storable(value) if _SURROGATE_ESCAPE.search(text) else value


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


@dataclass(frozen=True, slots=True)
class TextCall:
    """A tool call found in a reply's text."""

    name: str
    arguments: Any  # a dict, or the JSON text as written when it did not parse
    convention: str  # "hermes", "python_tag", "mistral", "fenced", "json"


_HERMES = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.DOTALL)
_PYTHON_TAG = re.compile(r"<\|python_tag\|>\s*(.*?)\s*(?:<\|eom_id\|>|<\|eot_id\|>|$)", re.DOTALL)
_MISTRAL = re.compile(r"\[TOOL_CALLS\]\s*(.*)$", re.DOTALL)
_FENCED = re.compile(r"```(?:json|JSON|tool_call)?\s*\n?(.*?)```", re.DOTALL)
_THOUGHT_END = re.compile(r"</think(?:ing)?>|\[/THINK\]", re.IGNORECASE)
_THOUGHT_START = re.compile(r"<think(?:ing)?>|\[THINK\]", re.IGNORECASE)


def without_reasoning(text: str) -> str:
    """The reply after the model's reasoning: past the last closing tag (some chat templates
    open the block in the prompt, so the reply holds only its end), and short of a block
    still open (a reply cut off while the model was thinking has no answer)."""
    ends = [match.end() for match in _THOUGHT_END.finditer(text)]
    if ends:
        text = text[ends[-1] :]
    start = _THOUGHT_START.search(text)
    return text if start is None else text[: start.start()]


def calls_from_text(text: str, tools: Collection[str]) -> list[TextCall]:
    """The tool calls written in ``text`` (empty when there are none).

    Tagged conventions are taken at their word: the tag says "this is a call", so a call
    whose JSON is broken is still returned (with its text as ``arguments``) and becomes a
    rejection the model can correct. Untagged JSON counts only when it names one of
    ``tools`` -- a model quoting some data is not calling anything. A model's reasoning
    (``without_reasoning``) is not searched.
    """
    text = without_reasoning(text)
    for convention, pattern in (("hermes", _HERMES), ("python_tag", _PYTHON_TAG)):
        bodies = [m.group(1) for m in pattern.finditer(text) if m.group(1)]
        if bodies:
            return [_tagged(body, convention) for body in bodies]
    mistral = _MISTRAL.search(text)
    if mistral:
        found = _objects(mistral.group(1), tools=None)
        return [_call(obj, "mistral") for obj in found] or [
            TextCall("", mistral.group(1), "mistral")
        ]
    for block in _FENCED.finditer(text):
        found = _objects(block.group(1), tools)
        if found:
            return [_call(found[0], "fenced")]
    found = _objects(text, tools)
    return [_call(found[0], "json")] if found else []


def _tagged(body: str, convention: str) -> TextCall:
    try:
        value = loads(body, max_depth=MAX_DEPTH + 2)
    except ValueError:
        return TextCall(_guess_name(body), body, convention)
    if isinstance(value, list) and value:
        value = value[0]
    return _call(value, convention) if isinstance(value, dict) else TextCall("", body, convention)


def _guess_name(body: str) -> str:
    match = re.search(r'"name"\s*:\s*"([^"]{1,100})"', body)
    return match.group(1) if match else ""


def _call(obj: Any, convention: str) -> TextCall:
    """``{"name", "arguments"|"parameters"}``, or OpenAI's ``{"function": {...}}`` shape."""
    if not isinstance(obj, dict):
        return TextCall("", obj, convention)
    if isinstance(obj.get("function"), dict):
        obj = obj["function"]
    name = obj.get("name") or obj.get("tool") or ""
    arguments: Any = next((obj[k] for k in ("arguments", "parameters", "args") if k in obj), {})
    return TextCall(str(name), arguments, convention)


def _objects(text: str, tools: Collection[str] | None) -> list[Any]:
    """JSON objects (or arrays of them) in ``text`` that name a tool (any, if ``tools`` is None)."""
    decoder = json.JSONDecoder(parse_constant=_reject_constant)
    found: list[Any] = []
    position = 0
    text = text[:_SCAN_CHARS]  # a call is near the start; a megabyte of prose is not searched
    for _attempt in range(64):  # bounded work on a reply full of braces
        start = _next_open(text, position)
        if start < 0 or len(found) >= 8:
            break
        try:
            if nesting_depth(text[start : start + 100_000], MAX_DEPTH + 2) > MAX_DEPTH + 2:
                break
            value, end = decoder.raw_decode(text, start)
        except (ValueError, RecursionError):
            position = start + 1
            continue
        position = end
        for item in value if isinstance(value, list) else [value]:
            if _names_tool(item, tools):
                found.append(item)
    return found


def _next_open(text: str, position: int) -> int:
    starts = [i for i in (text.find("{", position), text.find("[", position)) if i >= 0]
    return min(starts) if starts else -1


def _names_tool(item: Any, tools: Collection[str] | None) -> bool:
    if not isinstance(item, dict):
        return False
    inner: dict[str, Any] = item["function"] if isinstance(item.get("function"), dict) else item
    name = inner.get("name") or inner.get("tool")
    return isinstance(name, str) and (tools is None or name in tools)


# -- tool calls -> proposals (shared with the simulated planner) ------------------------------


def proposal_from_tool_call(
    name: str, arguments: Any, *, rationale: str = "", decision: Mapping[str, Any] | None = None
) -> Proposal:
    """Map one tool call to a ``Proposal``; malformed arguments give an invalid one.

    ``arguments`` is the JSON text the model sent (some servers, and text calls, give an
    object instead). The record (``decision``) gains ``parsed``: the action, params and input
    bindings exactly as given -- what a reproduction needs to replay this step without the
    model -- or ``invalid``: why it could not be read.
    """
    # The name becomes the step's action column, which PostgreSQL cannot hold a NUL in: it is
    # written as its escape, so the call is rejected as naming no tool, never a failed record.
    name = name.replace("\x00", "\\x00")
    record = dict(decision or {})
    args: Any = arguments
    problem = None
    if isinstance(arguments, str):
        try:
            args = loads(arguments or "{}")
        except ValueError as exc:
            problem = f"its arguments are not valid JSON ({exc}): {arguments[:200]!r}"
    elif nesting_depth(_json_or_empty(arguments), MAX_DEPTH) > MAX_DEPTH:
        problem = f"its arguments are nested deeper than {MAX_DEPTH} levels"
    if problem is None and not isinstance(args, dict):
        problem = f"its arguments must be a JSON object, got {type(args).__name__}: {args!r:.200}"
    params: dict[str, Any] = dict(args) if problem is None else {}
    inputs = params.pop("inputs", None) or {}
    if problem is None and (
        not isinstance(inputs, dict) or not all(isinstance(v, str) for v in inputs.values())
    ):
        problem = f"`inputs` must map input names to artifact names, got {inputs!r:.200}"
    if problem is not None:
        reason = f"tool call {name[:100]!r} is malformed: {problem}; send one JSON object that"
        reason += " matches the tool's parameters schema"
        record["invalid"] = reason
        return Proposal(name, rationale=rationale, decision=record, invalid_reason=reason)
    record["parsed"] = {"action": name, "params": params, "inputs": inputs}
    return Proposal(name, params=params, inputs=inputs, rationale=rationale, decision=record)


def _json_or_empty(value: Any) -> str:
    try:
        return json.dumps(value)
    except (TypeError, ValueError, RecursionError):
        return "[" * (MAX_DEPTH + 1)  # unserialisable or too deep: treat as too deep
