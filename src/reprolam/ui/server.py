"""Serving the app with uvicorn, bound to the loopback interface unless told otherwise."""

from __future__ import annotations

from typing import Any

from reprolam.trace.contract import TraceStore


def serve(store: TraceStore, *, host: str = "127.0.0.1", port: int = 8765, **options: Any) -> None:
    import uvicorn

    from reprolam.ui.app import create_app

    app = create_app(store, extra_hosts=[host, *_own_names(host)])
    uvicorn.run(app, host=host, port=port, log_level=options.pop("log_level", "warning"), **options)


def _own_names(host: str) -> list[str]:
    """Bound to every interface (0.0.0.0, ::), the UI also answers to the machine's names
    (its addresses are accepted as the address each request arrives at)."""
    import socket

    if host not in ("0.0.0.0", "::", ""):
        return []
    return [socket.gethostname(), socket.getfqdn()]
