"""A tiny self-describing container: a canonical-JSON header plus binary blobs.

Layout (all integers little-endian)::

    magic  b"\\x93RLC"   4 bytes; 0x93 is not valid UTF-8, so a container never parses as JSON
    version            1 byte
    header length      u64, then that many bytes of canonical JSON (an object)
    blob count         u64, then per blob: length u64 + bytes

Nothing here depends on the process (no hashing of ``id``, no dict order from the caller:
the header is canonical JSON), so equal inputs give equal bytes anywhere. ``unpack``
checks every length against what is actually there, so truncated or foreign bytes fail
with ``CodecError`` instead of a ``struct`` or ``json`` traceback.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Sequence
from typing import Any

from reprolam.errors import CodecError
from reprolam.hashing import canonical_json

MAGIC = b"\x93RLC"
VERSION = 1

_U64 = struct.Struct("<Q")
_PREFIX_LEN = len(MAGIC) + 1


def pack(header: dict[str, Any], blobs: Sequence[bytes | Sequence[bytes | memoryview]]) -> bytes:
    """Header and blobs as one byte string; ``header`` must be canonical-JSON-able. A blob
    may come in pieces (``_npy.array_parts``): they are joined once, with everything else."""
    head = canonical_json(header).encode("utf-8", "surrogatepass")
    parts: list[bytes | memoryview] = [
        MAGIC,
        bytes([VERSION]),
        _U64.pack(len(head)),
        head,
        _U64.pack(len(blobs)),
    ]
    for blob in blobs:
        pieces = (blob,) if isinstance(blob, bytes) else blob
        parts.append(_U64.pack(sum(len(piece) for piece in pieces)))
        parts.extend(pieces)
    return b"".join(parts)


def unpack(data: bytes) -> tuple[dict[str, Any], list[bytes]]:
    """Inverse of ``pack``; ``CodecError`` on anything that is not a whole, valid container."""
    view = memoryview(data)
    if len(view) < _PREFIX_LEN or bytes(view[: len(MAGIC)]) != MAGIC:
        raise CodecError("not a reprolam container (bad magic bytes); the artifact is corrupt")
    if view[len(MAGIC)] != VERSION:
        raise CodecError(
            f"container version {view[len(MAGIC)]} is not supported (this reprolam reads "
            f"version {VERSION}); upgrade reprolam to read this artifact"
        )
    pos = _PREFIX_LEN
    head_len, pos = _read_u64(view, pos, "header length")
    head_bytes, pos = _read_bytes(view, pos, head_len, "header")
    try:
        header = json.loads(head_bytes.decode("utf-8", "surrogatepass"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # too deep: RecursionError
        raise CodecError(f"container header is not valid JSON: {exc}") from exc
    if not isinstance(header, dict):
        raise CodecError(f"container header must be a JSON object, got {type(header).__name__}")
    count, pos = _read_u64(view, pos, "blob count")
    # Each blob needs at least its 8-byte length: reject absurd counts before looping.
    if count > (len(view) - pos) // _U64.size:
        raise CodecError(f"container claims {count} blobs but only {len(view) - pos} bytes remain")
    blobs: list[bytes] = []
    for i in range(count):
        size, pos = _read_u64(view, pos, f"blob {i} length")
        blob, pos = _read_bytes(view, pos, size, f"blob {i}")
        blobs.append(blob)
    if pos != len(view):
        raise CodecError(f"container has {len(view) - pos} unexpected trailing bytes")
    return header, blobs


def _read_u64(view: memoryview, pos: int, what: str) -> tuple[int, int]:
    end = pos + _U64.size
    if end > len(view):
        raise CodecError(f"container is truncated: {what} missing at byte {pos}")
    (value,) = _U64.unpack_from(view, pos)
    return int(value), end


def _read_bytes(view: memoryview, pos: int, size: int, what: str) -> tuple[bytes, int]:
    end = pos + size
    if end > len(view):
        raise CodecError(
            f"container is truncated: {what} needs {size} bytes at byte {pos}, "
            f"only {len(view) - pos} remain"
        )
    return bytes(view[pos:end]), end
