"""The conversation an LLM planner sends, rebuilt from the run state on every call.

System instructions and the goal, then for every step so far the call and its answer
(result, failure or rejection reason), then a user message with the artifacts available
now and the feedback on the last turn. Rebuilding from the state instead of keeping a chat
in memory makes the prompt a function of the trace: forks and resumed runs get the same
conversation, and steps planned by others (a fork's inherited prefix) appear as calls too.

The history is one every server accepts, whatever the model did:

* call ids are ours (``call_id``): 9 alphanumeric characters derived from the step, the one
  format Mistral accepts and everyone else does too; the server's own ids stay in the trace;
* a malformed or truncated call goes back as a well-formed one (``{}`` arguments) answered
  with the rejection reason -- vLLM parses every call in the history, and one broken call
  replayed verbatim would make every later request fail;
* a call the model wrote as text goes back as text, answered in a user message; in text
  mode (no tools sent) every step does, since such servers know no ``tool`` role;
* the model's own words are fed back at most ``MAX_REPLY_CHARS`` long (the full reply is in
  the trace once, in the step that received it);
* consecutive user messages are merged (chat templates that require alternating roles);
* past ``budget`` characters, the oldest step results are elided with a marker first.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from reprolam.planning.base import RunState
from reprolam.trace.records import StepKind, StepRecord, StepStatus

DONE_TOOL = "done"
MAX_REPLY_CHARS = 2000  # of a model's reply, when it is fed back to it
DEFAULT_BUDGET = 48_000  # characters of messages (about 12k tokens) before old results elide
ELIDED = "older result elided to fit the prompt budget"
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_SYSTEM = (
    "You plan a reproducible scientific workflow. Each tool is an action with typed, bounded "
    "params; an action's inputs are artifacts produced by earlier actions and are bound by "
    "name unless you pass `inputs`. Call exactly one tool per turn. The engine checks your "
    "call against its policy, runs it, records it, and answers with the result or with the "
    "reason it was rejected: read it and correct your next call. The run ends by itself once "
    "the required outputs exist; call `{done}` only if the goal cannot be reached, saying why."
)
_TEXT_TOOLS = (
    "\n\nYou call a tool by answering with exactly one JSON object and nothing else:\n"
    '{{"name": "<tool name>", "arguments": {{<the tool\'s parameters>}}}}\n'
    "The tools (name: description; parameters as JSON Schema):\n{tools}"
)


def call_id(step: int, position: int = 0) -> str:
    """A tool-call id for the history: 9 alphanumeric characters, a function of the step."""
    number = int.from_bytes(hashlib.sha256(f"reprolam:{step}:{position}".encode()).digest()[:8])
    chars = []
    for _ in range(9):
        number, digit = divmod(number, len(_ALPHABET))
        chars.append(_ALPHABET[digit])
    return "".join(chars)


def done_tool_name(state: RunState) -> str:
    """``done``, unless the workflow has an action of that name."""
    return DONE_TOOL if DONE_TOOL not in state.workflow.actions else f"reprolam_{DONE_TOOL}"


def tool_definitions(state: RunState) -> list[dict[str, Any]]:
    done = {
        "type": "function",
        "function": {
            "name": done_tool_name(state),
            "description": "End the run now. It ends by itself once the required outputs exist: "
            "call this only if the goal cannot be reached, and say why.",
            "parameters": {
                "type": "object",
                "properties": {"reason": {"type": "string", "description": "why the run ends"}},
                "required": ["reason"],
            },
        },
    }
    return [*state.workflow.actions.tool_definitions(), done]


def clip(text: str, limit: int = MAX_REPLY_CHARS, *, where: str = "") -> str:
    """``text`` cut to ``limit`` characters with a marker saying how much is left out."""
    if len(text) <= limit:
        return text
    marker = f" [... {len(text) - limit} more characters elided"
    return text[:limit] + marker + (f"; the full text is in {where}]" if where else "]")


@dataclass(slots=True)
class Prompt:
    """The messages of one request, and what they showed (recorded with the decision)."""

    messages: list[dict[str, Any]]
    summaries: dict[str, str] = field(default_factory=dict)  # "step N" -> action summary
    elided: list[int] = field(default_factory=list)  # steps whose results were elided
    chars: int = 0

    def record(self) -> dict[str, Any]:
        found: dict[str, Any] = {"chars": self.chars}
        if self.summaries:
            found["summaries"] = self.summaries
        if self.elided:
            found["elided_results"] = self.elided
        return found


def build_prompt(
    state: RunState,
    *,
    native: bool = True,
    budget: int = DEFAULT_BUDGET,
    tools: Sequence[Mapping[str, Any]] = (),
) -> Prompt:
    """The messages for the next call; ``native=False`` for a request without tools."""
    system = _SYSTEM.format(done=done_tool_name(state))
    if not native:
        system += _TEXT_TOOLS.format(tools="\n".join(_tool_line(t) for t in tools))
    head = [{"role": "system", "content": system}, {"role": "user", "content": _goal(state)}]
    shown = [s for s in state.steps if _shown(s)]
    full = [_step_messages(s, state, native=native, elide=False) for s in shown]
    tail = [{"role": "user", "content": _turn_prompt(state)}]
    size = sum(_size(m) for m in [*head, *tail]) + sum(_size(m) for ms in full for m in ms)
    elided: list[int] = []
    for position, step in enumerate(shown[:-1]):  # the newest result always stays
        if size <= budget:
            break
        short = _step_messages(step, state, native=native, elide=True)
        size += sum(_size(m) for m in short) - sum(_size(m) for m in full[position])
        full[position] = short
        elided.append(step.index)
    summaries = {
        f"step {s.index}": state.step_summaries[s.index]
        for s in shown
        if s.index in state.step_summaries and s.index not in elided
    }
    messages = _merge_users([*head, *(m for ms in full for m in ms), *tail])
    return Prompt(messages, summaries, elided, size)


def build_messages(state: RunState, *, native: bool = True) -> list[dict[str, Any]]:
    return build_prompt(state, native=native, tools=tool_definitions(state)).messages


def _size(message: Mapping[str, Any]) -> int:
    return len(json.dumps(message))


def _tool_line(tool: Mapping[str, Any]) -> str:
    function = tool.get("function", {})
    schema = json.dumps(function.get("parameters", {}), sort_keys=True)
    return f"- {function.get('name')}: {function.get('description', '')} {schema}"


def _goal(state: RunState) -> str:
    flow = state.workflow
    goal = [f"Workflow: {flow.name}" + (f" ({flow.description})" if flow.description else "")]
    if flow.goal:
        goal.append(f"Goal: {flow.goal}")
    goal.append(f"The run is complete when these artifacts exist: {', '.join(flow.outputs)}.")
    return "\n".join(goal)


def _shown(step: StepRecord) -> bool:
    # failed planner calls reached no engine: they are told in the turn prompt instead
    return step.kind is not StepKind.DECISION and step.status is not StepStatus.STARTED


def _merge_users(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    merged: list[dict[str, Any]] = []
    for message in messages:
        if merged and message["role"] == "user" and merged[-1]["role"] == "user":
            joined = f"{merged[-1]['content']}\n\n{message['content']}"
            merged[-1] = {"role": "user", "content": joined}
        else:
            merged.append(message)
    return merged


def _step_messages(
    step: StepRecord, state: RunState, *, native: bool, elide: bool
) -> list[dict[str, Any]]:
    decision: Mapping[str, Any] = step.proposal.get("decision") or {}
    where = f"step {step.index} of the trace"
    said = clip(str(decision.get("text") or ""), where=where)
    result = _step_result(step, state, elide=elide)
    native_calls = list(decision.get("tool_calls") or [])
    text_calls = list(decision.get("text_calls") or [])
    if not native_calls and not text_calls and "tool_calls" not in decision:
        # planned by someone else (a fork's inherited prefix, a script): a synthetic call
        native_calls = [{"name": step.action, "arguments": _planned_arguments(step)}]
    if not native_calls and not text_calls:  # the model answered in prose: nothing to answer
        return [
            {"role": "assistant", "content": said or "(empty reply)"},
            {"role": "user", "content": f"Rejected: {result.get('reason', 'no tool call')}"},
        ]
    if native and native_calls:
        return _native_exchange(step, native_calls, said, result)
    calls = native_calls or text_calls
    wrote = said or json.dumps({"name": calls[0].get("name"), "arguments": _well_formed(step)})
    answer = f"Result of your call: {json.dumps(result)}"
    if len(calls) > 1:
        answer += " (only the first tool call of a turn is considered)"
    return [{"role": "assistant", "content": wrote}, {"role": "user", "content": answer}]


def _native_exchange(
    step: StepRecord, calls: list[Mapping[str, Any]], said: str, result: dict[str, Any]
) -> list[dict[str, Any]]:
    ids = [call_id(step.index, i) for i in range(len(calls))]
    assistant = {
        "role": "assistant",
        "content": said or None,
        "tool_calls": [
            {
                "id": ids[i],
                "type": "function",
                "function": {
                    "name": _tool_name(c.get("name")),
                    # the arguments as the policy understood them, never a broken text
                    "arguments": json.dumps(_well_formed(step) if i == 0 else {}, sort_keys=True),
                },
            }
            for i, c in enumerate(calls)
        ],
    }
    ignored = {"status": "ignored", "reason": "only the first tool call of a turn is considered"}
    answers = [_tool_message(ids[0], result)]
    answers += [_tool_message(i, ignored) for i in ids[1:]]
    return [assistant, *answers]


def unsendable_tool_names(tools: Sequence[Mapping[str, Any]]) -> list[str]:
    """The tool names OpenAI, Mistral and Gemini refuse (not 1-64 of a-z, A-Z, 0-9, _, -):
    an action named ``données``, or longer than 64 characters, is a Python identifier."""
    names = (str(t.get("function", {}).get("name", "")) for t in tools)
    return [name for name in names if not _TOOL_NAME.match(name)]


def _tool_name(name: Any) -> str:
    text = str(name or "")
    return text if _TOOL_NAME.match(text) else "invalid_tool_name"


def _planned_arguments(step: StepRecord) -> dict[str, Any]:
    args = dict(step.proposal.get("params") or {})
    if step.proposal.get("inputs"):
        args["inputs"] = step.proposal["inputs"]
    return args


def _well_formed(step: StepRecord) -> dict[str, Any]:
    """The call's arguments if the policy could read them; ``{}`` for a malformed call."""
    decision: Mapping[str, Any] = step.proposal.get("decision") or {}
    parsed = decision.get("parsed")
    if isinstance(parsed, Mapping):
        args = dict(parsed.get("params") or {})
        if parsed.get("inputs"):
            args["inputs"] = parsed["inputs"]
        return args
    if "invalid" in decision:
        return {}
    return _planned_arguments(step)


