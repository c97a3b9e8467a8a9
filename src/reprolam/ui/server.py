"""Serving the app with uvicorn, bound to the loopback interface unless told otherwise."""

from __future__ import annotations

import errno
import socket
from typing import Any

from reprolam.errors import ConfigError
from reprolam.trace.contract import TraceStore

BACKLOG = 2048  # uvicorn's default


def serve(
    store: TraceStore,
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    listening: socket.socket | None = None,
    **options: Any,
) -> None:
    """Serve ``store`` on ``host:port`` (or on ``listening``, a socket ``bind`` made)."""
    import uvicorn

    from reprolam.ui.app import create_app

    sock = listening if listening is not None else bind(host, port)
    app = create_app(store, extra_hosts=[host, *_own_names(host)])
    level = options.pop("log_level", "warning")
    config = uvicorn.Config(app, host=host, port=sock.getsockname()[1], log_level=level, **options)
    uvicorn.Server(config).run(sockets=[sock])


def bind(host: str, port: int) -> socket.socket:
    """A socket listening on ``host:port`` (port 0: any free one), bound as uvicorn binds,
    or a ``ConfigError`` saying why not (the port is taken, the address is not this
    machine's) and what to pass instead."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)  # connections wait from the moment the address is printed
    except OSError as exc:
        sock.close()
        if isinstance(exc, socket.gaierror) or exc.errno == errno.EADDRNOTAVAIL:
            raise ConfigError(
                f"cannot listen on {host!r}: {exc.strerror or exc}: pass an address of this "
                "machine as {host} (127.0.0.1 by default)"
            ) from None
        raise ConfigError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}: pass another {{port}} "
            "(0 picks a free one), or stop what is using it"
        ) from None
    return sock


def _own_names(host: str) -> list[str]:
    """Bound to every interface (0.0.0.0, ::), the UI also answers to the machine's names
    (its addresses are accepted as the address each request arrives at)."""
    if host not in ("0.0.0.0", "::", ""):
        return []
    return [socket.gethostname(), socket.getfqdn()]
