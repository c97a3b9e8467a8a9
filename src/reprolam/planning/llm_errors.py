"""Failed LLM calls, classified: what happened, whether a retry can help, and the likely fix.

A failure becomes a recorded ``decision`` step with this record as its ``error``. The fix
names the likely cause on the server's side when the server refused tool calling (vLLM
started without ``--enable-auto-tool-choice --tool-call-parser``, llama.cpp without
``--jinja``, an Ollama model without tool support), not "check your sampling params".
"""

from __future__ import annotations

import email.utils
import json
import re
import time
from typing import Any

from reprolam.planning.llm_history import clip
from reprolam.planning.llm_text_calls import MAX_BODY_DEPTH, nesting_depth

REDACTED = "[redacted]"
MAX_BODY_CHARS = 4000  # of an error body kept in the trace
RETRYABLE_STATUS = frozenset({408, 409, 425, 429})
_TOOL_FIXES = (
    (
        re.compile(r"--enable-auto-tool-choice|--tool-call-parser|auto.? tool choice", re.I),
        "start vLLM with --enable-auto-tool-choice --tool-call-parser NAME (hermes for Qwen, "
        "llama3_json for Llama 3.1+, mistral for Mistral), or use tool_mode='text'",
    ),
    (
        re.compile(r"--jinja|tools param requires", re.I),
        "start llama-server with --jinja (tool calling needs the model's chat template), "
        "or use tool_mode='text'",
    ),
    (
        re.compile(r"does not support tools", re.I),
        "this Ollama model has no tool support: pull one that has (llama3.1, qwen2.5) or use "
        "tool_mode='text'",
    ),
)


QUOTA_FIX = (
    "the API key's account has no quota or credits left: check its plan and billing "
    "(retrying does not help)"
)
_QUOTA = re.compile(r"insufficient_quota|exceeded your current quota|insufficient credits", re.I)
SLOW_FIX = "the server is slow to answer: give it longer (the planner's timeout) or a faster model"


def error(kind: str, message: str, retryable: bool, **extra: Any) -> dict[str, Any]:
    return {"type": kind, "message": message, "retryable": retryable, **extra}


def server_message(exc: Exception) -> tuple[int | None, str, Any]:
    """(HTTP status, the server's error text, its ``param`` field) of a failed call."""
    status = getattr(exc, "status_code", None)
    body = getattr(exc, "body", None)
    param = body.get("param") if isinstance(body, dict) else None
    try:
        text = json.dumps(body) if body is not None else ""
    except (TypeError, ValueError):
        text = repr(body)
    return (status if isinstance(status, int) else None), f"{exc} {text}", param


def retry_after(exc: Exception, *, now: float | None = None) -> float | None:
    """Seconds the server asked us to wait (``retry-after-ms``, or ``Retry-After``: seconds or
    an HTTP date)."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    try:  # OpenAI and Azure say it in milliseconds too, or only so; the SDK reads it first
        return max(0.0, float(headers.get("retry-after-ms") or "") / 1000)
    except ValueError:
        pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


def error_record(exc: Exception, *, hint: str = "") -> dict[str, Any]:
    """A failed call: connection problems, timeouts, 408/409/425/429 and 5xx are retryable."""
    kind = type(exc).__name__
    message = clip(str(exc) or kind, 2000)
    if exc.__cause__ is not None:
        message += f" ({type(exc.__cause__).__name__}: {exc.__cause__})"
    status, text, _ = server_message(exc)
    if status is not None:
        # OpenAI answers a used-up quota with 429 too: no wait makes it pass
        retryable = (status in RETRYABLE_STATUS or status >= 500) and not _QUOTA.search(text)
        fix = _fix(status, text, retryable, hint)
        extra: dict[str, Any] = {"status": status, "body": _bounded(exc), "fix": fix}
        wait = retry_after(exc)
        if wait is not None:
            extra["retry_after"] = wait
        return error(kind, message, retryable, **extra)
    connection = any(n in kind for n in ("Timeout", "Connection")) or isinstance(exc, OSError)
    if "Timeout" in kind or "Deadline" in kind or isinstance(exc, TimeoutError):
        return error(kind, message, True, fix=SLOW_FIX)
    return error(kind, message, connection, fix="check that the LLM server is reachable")


def error_in_body(found: dict[str, Any]) -> dict[str, Any]:
    """An error a server sent as the body of a 200 response (``{"error": {"code", "message"}}``,
    or in ``choices[0]``): OpenRouter answers so once the model has started generating."""
    code = found.get("code")
    status = code if type(code) is int else None
    text = clip(str(found.get("message") or "no message"), 2000)
    retryable = status is None or status in RETRYABLE_STATUS or status >= 500
    fix = _fix(status, json.dumps(found), retryable, "") if status else "retry later"
    where = f" (code {str(code)[:40]})" if code is not None else ""
    message = f"the server answered with an error instead of a reply{where}: {text}"
    extra = {"code": status} if status else {}
    return error("ResponseError", message, retryable, fix=fix, **extra)


def _bounded(exc: Exception) -> Any:
    """The error body as sent, unless it is too large or too deep to record as JSON."""
    body = getattr(exc, "body", None)
    try:
        text = json.dumps(body)
    except (TypeError, ValueError, RecursionError):
        return repr(type(body))
    if len(text) > MAX_BODY_CHARS or nesting_depth(text, MAX_BODY_DEPTH) > MAX_BODY_DEPTH:
        return clip(text, MAX_BODY_CHARS)
    return body


def _fix(status: int, text: str, retryable: bool, hint: str) -> str:
    for pattern, fix in _TOOL_FIXES:
        if pattern.search(text):
            return fix
    if _QUOTA.search(text):
        return QUOTA_FIX
    known = {
        401: "check the API key (OPENAI_API_KEY / OPENROUTER_API_KEY)",
        402: QUOTA_FIX,
        403: "check the API key's permissions",
        404: "check the model name and the base URL (it usually ends in /v1)",
    }
    if status in known:
        return known[status]
    if retryable:
        return "retry later"
    for pattern, fix in _REQUEST_FIXES:
        if pattern.search(text):
            return fix
    if hint and _ABOUT_TOOLS.search(text):  # the profile's hint is about tool calling
        return f"the server refused the request; likely cause: {hint}"
    return "the server refused the request: its message says why"


_ABOUT_TOOLS = re.compile(r"\btools?\b|tool_choice|function.?call", re.I)
_REQUEST_FIXES = (
    (
        re.compile(
            r"context.?(length|window|size)|maximum context|maximum model length|"
            r"too many tokens|too long",
            re.I,
        ),
        "the prompt is longer than the model's context: give the planner a smaller "
        "prompt budget (prompt_budget=CHARS, the command's prompt-budget option), or use a "
        "model with a longer context",
    ),
    (
        re.compile(r"\bstream", re.I),
        "the server wants streaming requests; the planner sends whole ones: allow stream=false "
        "on the server (or put an OpenAI-compatible proxy in front of it)",
    ),
)


def scrub(value: Any, secrets: list[str]) -> Any:
    """``value`` with every secret replaced by ``[redacted]`` (servers echo what they got)."""
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, dict):
        return {scrub(k, secrets): scrub(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v, secrets) for v in value]
    return value