def _tool_message(call_id: str, content: Mapping[str, Any]) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": call_id, "content": json.dumps(content)}


def _step_result(step: StepRecord, state: RunState, *, elide: bool) -> dict[str, Any]:
    result: dict[str, Any] = {"step": step.index, "status": step.status.value}
    if step.kind is StepKind.REJECTION and step.error is not None:
        result["reason"] = clip(step.error.message, 600)
        return result
    if step.error is not None:
        result["error"] = clip(f"{step.error.type}: {step.error.message}", 600)
        return result
    if elide:
        result["elided"] = ELIDED
        return result
    if step.params:
        result["params"] = step.params
    result["outputs"] = {
        name: f"{key[:12]}: {state.summaries.get(key, 'stored')}"
        for name, key in step.outputs.items()
    }
    if step.index in state.step_summaries:
        result["summary"] = state.step_summaries[step.index]
    return result


def _turn_prompt(state: RunState) -> str:
    lines = ["Artifacts available now (name: codec, id, summary):"]
    for name, ref in sorted(state.artifacts.items()):
        summary = state.summaries.get(ref.digest)
        lines.append(
            f"- {name}: {ref.codec}, {ref.digest[:12]}" + (f", {summary}" if summary else "")
        )
    if not state.artifacts:
        lines.append("- none yet")
    missing = [o for o in state.workflow.outputs if o not in state.artifacts]
    lines.append(f"Required outputs still missing: {', '.join(missing)}.")
    rejected = sum(s.kind is StepKind.REJECTION for s in state.steps)
    failed_calls = sum(s.kind is StepKind.DECISION for s in state.steps)
    lines.append(
        f"So far: {state.action_count} actions run ({state.failure_count} failed), "
        f"{rejected} proposals rejected, {failed_calls} planner calls failed."
    )
    if state.feedback:
        lines.append(f"Feedback on the last turn: {clip(state.feedback, 1000)}")
    lines.append("Call the one tool for the next action.")
    return "\n".join(lines)
