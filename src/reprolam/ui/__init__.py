"""The local web UI (``reprolam ui``): runs, traces, steps, artifacts, comparisons, diffs.

Needs the ``ui`` extra (Starlette, Jinja2, uvicorn); imported only by the ``ui`` command
and by code that asks for ``create_app``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from reprolam.trace.contract import TraceStore

__all__ = ["create_app", "serve"]


def create_app(store: TraceStore, *, index_in_background: bool = True) -> Starlette:
    """The ASGI app over an open store (read-only; the caller closes the store)."""
    from reprolam.ui.app import create_app as make

    return make(store, index_in_background=index_in_background)


def serve(store: TraceStore, *, host: str = "127.0.0.1", port: int = 8765, **uvicorn: Any) -> None:
    """Serve the UI over ``store`` until interrupted."""
    from reprolam.ui.server import serve as run

    run(store, host=host, port=port, **uvicorn)
