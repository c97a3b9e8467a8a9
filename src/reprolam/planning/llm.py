"""The ``llm`` planner: an OpenAI-compatible chat API chooses each action by calling a tool.

Works with any server speaking the chat-completions protocol with tool calling: OpenRouter,
OpenAI, Ollama, vLLM, llama.cpp. One planner consultation is one HTTP call, never hidden
retries, and each call becomes exactly one step of the trace:

* a tool call for an action -> a ``Proposal`` the engine's policy checks (an action step,
  or a rejection whose reason goes back to the model);
* a reply without a tool call, or arguments that are not a JSON object -> a ``Proposal``
  marked ``invalid_reason``, which the policy rejects with that reason;
* a failed call (timeout, connection refused, 429, 5xx...) or a ``done`` before the
  workflow's outputs exist -> a ``NoProposal`` (a failed ``decision`` step).

Protocol (``reprolam-tools/1``): the messages are rebuilt from the run state on every call --
system instructions, the goal, then for every step so far the assistant tool call and a
``tool`` message answering it (result, failure or rejection reason), then a user message
with the artifacts available now and the feedback on the last turn. Rebuilding from the
state instead of keeping a chat in memory makes the prompt a function of the trace: forks
and resumed runs get the same conversation, and steps planned by others (a fork's
inherited prefix) appear as synthetic tool calls.

Every call's decision record holds the request (model, base-URL host, messages, tools,
sampling params), the raw response JSON, the tool call as given, the parsed proposal, token
usage, latency and the error, if any. The API key is sent only in the Authorization header:
it is never recorded, and is scrubbed from anything a server echoes back.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any
from urllib.parse import urlsplit

from reprolam.errors import ConfigError
from reprolam.planning.base import Decision, Done, NoProposal, Proposal, RunState
from reprolam.planning.choose import LLMSettings
from reprolam.trace.records import StepKind, StepRecord, StepStatus

PROTOCOL = "reprolam-tools/1"
OPENROUTER_BASE_URL = "https://openrouter.ai/api/v1"
OPENAI_BASE_URL = "https://api.openai.com/v1"
DEFAULT_MODELS = {"openrouter.ai": "openai/gpt-4o-mini", "api.openai.com": "gpt-4o-mini"}
NO_KEY = "not-needed"  # local servers (Ollama, llama.cpp, vLLM) usually want no key
DONE_TOOL = "done"
REDACTED = "[redacted]"
NOT_CONFIGURED = (
    "the llm planner needs an endpoint: set REPROLAM_LLM_BASE_URL (or {base_url}) to an "
    "OpenAI-compatible server, or OPENROUTER_API_KEY / OPENAI_API_KEY for OpenRouter / OpenAI; "
    "and the model with REPROLAM_LLM_MODEL (or {model})"
)
_SETTINGS = (
    *("temperature", "top_p", "seed", "max_tokens"),
    *("max_calls", "timeout", "max_retries", "retry_backoff"),
)
_RETRYABLE_STATUS = frozenset({408, 409, 429})
_SYSTEM = (
    "You plan a reproducible scientific workflow. Each tool is an action with typed, bounded "
    "params; an action's inputs are artifacts produced by earlier actions and are bound by "
    "name unless you pass `inputs`. Call exactly one tool per turn. The engine checks your "
    "call against its policy, runs it, records it, and answers with the result or with the "
    "reason it was rejected: read it and correct your next call. The run ends by itself once "
    "the required outputs exist; call `{done}` only if the goal cannot be reached, saying why."
)


# -- configuration ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where the LLM lives. The key is kept out of ``repr`` and of everything recorded."""

    base_url: str
    model: str
    api_key: str = field(repr=False)
    key_source: str  # the variable the key came from, "argument", or "none"

    @property
    def host(self) -> str:
        return url_host(self.base_url)

    def describe(self) -> str:
        return f"model {self.model} at {self.host} (API key: {self.key_source})"


