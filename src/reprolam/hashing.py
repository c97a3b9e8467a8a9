"""Hashing and canonical JSON: the bytes behind every reproducibility claim."""

from __future__ import annotations

import json
from json import encoder as _json_encoder
from typing import Any

from blake3 import blake3

DIGEST_HEX_LEN = 64


def _plain_scalar(obj: Any) -> Any:
    """NumPy scalars are written as the Python scalars they hold; anything else is refused."""
    if type(obj).__module__ == "numpy" and hasattr(obj, "item"):
        return obj.item()
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


_ENCODER = json.JSONEncoder(
    sort_keys=True,
    separators=(",", ":"),
    ensure_ascii=False,
    allow_nan=True,
    default=_plain_scalar,
)


def _make_encoder() -> Any:
    """The C encoder ``JSONEncoder.encode`` builds on every call, built once (half its cost).

    Same arguments, so the same text; if a future CPython changes this private signature
    we fall back to the public path. ``markers=None`` skips the circular-reference check:
    a cycle still fails, with RecursionError.
    """
    make: Any = getattr(_json_encoder, "c_make_encoder", None)
    if make is None:
        return None
    try:
        chunks = make(
            None, _plain_scalar, _json_encoder.encode_basestring, None, ":", ",", True, False, True
        )
    except TypeError:
        return None
    probe = {"b": [1, 2.5, -0.0, None, True, "é\u2028\n"], "a": {"z": 1e-300, "y": float("inf")}}
    return chunks if "".join(chunks(probe, 0)) == _ENCODER.encode(probe) else None


_chunks = _make_encoder()


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace: equal values give equal text in any process."""
    if _chunks is None:
        return _ENCODER.encode(value)
    return "".join(_chunks(value, 0))


_FLOAT_SPECIALS = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}  # as allow_nan writes


def scalar_json(value: Any) -> str | None:
    """``canonical_json(value)`` of a str, int, float, bool or None (exactly those types)
    without the encoder's overhead; None for any other value."""
    kind = type(value)
    if kind is str:
        return _json_encoder.encode_basestring(value)  # what the canonical encoder uses
    if kind is int:
        return int.__repr__(value)
    if kind is float:
        text = float.__repr__(value)
        return _FLOAT_SPECIALS.get(text, text)
    if kind is bool:
        return "true" if value else "false"
    if value is None:
        return "null"
    return None


def canonical_json_bytes(value: Any) -> bytes:
    return canonical_json(value).encode("utf-8", "surrogatepass")


_PARALLEL_FROM = 1 << 20  # below this, starting threads costs more than it saves


# Hashers not in use, reset. Making a ``blake3`` object costs about 3,400 instructions (its
# constructor's argument handling), more than hashing a step's text; a small input is
# hashed by one taken from here and given back reset. Each call takes its own (``list.pop``
# and ``append`` are atomic), so threads never share one.
_idle: list[Any] = []


def digest_bytes(data: bytes, length: int = 32) -> bytes:
    """The first ``length`` bytes of the BLAKE3 digest of a small ``data`` (below 1 MiB)."""
    try:
        hasher = _idle.pop()
    except IndexError:
        hasher = blake3()
    hasher.update(data)
    raw: bytes = hasher.digest(length)
    hasher.reset()
    _idle.append(hasher)
    return raw


def digest(data: bytes) -> str:
    """Hex BLAKE3 digest of ``data`` (artifact ids, step hashes, fingerprints).

    Large inputs are hashed on all cores (BLAKE3 is a tree hash: same digest either way).
    """
    if len(data) >= _PARALLEL_FROM:
        return blake3(data, max_threads=blake3.AUTO).hexdigest()
    # ``digest_bytes``, inlined (three times per recorded step); .digest().hex() is the same
    # text as .hexdigest(), a fifth cheaper
    try:
        hasher = _idle.pop()
    except IndexError:
        hasher = blake3()
    hasher.update(data)
    text: str = hasher.digest().hex()
    hasher.reset()
    _idle.append(hasher)
    return text


def short(hex_digest: str | None, n: int = 12) -> str:
    """A digest shortened for display (whatever a damaged record holds instead)."""
    return str(hex_digest)[:n] if hex_digest else "-"
