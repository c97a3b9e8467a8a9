"""``reprolam ui``: the local web app over the store."""

from __future__ import annotations

import click

from reprolam.cli.main import Ctx, reports_errors
from reprolam.errors import ConfigError

LOOPBACK = ("127.0.0.1", "localhost", "::1")


@click.command()
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on. Anything but loopback shows the whole store to the network.",
)
@click.pass_obj
@reports_errors
def ui(obj: Ctx, port: int, host: str) -> None:
    """Serve a read-only web UI over the store: runs, traces, steps, comparisons, diffs.

    \b
    Example:
      reprolam ui                       # then open http://127.0.0.1:8765
      reprolam --store postgresql://me@db/lab --artifacts /shared/art ui --port 9000
    """
    if not host.strip():  # the system reads '' as every interface; the URL said http://:8765/
        raise ConfigError(
            f"{{host}} {host!r} is empty: give an address to listen on, e.g. "
            "{host=127.0.0.1} (this machine only), or {host=0.0.0.0} for every interface"
        )
    try:
        import jinja2  # noqa: F401
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise ConfigError(
            f"the web UI needs the ui extra ({exc.name} is not installed): "
            "pip install 'reprolam[ui]'"
        ) from exc
    from reprolam.ui import serve
    from reprolam.ui.server import bind

    with obj.open() as rl:
        store = rl.store
        listening = bind(host, port)  # a taken port or a foreign address: one error line
        if host not in LOOPBACK:
            click.echo(
                f"warning: listening on {host}: anyone who can reach it can read this store",
                err=True,
            )
        shown = f"[{host}]" if ":" in host else host
        port = listening.getsockname()[1]  # --port 0: the one the system chose
        click.echo(f"reprolam ui: http://{shown}:{port}/ over {store.location} (Ctrl-C stops)")
        serve(store, host=host, port=port, listening=listening)
