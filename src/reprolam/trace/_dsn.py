"""Database locations in messages: never with their password."""

from __future__ import annotations

import re


def redact(dsn: str) -> str:
    """A DSN fit for messages and ``location``: its password (URI or parameter) masked."""
    text = re.sub(r"(?i)(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&]*)", r"\1***", dsn)
    scheme, sep, rest = text.partition("://")
    if not sep:
        return text
    authority, slash, tail = rest.partition("/")
    credentials, at, hosts = authority.rpartition("@")
    if at and ":" in credentials:
        authority = f"{credentials.split(':', 1)[0]}:***@{hosts}"
    return f"{scheme}://{authority}{slash}{tail}"
