"""Database locations in messages: never with their password."""

from __future__ import annotations

import re

_PARAM = re.compile(r"(?i)(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&]*)")
# What follows "user:" when it is a port, not a password ("host:5432/db", "h1:5432,h2:5433")
_PORT = re.compile(r"\d*(?:[/?,]|$)")


def redact(dsn: str) -> str:
    """A DSN fit for messages and ``location``: its password (URI or parameter) masked."""
    text = _PARAM.sub(r"\1***", dsn)
    found = _uri_password(text)
    if found is None:
        return text
    start, end = found
    return f"{text[:start]}***{text[end:]}"


def hide_password(message: str, dsn: str) -> str:
    """``message`` (libpq's, which may quote the DSN as it misread it) without the DSN's
    password, nor any piece of it that a ``/``, ``?``, ``#`` or ``@`` set apart. A piece
    shorter than 4 characters is masked where it is quoted whole (libpq quotes the value it
    refuses: ``invalid percent-encoded token: "a%2"``), not in every word holding it."""
    secrets = [m.group(2).strip("'") for m in _PARAM.finditer(dsn)]
    found = _uri_password(dsn)
    if found is not None:
        secrets.append(dsn[found[0] : found[1]])
    pieces = {p for s in secrets for p in _pieces(s) if p}
    for piece in sorted(pieces, key=len, reverse=True):
        if len(piece) >= 4:
            message = message.replace(piece, "***")
        else:
            for quote in "\"'":
                message = message.replace(f"{quote}{piece}{quote}", f"{quote}***{quote}")
    return message


def _pieces(secret: str) -> list[str]:
    """Every run of ``secret`` from its start or a separator to a separator or its end."""
    cuts = [0, *(m.start() for m in re.finditer(r"[/?#@]", secret)), len(secret)]
    starts = [0, *(c + 1 for c in cuts[1:-1])]
    return [secret[a:b] for a in starts for b in cuts if b > a]


def _uri_password(text: str) -> tuple[int, int] | None:
    """Where the password of a URI is: from the first ``:`` to the ``@`` before the host.

    That ``@`` is libpq's, the last before any ``/``; without one, the last ``@``: so a
    password holding ``/`` or ``?`` unencoded (generated passwords do) is found whole,
    though libpq reads such a DSN otherwise (and refuses it).
    """
    scheme, sep, rest = text.partition("://")
    if not sep:
        return None
    authority = rest.split("/", 1)[0]
    colon = rest.find(":")
    at = authority.rfind("@") if "@" in authority else rest.rfind("@")
    if colon < 0 or at < colon or "/" in rest[:colon] or _PORT.match(rest, colon + 1):
        return None
    offset = len(scheme) + len(sep)
    return offset + colon + 1, offset + at
