"""The web app: Starlette routes over one open store, Jinja2 templates, packaged static files.

Read-only: no route writes to the store (tags and notes come from the CLI). Safe by
construction: templates autoescape everything, control characters are shown as visible
escapes, responses carry a strict Content-Security-Policy (scripts and styles only from
this server's /static, no inline script, no framing), and the Host header must name this
machine (no DNS rebinding from a web page to the local server).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict
from importlib import resources
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reprolam.brief import number_words
from reprolam.brief import visible as shown
from reprolam.errors import ConfigError, IntegrityError, NotFoundError, ReprolamError, StoreError
from reprolam.hashing import canonical_json, short
from reprolam.trace.contract import TraceStore
from reprolam.ui import views

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]
LOCAL_HOSTS = ["127.0.0.1", "localhost", "[::1]", "::1"]


def visible(value: Any) -> str:
    """Text with control characters (ANSI escapes included) written out as ``\\x1b``, and
    bidirectional overrides as ``\\u202e`` (``brief.visible``)."""
    return shown(str(value))


class SecurityHeaders:
    """Adds the CSP and friends to every response, static files and errors included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, with_headers)


class HostCheck:
    """The Host header must name this machine: a loopback name, a name the server was told to
    answer to, or the address the request came in on (so ``--host 0.0.0.0`` answers at the
    machine's own addresses, which it refused). A DNS-rebinding page sends its own domain
    name, never one of these, and is refused."""

    def __init__(self, app: ASGIApp, allowed: Sequence[str]) -> None:
        self.app = app
        self.allowed = {_bare(name) for name in allowed}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and not self._named(scope):
            await PlainTextResponse("Invalid host header", status_code=400)(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _named(self, scope: Scope) -> bool:
        host = _bare(Headers(scope=scope).get("host", ""))
        server = scope.get("server")
        arrived_at = _bare(str(server[0])).removeprefix("::ffff:") if server else None
        return host in self.allowed or host == arrived_at


def _bare(host: str) -> str:
    """A Host header's (or address's) name: no port, no IPv6 brackets, lower case."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


def _number(value: Any) -> str:
    """A metric as ``reprolam runs`` and ``show`` word it (``brief.number_words``: a loss of
    1e-07 is not 0.0000); a whole float (n_test 142.0) as the whole number."""
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else number_words(value)
    return str(value)


def _cjson(value: Any) -> str:
    try:
        return canonical_json(value)
    except (TypeError, ValueError):
        return repr(value)


def _status_of(exc: ReprolamError) -> int:
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, StoreError) and not isinstance(exc, IntegrityError):
        return 503  # e.g. a PostgreSQL server that stopped: try again once it is back
    return 400


def _environment() -> Environment:
    folder = resources.files("reprolam.ui").joinpath("templates")
    env = Environment(
        loader=FileSystemLoader(str(folder)),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["visible"] = visible
    env.filters["short"] = lambda v, n=12: short(v, n) if v else "-"
    env.filters["when"] = views.when
    env.filters["ms"] = lambda s: "-" if s is None else f"{s * 1000:.1f} ms"
    env.filters["num"] = _number
    env.filters["cjson"] = _cjson
    # An id in a link, percent-encoded: an imported run's id may hold ?, # or % (only a
    # path separator is refused), which a link must not read as a query or a fragment.
    env.filters["url"] = lambda v: quote(str(v), safe="")
    env.globals["zip"] = zip
    return env


def create_app(  # noqa: PLR0915 - one small closure per route, over one store
    store: TraceStore, *, index_in_background: bool = True, extra_hosts: Sequence[str] = ()
) -> Starlette:
    """The app over an open ``store`` (the caller closes it); ``extra_hosts``: more names
    the Host header may carry (the address it is served on)."""
    env = _environment()

    def page(name: str, status: int = 200, **context: Any) -> HTMLResponse:
        html = env.get_template(name).render(store=store.location, **context)
        return HTMLResponse(html, status_code=status)

    def guarded(
        fn: Callable[[Request], Response], *, as_json: bool = False
    ) -> Callable[[Request], Response]:
        """Reprolam errors become a page, never a traceback: 404 for an unknown id, 503 when the
        store cannot answer now (its server is down), 400 for bad input."""

        def endpoint(request: Request) -> Response:
            try:
                return fn(request)
            except ReprolamError as exc:
                code = _status_of(exc)
                if as_json:
                    return JSONResponse({"error": str(exc)}, status_code=code)
                return page("error.html", code, message=str(exc), code=code)

        return endpoint

    def runs(request: Request) -> Response:
        return page("runs.html", **views.runs_page(store, request.query_params))

    def api_runs(request: Request) -> Response:
        return JSONResponse(views.runs_page(store, request.query_params)["page"].to_dict())

    def _int(request: Request, name: str) -> int:
        text = request.query_params.get(name, "0") or "0"
        try:
            return max(int(text), 0)
        except ValueError:
            raise ConfigError(f"bad {name} {text!r}: a whole number") from None

    def run(request: Request) -> Response:
        context = views.run_page(
            store, request.path_params["run"], steps_offset=_int(request, "steps")
        )
        # The exporter's SVG escapes markup; control characters (ANSI) are made visible too.
        svg = Markup(visible(context.pop("svg")))
        return page("run.html", svg=svg, **context)

    def api_run(request: Request) -> Response:
        from reprolam.client import Client

        view = Client(store, owned=False).show(request.path_params["run"])
        return JSONResponse(_jsonable(view.to_dict()))

    def api_live(request: Request) -> Response:
        return JSONResponse(views.live(store, request.path_params["run"]))

    def step(request: Request) -> Response:
        context = views.step_page(store, request.path_params["run"], request.path_params["index"])
        return page("step.html", **context)

    def api_step(request: Request) -> Response:
        context = views.step_page(store, request.path_params["run"], request.path_params["index"])
        return JSONResponse(_jsonable(views.step_json(context)))

    def artifact(request: Request) -> Response:
        return page("artifact.html", **views.artifact_page(store, request.path_params["digest"]))

    def api_artifact(request: Request) -> Response:
        context = views.artifact_page(store, request.path_params["digest"])
        producer = context["producer"]
        return JSONResponse(
            _jsonable(
                {
                    "digest": context["record"].digest,
                    "codec": context["record"].codec,
                    "size": context["record"].size,
                    "producer": None if producer is None else asdict(producer),
                    "preview": context["preview"].to_dict(),
                }
            )
        )

    def image(request: Request) -> Response:
        from reprolam.ui.previews import png_of

        data = png_of(store, request.path_params["digest"])
        if data is None:
            raise NotFoundError("this artifact is not a PNG image: open its page instead")
        return Response(data, media_type="image/png")

    def compare(request: Request) -> Response:
        refs = request.query_params.getlist("run")
        if not refs:
            return page("compare.html", comparison=None)
        x, y = request.query_params.get("x"), request.query_params.get("y")
        return page("compare.html", **_with_plot(views.compare_page(store, refs, x, y)))

    def api_compare(request: Request) -> Response:
        from reprolam.history.comparison import compare_runs
        from reprolam.history.sweep import run_or_sweep_ids

        refs = run_or_sweep_ids(store, request.query_params.getlist("run"))
        comparison = compare_runs(store, refs)
        return JSONResponse(_jsonable(comparison.to_dict()))

    def diff(request: Request) -> Response:
        from reprolam.history.diff import diff_runs

        a, b = request.query_params.get("a", ""), request.query_params.get("b", "")
        if not (a and b):
            raise ConfigError("a diff needs two runs: pass ?a=RUN&b=RUN")
        return page("diff.html", diff=diff_runs(store, a, b))

    def api_diff(request: Request) -> Response:
        from reprolam.history.diff import diff_runs

        a, b = request.query_params.get("a", ""), request.query_params.get("b", "")
        if not (a and b):
            raise ConfigError("a diff needs two runs: pass ?a=RUN&b=RUN")
        return JSONResponse(_jsonable(diff_runs(store, a, b).to_dict()))

    def forks(request: Request) -> Response:
        return page("forks.html", **views.fork_tree(store, request.path_params["run"]))

    def api_forks(request: Request) -> Response:
        tree = views.fork_tree(store, request.path_params["run"])
        nodes = [{"depth": depth, **run.to_dict()} for depth, run in tree["nodes"]]
        return JSONResponse(
            _jsonable({"current": tree["current"], "runs": nodes, "capped": tree["capped"]})
        )

    def audit(request: Request) -> Response:
        from reprolam.history.audit import audit as audit_run

        return page("audit.html", report=audit_run(store, request.path_params["run"]))

    def api_audit(request: Request) -> Response:
        from reprolam.history.audit import audit as audit_run

        return JSONResponse(_jsonable(audit_run(store, request.path_params["run"]).to_dict()))

    html_routes: list[tuple[str, Callable[[Request], Response]]] = [
        ("/", runs),
        ("/runs/{run}", run),
        ("/runs/{run}/steps/{index:int}", step),
        ("/runs/{run}/forks", forks),
        ("/runs/{run}/audit", audit),
        ("/artifacts/{digest}", artifact),
        ("/artifacts/{digest}/image.png", image),
        ("/compare", compare),
        ("/diff", diff),
    ]
    json_routes: list[tuple[str, Callable[[Request], Response]]] = [
        ("/api/runs", api_runs),
        ("/api/runs/{run}", api_run),
        ("/api/runs/{run}/live", api_live),
        ("/api/runs/{run}/steps/{index:int}", api_step),
        ("/api/runs/{run}/forks", api_forks),
        ("/api/runs/{run}/audit", api_audit),
        ("/api/artifacts/{digest}", api_artifact),
        ("/api/compare", api_compare),
        ("/api/diff", api_diff),
    ]
    static = StaticFiles(directory=str(resources.files("reprolam.ui").joinpath("static")))
    routes = [
        *(Route(path, guarded(fn)) for path, fn in html_routes),
        *(Route(path, guarded(fn, as_json=True)) for path, fn in json_routes),
        Mount("/static", static, name="static"),
        # Browsers and tools ask for /favicon.ico whatever the page links: not a 404 per tab
        Route("/favicon.ico", lambda _: RedirectResponse("/static/favicon.svg", 301)),
    ]
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(SecurityHeaders),
            Middleware(HostCheck, allowed=[*LOCAL_HOSTS, *extra_hosts]),
        ],
    )
    if index_in_background:
        _start_indexing(store)
    return app


def _with_plot(context: dict[str, Any]) -> dict[str, Any]:
    return {**context, "plot": Markup(context["plot"])}


def _jsonable(value: Any) -> Any:
    """JSON-safe: NaN and infinities (which JSON lacks) become the strings ``--json`` writes
    (``"NaN"``, ``"Infinity"``, ``"-Infinity"``: ``results.finite_json``)."""
    import math

    if isinstance(value, float) and not math.isfinite(value):
        from reprolam.results import finite_json

        return finite_json(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def _start_indexing(store: TraceStore) -> None:
    """Index every finished run's headline metrics once, in the background, newest first."""
    from reprolam.history.annotate import index_metrics

    def work() -> None:
        # The store closed, or a read failed: pages index what they list anyway.
        with contextlib.suppress(ReprolamError):
            index_metrics(store)

    threading.Thread(target=work, name="reprolam-ui-index", daemon=True).start()
