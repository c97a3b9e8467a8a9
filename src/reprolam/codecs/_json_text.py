"""Decoding ``json`` artifacts without numpy: the one half of the ``json`` codec that
read-only commands need (``show`` reads metrics, environment snapshots and captured output)."""

from __future__ import annotations

import json
from typing import Any

from reprolam.errors import CodecError


def loads_json(data: bytes) -> Any:
    """The value of a ``json`` artifact's bytes (what ``JsonCodec.decode`` returns)."""
    try:
        return json.loads(data.decode("utf-8", "surrogatepass"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise CodecError(f"json artifact is not valid JSON ({len(data)} bytes): {exc}") from exc
