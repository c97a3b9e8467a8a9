"""The ``llm`` planner: an OpenAI-compatible chat API chooses each action by calling a tool.

Works with the servers scientists use -- OpenAI, OpenRouter, Ollama, vLLM, llama.cpp, Mistral,
a LiteLLM proxy -- each through a provider profile (``llm_profiles``: which parameters to send
and how). One planner consultation is one recorded step of the trace:

* a tool call for an action (native, or written as text and parsed, ``llm_text_calls``) ->
  a ``Proposal`` the engine's policy checks (an action step, or a rejection whose reason goes
  back to the model);
* a reply without a tool call, or arguments that are not a JSON object -> a ``Proposal``
  marked ``invalid_reason``, which the policy rejects with that reason;
* a failed call (timeout, connection refused, 429, 5xx...) or a ``done`` before the
  workflow's outputs exist -> a ``NoProposal`` (a failed ``decision`` step). Retries are
  further steps, after the backoff or the server's ``Retry-After``.

One consultation is one HTTP call, with one exception: a server that refuses a parameter
("unsupported parameter: max_tokens", "tools param requires --jinja") is asked once more
without it, in the same step, and the adaptation is recorded there (``adapted``) and kept for
the rest of the run. ``tool_mode`` says whether tools are sent: ``native`` always, ``text``
never (the model answers with a JSON object), ``auto`` until the server refuses them.

The conversation is rebuilt from the run state on every call (``llm_history``): a function of
the trace, accepted by every server whatever the model replied before. Every call's decision
record holds the request (model, base-URL host, messages, tools, sampling params), the raw
response JSON, the tool call as given, the parsed proposal, token usage, latency and the
error, if any. The API key is sent only in the Authorization header: it is never recorded,
and is scrubbed from anything a server echoes back.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import fields, replace
from typing import Any, cast
from urllib.parse import urlsplit

from reprolam.errors import ConfigError
from reprolam.planning.base import Decision, Done, NoProposal, Proposal, RunState
from reprolam.planning.choose import LLMSettings
from reprolam.planning.llm_endpoint import (
    DEFAULT_MODELS,
    NO_KEY,
    NOT_CONFIGURED,
    OPENAI_BASE_URL,
    OPENROUTER_BASE_URL,
    Endpoint,
    make_client,
    resolve_endpoint,
    url_host,
)
from reprolam.planning.llm_errors import (
    SLOW_FIX,
    error,
    error_in_body,
    error_record,
    scrub,
    server_message,
)
from reprolam.planning.llm_history import (
    DEFAULT_BUDGET,
    build_messages,
    build_prompt,
    clip,
    done_tool_name,
    tool_definitions,
    unsendable_tool_names,
)
from reprolam.planning.llm_profiles import (
    TOOL_MODES,
    Adaptation,
    Profile,
    ToolMode,
    adapt_to_error,
    apply,
    profile_for,
)
from reprolam.planning.llm_text_calls import (
    MAX_BODY_DEPTH,
    calls_from_text,
    loads,
    proposal_from_tool_call,
)
from reprolam.trace.records import StepKind, StepRecord

__all__ = [
    "DEFAULT_MODELS",
    "NOT_CONFIGURED",
    "OPENAI_BASE_URL",
    "OPENROUTER_BASE_URL",
    "Endpoint",
    "LLMPlanner",
    "build_messages",
    "done_tool_name",
    "proposal_from_tool_call",
    "resolve_endpoint",
    "tool_definitions",
    "url_host",
]

PROTOCOL = "reprolam-tools/2"
MAX_RESPONSE_CHARS = 4_000_000  # a reply larger than this is not recorded whole, nor read
MAX_RECORDED_TEXT = 20_000  # copies of the reply's text beside the raw response
_SETTINGS = (
    *("temperature", "top_p", "seed", "max_tokens", "tool_mode", "prompt_budget"),
    *("max_calls", "timeout", "max_retries", "retry_backoff", "max_retry_wait"),
)


_DEADLINE_GRACE = 0.5  # seconds past ``timeout``: the HTTP client's own timeout fires first


# Slow is not down: a local model on a CPU can take minutes over a long prompt.
_TIMEOUT_FIX = (
    "the server did not answer within {timeout:g} s: give it longer (the planner's timeout; "
    "REPROLAM_LLM_TIMEOUT=SECONDS on the command line) or use a smaller or faster model"
)


class CallDeadlineExceeded(TimeoutError):
    """A call that did not complete within the planner's ``timeout`` (retryable)."""


