"""``open_store``: one location string (path, ``memory:``, DSN) to the matching backend."""

from __future__ import annotations

import os
import re

from reprolam.errors import StoreError
from reprolam.trace._dsn import redact
from reprolam.trace.contract import TraceStore

DEFAULT_LOCATION = ".reprolam"
ENV_VAR = "REPROLAM_STORE"
ARTIFACTS_ENV_VAR = "REPROLAM_ARTIFACTS"  # the artifacts directory of a PostgreSQL store
MEMORY = "memory:"
POSTGRES_SCHEMES = ("postgresql", "postgres")
# libpq's other form, "host=db user=me password=... dbname=trace": no directory looks so
_KEYWORD_DSN = re.compile(
    r"(?:^|\s)(?:host|hostaddr|port|dbname|user|password|service|sslmode)\s*=\S", re.IGNORECASE
)


def open_store(
    location: str | os.PathLike[str] | None = None,
    *,
    artifacts: str | os.PathLike[str] | None = None,
    fsync: bool = False,
    create: bool = True,
) -> TraceStore:
    """Open (creating if needed) the trace store at ``location``.

    ``None`` means ``$REPROLAM_STORE``, else ``./.reprolam``. ``"memory:"`` is an in-memory
    store. ``postgresql://...`` (or ``postgres://``) is a PostgreSQL database; it keeps
    artifacts over 32 KiB as files in ``artifacts`` (default ``$REPROLAM_ARTIFACTS``), which
    is required. Anything else is a directory holding a SQLite ``trace.db`` and
    ``artifacts/`` (``artifacts`` overrides the latter). ``fsync=True`` makes every SQLite
    commit survive power loss, not only process crashes (PostgreSQL commits do already, as
    configured on the server). ``create=False`` refuses to create a store that is not there
    (``NotFoundError``), e.g. for the source of a copy.
    """
    if location is None:
        location = os.environ.get(ENV_VAR) or DEFAULT_LOCATION
    text = os.fspath(location)
    if not text.strip():  # read as a directory, '' is the current one: a store made there
        raise StoreError(
            f"store location {text!r} is empty: pass a directory (e.g. .reprolam), 'memory:' "
            "or a postgresql:// DSN"
        )
    artifacts = None if artifacts is None else os.fspath(artifacts)
    if text == MEMORY:
        if artifacts:
            raise StoreError(
                f"artifacts directory {artifacts!r} cannot be used with the memory: store, which "
                "keeps artifacts in memory: drop {artifacts} or use a directory store"
            )
        from reprolam.trace.memory import MemoryStore

        return MemoryStore()
    scheme, sep, _ = text.partition("://")
    if sep and scheme in POSTGRES_SCHEMES:
        from reprolam.trace.postgres import PostgresStore

        artifacts = artifacts or os.environ.get(ARTIFACTS_ENV_VAR) or None
        if artifacts is not None and "://" in artifacts:
            raise _remote_artifacts_error(artifacts)
        return PostgresStore(text, artifacts_dir=artifacts, create=create)
    if sep and scheme.isidentifier():
        raise StoreError(
            f"unsupported store location {redact(text)}: pass a directory, 'memory:' "
            "or a postgresql:// DSN"
        )
    if _KEYWORD_DSN.search(text) and not os.path.isdir(os.path.expanduser(text)):
        raise StoreError(
            f"store location {redact(text)!r} is a PostgreSQL keyword/value connection "
            "string, which would be taken as a directory name: write it as a URI, "
            "postgresql://USER:PASSWORD@HOST:PORT/DATABASE"
        )
    if artifacts is not None and "://" in artifacts:
        raise _remote_artifacts_error(artifacts)
    from reprolam.trace.sqlite import DB_NAME, SQLiteStore

    if not create and not os.path.isfile(os.path.join(os.path.expanduser(text), DB_NAME)):
        from reprolam.errors import NotFoundError

        if os.path.basename(os.path.normpath(text)) == DB_NAME and os.path.isfile(text):
            raise NotFoundError(  # --store .reprolam/trace.db: the store is its directory
                f"{text} is a store's database file, not its directory: pass "
                f"{os.path.dirname(os.path.normpath(text)) or '.'}"
            )
        raise NotFoundError(
            f"there is no trace store in {text} (no {DB_NAME}): check the path; a directory "
            "store holds trace.db and artifacts/ (recording a run creates one)"
        )
    return SQLiteStore(text, artifacts_dir=artifacts, fsync=fsync)


def refuse_dsn_without_artifacts(location: str | os.PathLike[str] | None, where: str) -> None:
    """A PostgreSQL DSN given where no artifacts directory can be passed (``where``: the
    call taking the store) needs ``$REPROLAM_ARTIFACTS``; the store's own error would say
    ``pass artifacts=PATH``, an option that call does not have."""
    text = os.fspath(location) if location is not None else os.environ.get(ENV_VAR, "")
    scheme, sep, _ = text.partition("://")
    if not sep or scheme not in POSTGRES_SCHEMES or os.environ.get(ARTIFACTS_ENV_VAR):
        return
    from reprolam.trace.blobs import INLINE_MAX

    raise StoreError(
        f"the PostgreSQL store {redact(text)} needs an artifacts directory for artifacts over "
        f"{INLINE_MAX // 1024} KiB, which {where} cannot be given: set REPROLAM_ARTIFACTS (the "
        "same directory for every process using this store), or pass an open client, "
        "store=reprolam.open(DSN, artifacts=PATH)"
    )


def _remote_artifacts_error(artifacts: str) -> StoreError:
    return StoreError(
        f"unsupported artifacts location {artifacts!r}: only a local directory is "
        "supported so far (a shared filesystem mount works for several machines)"
    )
