"""Decoding ``json`` artifacts without numpy: the one half of the ``json`` codec that
read-only commands need (``show`` reads metrics, environment snapshots and captured output)."""

from __future__ import annotations

import json
from typing import Any

from reprolam.errors import CodecError

_raw_decode = json.JSONDecoder().raw_decode


def loads_json(data: bytes) -> Any:
    """The value of a ``json`` artifact's bytes (what ``JsonCodec.decode`` returns)."""
    try:
        text = data.decode("utf-8", "surrogatepass")
        try:  # the bytes reprolam writes: one value, no whitespace around it (2x json.loads)
            value, end = _raw_decode(text)
            if end == len(text):
                return value
        except ValueError:
            pass
        return json.loads(text)  # whitespace around the value, or the error to report
    except (UnicodeDecodeError, ValueError) as exc:
        raise CodecError(f"json artifact is not valid JSON ({len(data)} bytes): {exc}") from exc