def wait(seconds: float) -> None:
    """Sleep between a failed call and its retry (a module function, for tests to replace)."""
    time.sleep(seconds)


# -- the planner ------------------------------------------------------------------------------


class LLMPlanner:
    """Asks an OpenAI-compatible chat model for the next action, one recorded call per turn.

    Example::

        planner = LLMPlanner(base_url="http://localhost:11434/v1", model="qwen2.5:7b")
        Engine(store).run(workflow, planner=planner)

    ``seed=None`` sends the run's seed; ``max_tokens=None`` the profile's default. Any other
    sampling setting set to ``None`` is not sent. ``profile`` overrides the provider profile
    found from the host and model (a name from ``llm_profiles.PROFILE_NAMES``, a ``Profile``,
    or a mapping of fields to change). ``tool_mode``: ``native``, ``text`` or ``auto``.
    ``prompt_budget`` is the size of the messages in characters past which the oldest step
    results are elided. Failed calls are retried up to ``max_retries`` times with exponential
    backoff (``retry_backoff`` seconds, doubling) or after the server's ``Retry-After`` if it
    is at most ``max_retry_wait`` seconds, each attempt a recorded step; ``max_calls`` caps
    the calls of one run; ``timeout`` bounds each call.
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
        max_tokens: int | None = None,
        tool_mode: str = "auto",
        profile: str | Profile | Mapping[str, Any] | None = None,
        prompt_budget: int = DEFAULT_BUDGET,
        max_calls: int = 40,
        timeout: float = 60.0,
        max_retries: int = 2,
        retry_backoff: float = 1.0,
        max_retry_wait: float = 60.0,
    ) -> None:
        if (
            max_calls < 1
            or max_retries < 0
            or timeout <= 0
            or retry_backoff < 0
            or max_retry_wait < 0
            or prompt_budget < 1000
            or (max_tokens is not None and max_tokens < 1)
        ):
            raise ConfigError(
                f"llm planner: max_calls={max_calls} (>= 1), max_retries={max_retries} (>= 0), "
                f"timeout={timeout} (> 0), retry_backoff={retry_backoff} (>= 0), "
                f"max_retry_wait={max_retry_wait} (>= 0), prompt_budget={prompt_budget} "
                f"(>= 1000), max_tokens={max_tokens} (>= 1): fix the out-of-range value"
            )
        numbers = {"temperature": temperature, "top_p": top_p, "timeout": timeout}
        numbers |= {"retry_backoff": retry_backoff, "max_retry_wait": max_retry_wait}
        unreadable = [  # max_retry_wait=inf: any wait the server asks for is taken
            f"{name}={value}"
            for name, value in numbers.items()
            if value is not None
            and (math.isnan(value) or (math.isinf(value) and name != "max_retry_wait"))
        ]
        if unreadable:  # nan passes every range check, and no JSON can carry it
            raise ConfigError(
                f"llm planner: {', '.join(unreadable)} is not a finite number: give a number"
            )
        if tool_mode not in TOOL_MODES:
            raise ConfigError(
                f"llm planner: tool_mode={tool_mode!r} is not one of {', '.join(TOOL_MODES)}"
            )
        self.endpoint = endpoint or resolve_endpoint(
            model=model, base_url=base_url, api_key=api_key
        )
        self.profile = profile_for(self.endpoint.host, self.endpoint.model, profile)
        self.temperature = temperature
        self.top_p = top_p
        self.seed = seed
        self.max_tokens = max_tokens
        self.tool_mode = cast(ToolMode, tool_mode)
        self.prompt_budget = prompt_budget
        self.max_calls = max_calls
        self.timeout = timeout
        self.max_retries = max_retries
        self.retry_backoff = retry_backoff
        self.max_retry_wait = max_retry_wait
        self._client = make_client(self.endpoint, timeout)
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
        settings.update(llm.sampling())  # given now wins over recorded
        recorded_profile = config.get("profile")
        if isinstance(recorded_profile, Mapping) and "name" in recorded_profile:
            settings["profile"] = _profile_from_record(recorded_profile)
        model = llm.model or (str(config["model"]) if config.get("model") else None)
        base_url = llm.base_url or os.environ.get("REPROLAM_LLM_BASE_URL") or None
        recorded = config.get("host")
        try:
            endpoint = resolve_endpoint(model=model, base_url=llm.base_url)  # says whence
        except ConfigError:
            if base_url is not None or not recorded:
                raise
            # Nothing set now: say where the run's model was called (its host is recorded)
            raise ConfigError(
                f"the run's model {model or '(unrecorded)'} was called at {recorded}; no LLM "
                f"endpoint is set now: pass {{base_url}} (the URL of the server at {recorded}, "
                "e.g. http://HOST:PORT/v1), or set REPROLAM_LLM_BASE_URL (OPENROUTER_API_KEY / "
                "OPENAI_API_KEY for OpenRouter / OpenAI)",
                option="base_url",
            ) from None
        if base_url is None and recorded and endpoint.host != recorded:
            # An API key in the environment alone chose the endpoint: not the run's server,
            # and not consent to send its prompts (and the key) to that provider.
            raise ConfigError(
                f"the run's model was called at {recorded}; no LLM base URL is set now, so "
                f"{endpoint.key_source} alone would send its prompts to {endpoint.host}: pass "
                f"{{base_url}} (the URL of the server at {recorded}, or {endpoint.base_url} to "
                "use that provider), or set REPROLAM_LLM_BASE_URL",
                option="base_url",
            )
        return cls(endpoint, **settings)

    def config(self) -> dict[str, Any]:
        endpoint = self.endpoint
        return {
            "name": self.name,
            "protocol": PROTOCOL,
            "model": endpoint.model,
            "host": endpoint.host,
            "api_key_from": endpoint.key_source,  # the variable's name, never its value
            "profile": self.profile.describe(),
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
        decision = self._call(state, mine, number=len(mine) + 1)
        if not self._secrets:
            return decision
        # Servers may echo what they received: no secret the endpoint knows is ever recorded.
        return replace(
            decision,
            **{f.name: scrub(getattr(decision, f.name), self._secrets) for f in fields(decision)},
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
            fix = f"check that the server is up and {self.endpoint.check_url()}"
            if last.get("fix") == SLOW_FIX:
                fix = _TIMEOUT_FIX.format(timeout=self.timeout)
            return Done(
                f"{what}; gave up after {len(failed)} attempts (max_retries={self.max_retries}): "
                f"{fix}"
            )
        pause = self.retry_backoff * 2 ** (len(failed) - 1)
        asked = last.get("retry_after")
        if isinstance(asked, int | float):
            if asked > self.max_retry_wait:
                return Done(
                    f"{what}; the server asks to retry after {asked:g} s, longer than "
                    f"max_retry_wait={self.max_retry_wait:g}"
                )
            pause = max(pause, float(asked))
        wait(pause)
        return None

    # -- one call -------------------------------------------------------------------------

    def _request(self, state: RunState, native: bool, learned: list[dict[str, Any]]) -> Any:
        tools = tool_definitions(state)
        prompt = build_prompt(state, native=native, budget=self.prompt_budget, tools=tools)
        request: dict[str, Any] = {"model": self.endpoint.model, "messages": prompt.messages}
        profile = self.profile
        if native:
            request["tools"] = tools
            if profile.tool_choice is not None:
                request["tool_choice"] = profile.tool_choice
            if profile.parallel_tool_calls is not None:
                request["parallel_tool_calls"] = profile.parallel_tool_calls
        sampling = {
            "temperature": self.temperature if profile.send_temperature else None,
            "top_p": self.top_p if profile.send_top_p else None,
            "seed": state.seed if self.seed is None else self.seed,
            profile.max_tokens_param: self.max_tokens or profile.default_max_tokens,
        }
        request.update({k: v for k, v in sampling.items() if v is not None})
        for seen in learned:  # what the server refused earlier in this run stays adapted
            if seen["param"] in (*request, "system") and seen["param"] != "tools":
                apply(request, Adaptation(**seen))
        return request, prompt

    def _call(self, state: RunState, mine: list[StepRecord], *, number: int) -> Decision:
        learned = [a for s in mine for a in _decision(s).get("adapted", ())]
        native = self.tool_mode == "native" or (
            self.tool_mode == "auto" and not any(a["param"] == "tools" for a in learned)
        )
        request, prompt = self._request(state, native, learned)
        record: dict[str, Any] = {
            "kind": "llm_call",
            "protocol": PROTOCOL,
            "call": number,
            "profile": self.profile.name,
            "tool_mode": "native" if native else "text",
        }
        adapted: list[dict[str, str]] = []
        started = time.perf_counter()
        while True:
            record["request"] = {**request, "host": self.endpoint.host, "timeout": self.timeout}
            record["prompt"] = prompt.record()
            try:
                text = self._send(request)
                break
            except Exception as exc:  # the network boundary: every failure is a recorded step
                change = self._adaptation(request, exc)
                if change is None or any(a["param"] == change.param for a in adapted):
                    # nothing to adapt, or the same refusal twice: once per parameter only
                    record["latency"] = time.perf_counter() - started
                    if adapted:
                        record["adapted"] = adapted
                    return self._failed(record, self._error_record(request, exc))
                adapted.append(change.record())
                if change.param == "tools":
                    native = False
                    record["tool_mode"] = "text"
                    request, prompt = self._request(state, native, learned + adapted)
                else:
                    apply(request, change)
        record["latency"] = time.perf_counter() - started
        if adapted:
            record["adapted"] = adapted
        return self._response(state, record, text)

    def _send(self, request: Mapping[str, Any]) -> str:
        """The response body of one call, within ``timeout`` seconds in all.

        The HTTP client's timeouts bound each read; a server trickling a byte at a time would
        still hold a run forever, so the whole call has a deadline too. Past it the
        connections are closed (which ends the abandoned read) and a new client is made.
        """
        client = self._client
        done = threading.Event()
        box: dict[str, Any] = {}

        def call() -> None:
            try:
                raw = client.chat.completions.with_raw_response.create(**request)
                box["text"] = raw.http_response.text
            except BaseException as exc:  # handed to the caller's thread
                box["error"] = exc
            finally:
                done.set()

        threading.Thread(target=call, name="reprolam-llm-call", daemon=True).start()
        if not done.wait(self.timeout + _DEADLINE_GRACE):
            self._client = make_client(self.endpoint, self.timeout)
            client.close()
            raise CallDeadlineExceeded(
                f"no complete reply within {self.timeout:g} s: the server holds the connection "
                "open without finishing its answer"
            )
        if "error" in box:
            raise box["error"]
        return str(box["text"])

    def _error_record(self, request: Mapping[str, Any], exc: Exception) -> dict[str, Any]:
        failure = error_record(exc, hint=self.profile.hint)
        status, message, _ = server_message(exc)
        names = _refused_tool_names(request, status, message)
        if names:
            failure["fix"] = (
                f"the action name {names[0]!r} is not a tool name this server takes (1 to 64 "
                "characters a-z, A-Z, 0-9, _ or -): rename the action (@action(name='...')), "
                "or use tool_mode='text'"
            )
        return failure

    def _adaptation(self, request: Mapping[str, Any], exc: Exception) -> Adaptation | None:
        status, message, param = server_message(exc)
        change = adapt_to_error(request, status, message, param)
        if change is None and _refused_tool_names(request, status, message):
            short = " ".join(message.split())[:300]
            change = Adaptation("tools", "switched to tool_mode=text", short)
        if change is not None and change.param == "tools" and self.tool_mode != "auto":
            return None  # native: the user asked for tools; the error says how to enable them
        return change

    def _response(self, state: RunState, record: dict[str, Any], text: str) -> Decision:
        if len(text) > MAX_RESPONSE_CHARS:
            record["response_text"] = clip(text, 2000)
            return self._failed(
                record,
                error(
                    "InvalidResponse",
                    f"the response is {len(text)} characters, more than {MAX_RESPONSE_CHARS}",
                    True,
                ),
            )
        try:
            body = loads(text, max_depth=MAX_BODY_DEPTH)
            problem = "" if isinstance(body, dict) else "the response is not a JSON object"
        except ValueError as exc:
            body, problem = None, f"the response is not valid JSON ({clip(str(exc), 200)})"
        if problem:
            record["response_text"] = clip(text, 2000)
            return self._failed(record, error("InvalidResponse", problem, True))
        record["response"] = body
        record["usage"] = body.get("usage")
        return self._decide(state, record, body)

    def _decide(
        self, state: RunState, record: dict[str, Any], body: dict[str, Any]
    ) -> Proposal | NoProposal:
        choices = body.get("choices")
        first = choices[0] if isinstance(choices, list) and choices else None
        failure = next(
            (e for e in (body.get("error"), _get(first, "error")) if isinstance(e, dict)), None
        )
        if failure is not None:
            return self._failed(record, error_in_body(failure))
        message = first.get("message") if isinstance(first, dict) else None
        if not isinstance(message, dict):
            return self._failed(
                record, error("InvalidResponse", "the response has no choices[0].message", True)
            )
        text = _content_text(message.get("content"))
        refusal = message.get("refusal")  # OpenAI: a refusal comes there, with no content
        refused = not text and isinstance(refusal, str) and bool(refusal)
        if refused:
            text = str(refusal)
        finish = first.get("finish_reason") if isinstance(first, dict) else None
        cut = finish == "length"
        calls = _tool_calls(message.get("tool_calls"))
        record["text"] = clip(text, MAX_RECORDED_TEXT, where="response")
        record["tool_calls"] = calls
        if not calls:
            tools = [t["function"]["name"] for t in tool_definitions(state)]
            found = calls_from_text(text, tools)
            if found:
                record["parsed_from_text"] = found[0].convention
                record["text_calls"] = [
                    {"name": c.name[:100], "arguments": _clipped(c.arguments)} for c in found
                ]
                calls = record["text_calls"]
        if not calls:
            reason = "the model replied with text instead of calling a tool"
            if cut:
                reason = "the reply was cut off at the max tokens limit before a tool call"
            elif refused:
                reason = "the model refused to call a tool"
            elif finish == "content_filter" and not text:  # OpenAI, Azure: the reply withheld
                reason = "the server's content filter withheld the reply"
            reason += f" ({text[:200]!r}); call exactly one of the tools"
            record["invalid"] = reason
            return Proposal("", rationale=clip(text), decision=record, invalid_reason=reason)
        call = calls[0]
        ending = proposal_from_tool_call(call["name"], call["arguments"])
        # a `done` whose arguments cannot be read is a malformed call like any other: rejected,
        # so the model can say it again (or go on), never a run ended for a reason unread
        if call["name"] == done_tool_name(state) and ending.invalid_reason is None:
            args = ending.params
            missing = [o for o in state.workflow.outputs if o not in state.artifacts]
            why = clip(str(args.get("reason") or "it gave no reason"), 500)
            stop = f"the model ended the run before {', '.join(missing)} existed: {why}"
            record["done"] = {"reason": stop}
            return NoProposal(stop, error_type="PlannerGaveUp", decision=record)
        proposal = proposal_from_tool_call(
            call["name"], call["arguments"], rationale=clip(text), decision=record
        )
        if cut and proposal.invalid_reason:  # a truncated call: say why, and what to do
            reason = proposal.invalid_reason + " (the reply was cut off at the max tokens limit)"
            return replace(proposal, invalid_reason=reason, decision={**record, "invalid": reason})
        return proposal

    def _failed(self, record: dict[str, Any], failure: dict[str, Any]) -> NoProposal:
        record["error"] = failure
        # the step's error type says what kind of failure; the reason says what happened
        reason = f"LLM call {record['call']} to {self.endpoint.host} failed: {failure['message']}"
        return NoProposal(reason, error_type=failure["type"], decision=record)


def _refused_tool_names(request: Mapping[str, Any], status: int | None, message: str) -> list[str]:
    """The request's tool names a server refuses, if it refused the request naming a name."""
    if status not in (400, 422) or "name" not in message.lower():
        return []
    return unsendable_tool_names(request.get("tools") or ())