def url_host(url: str) -> str:
    """``host[:port]`` of a URL: what is recorded instead of a URL that may carry credentials."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    return f"{host}:{parts.port}" if parts.port else host


def resolve_endpoint(
    *,
    model: str | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Endpoint:
    """Flags first, then the environment; ``ConfigError`` naming the variables to set."""
    env = os.environ if env is None else env
    base_url = base_url or env.get("REPROLAM_LLM_BASE_URL") or None
    if base_url is None:
        if env.get("OPENROUTER_API_KEY"):
            base_url = OPENROUTER_BASE_URL
        elif env.get("OPENAI_API_KEY"):
            base_url = OPENAI_BASE_URL
        else:
            raise ConfigError(NOT_CONFIGURED)
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"LLM base URL with host {url_host(base_url) or '(none)'!r} is not an http(s) URL: "
            "pass e.g. {base_url=http://localhost:11434/v1} (Ollama)"
        )
    hostname = parts.hostname
    # A key goes only to the provider it belongs to: an OpenRouter key never travels to a
    # self-hosted server. OPENAI_API_KEY is the conventional key for OpenAI-compatible ones.
    variable = "OPENROUTER_API_KEY" if hostname.endswith("openrouter.ai") else "OPENAI_API_KEY"
    if api_key:
        key, source = api_key, "argument"
    elif env.get(variable):
        key, source = env[variable], variable
    elif hostname in DEFAULT_MODELS:
        raise ConfigError(f"{hostname} needs an API key: set {variable}")
    else:
        key, source = NO_KEY, "none"
    model = model or env.get("REPROLAM_LLM_MODEL") or DEFAULT_MODELS.get(hostname)
    if not model:
        raise ConfigError(
            f"no model given for the LLM at {url_host(base_url)}: pass {{model}} or set "
            "REPROLAM_LLM_MODEL (e.g. llama3.1 for Ollama, the served name for vLLM)"
        )
    return Endpoint(base_url=base_url, model=model, api_key=key, key_source=source)


def _client(endpoint: Endpoint, timeout: float) -> Any:
    try:
        import openai
    except ImportError:
        raise ConfigError(
            "the llm planner needs the openai package: pip install 'reprolam[llm]'"
        ) from None
    # max_retries=0: the SDK would otherwise retry 429/5xx silently; our retries are steps.
    return openai.OpenAI(
        api_key=endpoint.api_key, base_url=endpoint.base_url, timeout=timeout, max_retries=0
    )


# -- tool calls -> proposals (shared with the simulated planner) ------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def proposal_from_tool_call(
    name: str, arguments: Any, *, rationale: str = "", decision: Mapping[str, Any] | None = None
) -> Proposal:
    """Map one tool call to a ``Proposal``; malformed arguments give an invalid one.

    ``arguments`` is the JSON text the model sent (some servers send an object instead).
    The record (``decision``) gains ``parsed``: the action, params and input bindings exactly
    as given -- what a reproduction needs to replay this step without the model.
    """
    record = dict(decision or {})
    args: Any = arguments
    problem = None
    if isinstance(arguments, str):
        try:
            args = json.loads(arguments or "{}", parse_constant=_reject_constant)
        except ValueError as exc:
            problem = f"its arguments are not valid JSON ({exc}): {arguments[:200]!r}"
    if problem is None and not isinstance(args, dict):
        problem = f"its arguments must be a JSON object, got {type(args).__name__}: {args!r:.200}"
    params: dict[str, Any] = dict(args) if problem is None else {}
    inputs = params.pop("inputs", None) or {}
    if problem is None and (
        not isinstance(inputs, dict) or not all(isinstance(v, str) for v in inputs.values())
    ):
        problem = f"`inputs` must map input names to artifact names, got {inputs!r:.200}"
    if problem is not None:
        reason = f"tool call {name!r} is malformed: {problem}; send one JSON object that matches"
        reason += " the tool's parameters schema"
        record["invalid"] = reason
        return Proposal(name, rationale=rationale, decision=record, invalid_reason=reason)
    record["parsed"] = {"action": name, "params": params, "inputs": inputs}
    return Proposal(name, params=params, inputs=inputs, rationale=rationale, decision=record)


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


# -- the conversation, rebuilt from the run state ---------------------------------------------


def build_messages(state: RunState) -> list[dict[str, Any]]:
    flow = state.workflow
    goal = [f"Workflow: {flow.name}" + (f" ({flow.description})" if flow.description else "")]
    if flow.goal:
        goal.append(f"Goal: {flow.goal}")
    goal.append(f"The run is complete when these artifacts exist: {', '.join(flow.outputs)}.")
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": _SYSTEM.format(done=done_tool_name(state))},
        {"role": "user", "content": "\n".join(goal)},
    ]
    for step in state.steps:
        messages.extend(_step_messages(step, state))
    messages.append({"role": "user", "content": _turn_prompt(state)})
    return messages


def _step_messages(step: StepRecord, state: RunState) -> list[dict[str, Any]]:
    if step.kind is StepKind.DECISION or step.status is StepStatus.STARTED:
        return []  # no tool call reached the engine (failed call) -- told in the turn prompt
    decision: Mapping[str, Any] = step.proposal.get("decision") or {}
    reply_text = decision.get("text") or None
    calls: list[Mapping[str, Any]] = list(decision.get("tool_calls") or [])
    if not calls and "tool_calls" in decision:  # the model answered in prose: no call to answer
        reason = step.error.message if step.error else "no tool call"
        return [
            {"role": "assistant", "content": reply_text or ""},
            {"role": "user", "content": f"Rejected: {reason}"},
        ]
    if not calls:  # planned by someone else (a fork's inherited prefix): a synthetic call
        args = dict(step.proposal.get("params") or {})
        if step.proposal.get("inputs"):
            args["inputs"] = step.proposal["inputs"]
        calls = [{"id": f"step{step.index}", "name": step.action, "arguments": args}]
    assistant = {
        "role": "assistant",
        "content": reply_text,
        "tool_calls": [
            {
                "id": c["id"],
                "type": "function",
                "function": {"name": c["name"], "arguments": _arguments_text(c["arguments"])},
            }
            for c in calls
        ],
    }
    results = [_tool_message(calls[0]["id"], _step_result(step, state))]
    ignored = {"status": "ignored", "reason": "only the first tool call of a turn is considered"}
    results += [_tool_message(c["id"], ignored) for c in calls[1:]]
    return [assistant, *results]


def _arguments_text(arguments: Any) -> str:
    return arguments if isinstance(arguments, str) else json.dumps(arguments, sort_keys=True)


def _tool_message(call_id: str, content: Mapping[str, Any]) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": call_id, "content": json.dumps(content)}


def _step_result(step: StepRecord, state: RunState) -> dict[str, Any]:
    result: dict[str, Any] = {"step": step.index, "status": step.status.value}
    if step.kind is StepKind.REJECTION and step.error is not None:
        result["reason"] = step.error.message
        return result
    if step.error is not None:
        result["error"] = f"{step.error.type}: {step.error.message}"
        return result
    if step.params:
        result["params"] = step.params
    result["outputs"] = {
        name: f"{key[:12]}: {state.summaries.get(key, 'stored')}"
        for name, key in step.outputs.items()
    }
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
        lines.append(f"Feedback on the last turn: {state.feedback}")
    lines.append("Call the one tool for the next action.")
    return "\n".join(lines)


# -- the planner ------------------------------------------------------------------------------


class LLMPlanner:
    """Asks an OpenAI-compatible chat model for the next action, one recorded call per turn.

    Example::

        planner = LLMPlanner(base_url="http://localhost:11434/v1", model="llama3.1")
        Engine(store).run(workflow, planner=planner)

    ``seed=None`` sends the run's seed. Any sampling setting set to ``None`` is not sent
    (some models refuse e.g. ``temperature``). Failed calls are retried up to ``max_retries``
    times with exponential backoff (``retry_backoff`` seconds, doubling), each attempt a
    recorded step; ``max_calls`` caps the calls of one run.
    """

    name = "llm"
    instant = False  # the engine commits every completion before consulting us

    def __init__(
        self,
        endpoint: Endpoint | None = None,
        *,
        model: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        temperature: float | None = 0.0,
        top_p: float | None = None,
        seed: int | None = None,
        max_tokens: int | None = 1024,
        max_calls: int = 40,
        timeout: float = 60.0,
        max_retries: int = 2,
        retry_backoff: float = 1.0,
    ) -> None:
        if max_calls < 1 or max_retries < 0 or timeout <= 0 or retry_backoff < 0:
            raise ConfigError(
                f"llm planner: max_calls={max_calls} (>= 1), max_retries={max_retries} (>= 0), "
                f"timeout={timeout} (> 0), retry_backoff={retry_backoff} (>= 0): fix the "
                "out-of-range value"
            )
        self.endpoint = endpoint or resolve_endpoint(
            model=model, base_url=base_url, api_key=api_key
        )
        self.temperature = temperature
        self.top_p = top_p
        self.seed = seed
        self.max_tokens = max_tokens
        self.max_calls = max_calls
        self.timeout = timeout
        self.max_retries = max_retries
        self.retry_backoff = retry_backoff
        self._client = _client(self.endpoint, timeout)
        self._secrets = [s for s in (self.endpoint.api_key,) if s and s != NO_KEY]
        credentials = urlsplit(self.endpoint.base_url)
        self._secrets += [s for s in (credentials.password, credentials.query) if s]

    @classmethod
    def from_config(
        cls, config: Mapping[str, Any], *, llm: LLMSettings | None = None, **context: Any
    ) -> LLMPlanner:
        """The recorded model and sampling settings, at the endpoint configured now.

        Keys and full URLs are never recorded, so the endpoint comes from ``llm`` (or the
        environment); a model given now replaces the recorded one.
        """
        llm = llm or LLMSettings()
        settings = {name: config[name] for name in _SETTINGS if name in config}
        model = llm.model or (str(config["model"]) if config.get("model") else None)
        return cls(model=model, base_url=llm.base_url, **settings)

    def config(self) -> dict[str, Any]:
        endpoint = self.endpoint
        return {
            "name": self.name,
            "protocol": PROTOCOL,
            "model": endpoint.model,
            "host": endpoint.host,
            "api_key_from": endpoint.key_source,  # the variable's name, never its value
            **{name: getattr(self, name) for name in _SETTINGS},
        }

    def propose(self, state: RunState) -> Decision:
        flow = state.workflow
        if state.has(*flow.outputs):
            return Done("workflow outputs exist")
        last = state.last_step
        if last is not None and _is_call(last) and "done" in _decision(last):
            return Done(str(_decision(last)["done"]["reason"]))  # the model ended the run
        mine = [s for s in state.steps if _is_call(s)]
        if len(mine) >= self.max_calls:
            return Done(
                f"LLM call budget exhausted: {len(mine)} calls (max_calls={self.max_calls})"
            )
        stop = self._retry_or_stop(state)
        if stop is not None:
            return stop
        decision = self._call(state, number=len(mine) + 1)
        if not self._secrets:
            return decision
        # Servers may echo what they received: no secret the endpoint knows is ever recorded.
        return replace(
            decision,
            **{f.name: _scrub(getattr(decision, f.name), self._secrets) for f in fields(decision)},
        )

    def _retry_or_stop(self, state: RunState) -> Done | None:
        """After failed calls: stop (not retryable, or retries used up) or wait, then retry."""
        failed: list[dict[str, Any]] = []
        for step in reversed(state.steps):
            if step.kind is not StepKind.DECISION or "error" not in _decision(step):
                break
            failed.append(_decision(step)["error"])
        if not failed:
            return None
        last = failed[0]
        what = f"LLM call to {self.endpoint.host} failed: {last['type']}: {last['message']}"
        if not last.get("retryable"):
            return Done(f"{what}; not retryable: {last.get('fix', 'check the LLM settings')}")
        if len(failed) > self.max_retries:
            return Done(
                f"{what}; gave up after {len(failed)} attempts (max_retries={self.max_retries}): "
                "check that the server is up and the base URL (REPROLAM_LLM_BASE_URL)"
            )
        time.sleep(self.retry_backoff * 2 ** (len(failed) - 1))
        return None

    def _call(self, state: RunState, *, number: int) -> Proposal | NoProposal:
        request: dict[str, Any] = {
            "model": self.endpoint.model,
            "messages": build_messages(state),
            "tools": tool_definitions(state),
        }
        sampling = {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "seed": state.seed if self.seed is None else self.seed,
            "max_tokens": self.max_tokens,
        }
        request.update({k: v for k, v in sampling.items() if v is not None})
        record: dict[str, Any] = {
            "kind": "llm_call",
            "protocol": PROTOCOL,
            "call": number,
            "request": {**request, "host": self.endpoint.host, "timeout": self.timeout},
        }
        started = time.perf_counter()
        try:
            raw = self._client.chat.completions.with_raw_response.create(**request)
            text = raw.http_response.text
        except Exception as exc:  # the network boundary: every failure becomes a recorded step
            record["latency"] = time.perf_counter() - started
            return self._failed(record, _error_record(exc))
        record["latency"] = time.perf_counter() - started
        try:
            body = json.loads(text)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            record["response_text"] = text[:2000]
            return self._failed(
                record, _error("InvalidResponse", "the response is not a JSON object", True)
            )
        record["response"] = body
        record["usage"] = body.get("usage")
        return self._decide(state, record, body)

    def _decide(
        self, state: RunState, record: dict[str, Any], body: dict[str, Any]
    ) -> Proposal | NoProposal:
        choices = body.get("choices")
        first = choices[0] if isinstance(choices, list) and choices else None
        message = first.get("message") if isinstance(first, dict) else None
        if not isinstance(message, dict):
            return self._failed(
                record, _error("InvalidResponse", "the response has no choices[0].message", True)
            )
        text = _content_text(message.get("content"))
        calls = _tool_calls(message.get("tool_calls"), number=record["call"])
        record["text"] = text
        record["tool_calls"] = calls
        if not calls:
            reason = "the model replied with text instead of calling a tool"
            if first and first.get("finish_reason") == "length":
                reason = f"the reply was cut off at max_tokens={self.max_tokens} before a tool call"
            reason += f" ({text[:200]!r}); call exactly one of the tools"
            record["invalid"] = reason
            return Proposal("", rationale=text, decision=record, invalid_reason=reason)
        call = calls[0]
        if call["name"] == done_tool_name(state):
            why = proposal_from_tool_call(call["name"], call["arguments"]).params.get("reason")
            missing = [o for o in state.workflow.outputs if o not in state.artifacts]
            stop = f"the model ended the run before {', '.join(missing)} existed: {why or '-'}"
            record["done"] = {"reason": stop}
            return NoProposal(stop, error_type="PlannerGaveUp", decision=record)
        return proposal_from_tool_call(
            call["name"], call["arguments"], rationale=text, decision=record
        )

    def _failed(self, record: dict[str, Any], error: dict[str, Any]) -> NoProposal:
        record["error"] = error
        # the step's error type says what kind of failure; the reason says what happened
        reason = f"LLM call {record['call']} to {self.endpoint.host} failed: {error['message']}"
        return NoProposal(reason, error_type=error["type"], decision=record)


def _is_call(step: StepRecord) -> bool:
    return _decision(step).get("kind") == "llm_call"


def _decision(step: StepRecord) -> dict[str, Any]:
    found = step.proposal.get("decision")
    return found if isinstance(found, dict) else {}


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: keep the text ones
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def _tool_calls(raw: Any, *, number: int) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    for i, item in enumerate(raw if isinstance(raw, list) else []):
        function = item.get("function") if isinstance(item, dict) else None
        if not isinstance(function, dict):
            continue
        calls.append(
            {
                # servers that omit ids still need one, to answer the call with a tool message
                "id": str(item.get("id") or f"call{number}_{i}"),
                "name": str(function.get("name") or ""),
                "arguments": function.get("arguments", ""),
            }
        )
    return calls


def _error(kind: str, message: str, retryable: bool, **extra: Any) -> dict[str, Any]:
    return {"type": kind, "message": message, "retryable": retryable, **extra}


def _error_record(exc: Exception) -> dict[str, Any]:
    """A failed call, classified: connection problems, timeouts, 408/409/429 and 5xx retry."""
    kind = type(exc).__name__
    message = str(exc) or kind
    if exc.__cause__ is not None:
        message += f" ({type(exc.__cause__).__name__}: {exc.__cause__})"
    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        retryable = status in _RETRYABLE_STATUS or status >= 500
        fix = {
            401: "check the API key (OPENAI_API_KEY / OPENROUTER_API_KEY)",
            403: "check the API key's permissions",
            404: "check the model name (REPROLAM_LLM_MODEL) and the base URL",
        }.get(status, "retry later" if retryable else "check the model and sampling params")
        return _error(
            kind, message, retryable, status=status, body=getattr(exc, "body", None), fix=fix
        )
    connection = any(n in kind for n in ("Timeout", "Connection")) or isinstance(exc, OSError)
    return _error(kind, message, connection, fix="check that the LLM server is reachable")


def _scrub(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, dict):
        return {_scrub(k, secrets): _scrub(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v, secrets) for v in value]
    return value
