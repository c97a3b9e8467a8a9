"""A scripted OpenAI-compatible chat server for tests: 127.0.0.1, an OS-chosen port, no network.

It implements ``POST /v1/chat/completions`` (non-streaming) only. Each request takes the next
reply from the script and is recorded (path, headers, JSON body), so tests can assert both
what the planner sent and what the trace holds. When the script runs out the server answers
500 "script exhausted", so a test that needs more calls than it scripted fails loudly.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Reply:
    """One scripted answer: an HTTP status and JSON body, optionally after a delay."""

    status: int = 200
    body: Any = None
    delay: float = 0.0  # seconds to wait before answering (longer than the timeout: a timeout)
    headers: Mapping[str, str] = field(default_factory=dict)  # e.g. Retry-After
    raw: bytes | None = None  # sent instead of the JSON body (not JSON, cut short, ...)
    cut: bool = False  # announce the full length but close the connection half-way
    trickle: float = 0.0  # seconds between single bytes of the body (a server that never ends)


@dataclass(frozen=True)
class Received:
    """One request as the server saw it."""

    path: str
    headers: dict[str, str]  # names lower-cased
    body: dict[str, Any]
    raw: bytes

    @property
    def messages(self) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = self.body["messages"]
        return messages

    @property
    def tool_names(self) -> list[str]:
        return [t["function"]["name"] for t in self.body.get("tools", [])]


def completion(
    message: Mapping[str, Any], *, finish_reason: str = "tool_calls", n: int = 0
) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{n}",
        "object": "chat.completion",
        "created": 1_700_000_000 + n,
        "model": "fake-model",
        "choices": [{"index": 0, "message": dict(message), "finish_reason": finish_reason}],
        "usage": {"prompt_tokens": 100 + n, "completion_tokens": 10, "total_tokens": 110 + n},
    }


def call(name: str, arguments: str | Mapping[str, Any] | None = None, *, text: str = "") -> Reply:
    """A reply calling one tool; ``arguments`` as a JSON string (possibly malformed) or a dict."""
    args = arguments if isinstance(arguments, str) else json.dumps(dict(arguments or {}))
    return calls([(name, args)], text=text)


_ids = itertools.count()  # tool call ids unique across the test session, as real servers do


def calls(tool_calls: Iterable[tuple[str, str]], *, text: str = "") -> Reply:
    message = {
        "role": "assistant",
        "content": text or None,
        "tool_calls": [
            {
                "id": f"call_{next(_ids)}",
                "type": "function",
                "function": {"name": n, "arguments": a},
            }
            for n, a in tool_calls
        ],
    }
    return Reply(body=completion(message))


def text(content: str) -> Reply:
    """A reply with text and no tool call."""
    return Reply(body=completion({"role": "assistant", "content": content}, finish_reason="stop"))


def error(status: int, message: str = "boom") -> Reply:
    return Reply(status=status, body={"error": {"message": message, "type": "server_error"}})


def slow(seconds: float, then: Reply | None = None) -> Reply:
    """A reply that comes after ``seconds`` (use more than the planner's timeout)."""
    inner = then or text("too late")
    return Reply(status=inner.status, body=inner.body, delay=seconds)


# The breast-cancer workflow as a model would drive it: every action once, in order.
BREAST_CANCER_SCRIPT = (
    ("load_dataset", {}),
    ("analyze_data", {}),
    ("preprocess_data", {"test_size": 0.2}),
    ("train_model", {"C": 0.5}),
    ("evaluate_model", {}),
)


def breast_cancer_replies() -> list[Reply]:
    return [call(name, args, text=f"next: {name}") for name, args in BREAST_CANCER_SCRIPT]


@dataclass
class FakeLLM:
    """``with FakeLLM([...]) as llm:`` serves the replies in order at ``llm.base_url``.

    ``responder``, if given, answers each request once the script is used up (e.g. with the
    next action a run still needs), for tests whose number of calls is not known in advance.
    """

    script: list[Reply] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    responder: Callable[[Received], Reply] | None = None
    # checks every request first, as a real server validates before it generates: an error
    # reply answers the request and the script is not consumed
    validator: Callable[[Received], Reply | None] | None = None

    def __post_init__(self) -> None:
        self.script = list(self.script)  # consumed as requests come; the caller's list stays
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        assert self._server is not None, "server not started"
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def next_reply(self, request: Received) -> Reply:
        with self._lock:
            self.received.append(request)
            refused = self.validator(request) if self.validator is not None else None
            if refused is not None:
                return refused
            if self.script:
                return self.script.pop(0)
        if self.responder is not None:
            return self.responder(request)
        return error(500, "script exhausted")

    def start(self) -> FakeLLM:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self._send(Reply(404, {"error": {"message": f"no route {self.path}"}}))
                    return
                headers = {k.lower(): v for k, v in self.headers.items()}
                request = Received(self.path, headers, json.loads(raw), raw)
                self._send(fake.next_reply(request))

            def _send(self, reply: Reply) -> None:
                if reply.delay:
                    time.sleep(reply.delay)
                data = reply.raw if reply.raw is not None else json.dumps(reply.body).encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    if reply.trickle:
                        for i in range(len(data)):
                            self.wfile.write(data[i : i + 1])
                            self.wfile.flush()
                            time.sleep(reply.trickle)
                    self.wfile.write(data[: len(data) // 2] if reply.cut else data)
                    if reply.cut:
                        self.close_connection = True
                except OSError:  # the client gave up (timeout): nobody is listening any more
                    pass

            def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._server.block_on_close = False  # a handler still sleeping out a timeout is moot
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeLLM:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