def _profile_from_record(record: Mapping[str, Any]) -> Profile:
    """The profile a run recorded (``Profile.describe``), so a resumed run talks the same way."""
    known = {f.name for f in fields(Profile)}
    return Profile(**{k: v for k, v in record.items() if k in known})


def _clipped(arguments: Any) -> Any:
    """Arguments as given, cut if they are a long text (the whole reply is in the response)."""
    if isinstance(arguments, str):
        return clip(arguments, MAX_RECORDED_TEXT, where="response")
    return arguments


def _is_call(step: StepRecord) -> bool:
    return _decision(step).get("kind") == "llm_call"


def _decision(step: StepRecord) -> dict[str, Any]:
    found = step.proposal.get("decision")
    return found if isinstance(found, dict) else {}


def _get(value: Any, key: str) -> Any:
    return value.get(key) if isinstance(value, dict) else None


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: keep the text ones
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def _tool_calls(raw: Any) -> list[dict[str, Any]]:
    """The native calls as the server gave them (name cut to 100 characters, id kept)."""
    calls: list[dict[str, Any]] = []
    for item in raw if isinstance(raw, list) else []:
        function = item.get("function") if isinstance(item, dict) else None
        if not isinstance(function, dict):
            continue
        arguments = _clipped(function.get("arguments", ""))
        calls.append(
            {
                "id": str(item.get("id") or "")[:100],  # the server's; the history uses ours
                "name": str(function.get("name") or "")[:100],
                "arguments": arguments,
            }
        )
    return calls
