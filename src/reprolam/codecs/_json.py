"""The ``json`` codec: plain data as canonical JSON (sorted keys, no whitespace, NaN allowed).

It is the first codec tried and the one almost every trivial action result goes through,
so plain scalars skip the generic walk and the encoder call (~1 µs) entirely:
their text is produced by the same primitives ``json`` uses internally, so it is
byte-identical to ``hashing.canonical_json`` (a test checks that).

Lossy on purpose, and documented: tuples come back as lists, and numpy scalars
(``np.float64``, ``np.int64``, ``np.bool_``, ``np.str_``) come back as Python scalars.
Refused (``can_encode`` is False, so a later codec can take the value): dicts with
non-``str`` keys (``json`` would silently turn ``{1: 2}`` into ``{"1": 2}``), subclasses
of the plain types (an ``IntEnum`` or a namedtuple would lose its type), self-referencing
containers, and integers too large for ``int`` -> ``str`` conversion.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from reprolam.codecs._json_text import loads_json
from reprolam.errors import CodecError
from reprolam.hashing import canonical_json, scalar_json

# Python refuses int -> str beyond 4300 digits by default; stay safely below (~4200 digits).
_MAX_INT_BITS = 14_000
# Deeper nesting than this is treated as "not plain data" rather than risking RecursionError.
_MAX_DEPTH = 200


def _scalar_text(value: Any) -> str | None:
    """Canonical JSON text of a plain scalar, or None if ``value`` is not one (nor an int
    too long for Python to write in decimal)."""
    if type(value) is int and value.bit_length() > _MAX_INT_BITS:
        return None
    return scalar_json(value)


_LEAVES = frozenset({str, float, bool, type(None)})


def is_plain(value: Any, depth: int = 0) -> bool:
    """Whether ``value`` is data this codec round-trips (up to the documented conversions)."""
    kind = type(value)
    if kind in _LEAVES:
        return True
    if kind is int:
        return bool(value.bit_length() <= _MAX_INT_BITS)
    if depth >= _MAX_DEPTH:
        return False
    # Leaves are checked inline: this walk is most of the cost of encoding a small dict.
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str:
                return False
            if type(item) not in _LEAVES and not is_plain(item, depth + 1):
                return False
        return True
    if kind is list or kind is tuple:
        for item in value:
            if type(item) not in _LEAVES and not is_plain(item, depth + 1):
                return False
        return True
    if isinstance(value, np.generic):
        return value.dtype.kind in "biufU"
    return False


class JsonCodec:
    """None/bool/int/float/str and lists/tuples/dicts (``str`` keys) of those."""

    tag = "json"

    def can_encode(self, value: Any) -> bool:
        kind = type(value)
        if kind is int:
            return bool(value.bit_length() <= _MAX_INT_BITS)
        return kind in _LEAVES or is_plain(value)

    def try_encode(self, value: Any) -> bytes | None:
        """``encode(value)``, or None if it cannot be encoded: one walk instead of two."""
        text = _scalar_text(value)
        if text is None:
            if not is_plain(value):
                return None
            text = canonical_json(value)
        # surrogatepass: a lone surrogate in a str must round-trip, not crash the encoder.
        return text.encode("utf-8", "surrogatepass")

    def encode(self, value: Any) -> bytes:
        data = self.try_encode(value)
        if data is None:
            raise CodecError(
                f"json codec cannot encode {type(value).__name__} canonically "
                "(only None/bool/int/float/str and lists/tuples/dicts with str keys)"
            )
        return data

    def decode(self, data: bytes) -> Any:
        return loads_json(data)
