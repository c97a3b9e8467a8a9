"""``open_store``: one location string (path, ``memory:``, DSN) to the matching backend."""

from __future__ import annotations

import os

from reprolam.errors import StoreError
from reprolam.trace.contract import TraceStore

DEFAULT_LOCATION = ".reprolam"
ENV_VAR = "REPROLAM_STORE"
MEMORY = "memory:"


def open_store(
    location: str | os.PathLike[str] | None = None,
    *,
    artifacts: str | None = None,
    fsync: bool = False,
) -> TraceStore:
    """Open (creating if needed) the trace store at ``location``.

    ``None`` means ``$REPROLAM_STORE``, else ``./.reprolam``. ``"memory:"`` is an in-memory
    store; ``postgresql://...`` is reserved for the PostgreSQL backend; anything else is a
    directory holding a SQLite ``trace.db`` and ``artifacts/`` (``artifacts`` overrides the
    latter). ``fsync=True`` makes every commit survive power loss, not only process crashes.
    """
    if location is None:
        location = os.environ.get(ENV_VAR) or DEFAULT_LOCATION
    text = os.fspath(location)
    if text == MEMORY:
        if artifacts:
            raise StoreError(
                f"--artifacts {artifacts!r} cannot be used with the memory: store, which keeps "
                "artifacts in memory: drop --artifacts or use a directory store"
            )
        from reprolam.trace.memory import MemoryStore

        return MemoryStore()
    scheme, sep, _ = text.partition("://")
    if sep and scheme in ("postgresql", "postgres"):
        raise StoreError(
            f"cannot open {_redact(text)}: the PostgreSQL backend is not installed yet; "
            "use a directory (SQLite) store for now"
        )
    if sep and scheme.isidentifier():
        raise StoreError(
            f"unsupported store location {_redact(text)}: pass a directory, 'memory:' "
            "or a postgresql:// DSN"
        )
    if artifacts is not None and "://" in artifacts:
        raise StoreError(
            f"unsupported artifacts location {artifacts!r}: only a local directory is "
            "supported so far"
        )
    from reprolam.trace.sqlite import SQLiteStore

    return SQLiteStore(text, artifacts_dir=artifacts, fsync=fsync)


def _redact(dsn: str) -> str:
    """A DSN for messages, without its password."""
    scheme, _, rest = dsn.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not at:
        return dsn
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in credentials else dsn
