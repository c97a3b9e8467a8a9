"""The ``npy`` codec: numpy arrays in the standard ``.npy`` format, canonicalised first.

``write_array`` is deterministic for a C-contiguous array (its header is a fixed-width,
padded dict literal), but it writes Fortran-ordered arrays as Fortran data and writes the
raw bytes of structured records including their padding, which is whatever the allocator
left there. So every array is first made C-contiguous and, for structured dtypes, copied
field by field into a zeroed buffer; equal arrays then give equal bytes whatever their
memory layout. Loading never unpickles (``allow_pickle=False``).
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import numpy.typing as npt

from reprolam.errors import CodecError

# 'O' holds Python objects (needs pickle); 'T' (numpy 2 StringDType) holds pointers.
_UNSUPPORTED_KINDS = frozenset("OT")


def array_supported(array: npt.NDArray[Any]) -> bool:
    """Whether ``array``'s dtype can be written without pickle (no objects anywhere inside)."""
    return _dtype_supported(array.dtype)


def _dtype_supported(dtype: np.dtype[Any]) -> bool:
    if dtype.hasobject or dtype.kind in _UNSUPPORTED_KINDS:
        return False
    if dtype.subdtype is not None:
        return _dtype_supported(dtype.subdtype[0])
    if dtype.fields is not None:
        return all(_dtype_supported(field[0]) for field in dtype.fields.values())
    return True


def canonical_array(array: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """A C-contiguous array equal to ``array`` whose bytes depend only on its values."""
    if array.dtype.names is not None:
        # Zeroed buffer + per-field copy: padding bytes between fields become 0.
        out = np.zeros(array.shape, dtype=array.dtype)
        for name in array.dtype.names:
            out[name] = array[name]
        return out
    if array.flags.c_contiguous:
        return array
    # Not ascontiguousarray: it turns 0-d arrays into 1-d ones.
    return array.copy(order="C")


def array_bytes(array: npt.NDArray[Any]) -> bytes:
    """Canonical ``.npy`` bytes of ``array`` (caller has checked ``array_supported``)."""
    buf = io.BytesIO()
    np.lib.format.write_array(buf, canonical_array(array), allow_pickle=False)
    return buf.getvalue()


def array_from_bytes(data: bytes) -> npt.NDArray[Any]:
    """Inverse of ``array_bytes``; ``CodecError`` on anything else (never unpickles)."""
    buf = io.BytesIO(data)
    try:
        array = np.lib.format.read_array(buf, allow_pickle=False)
    except Exception as exc:  # numpy raises ValueError, OSError, EOFError, SyntaxError...
        raise CodecError(f"npy data is not a valid .npy array ({len(data)} bytes): {exc}") from exc
    if buf.tell() != len(data):
        raise CodecError(f"npy data has {len(data) - buf.tell()} unexpected trailing bytes")
    return array


class NpyCodec:
    """numpy ``ndarray`` (exact type, not subclasses such as masked arrays) without objects."""

    tag = "npy"

    def can_encode(self, value: Any) -> bool:
        return type(value) is np.ndarray and array_supported(value)

    def try_encode(self, value: Any) -> bytes | None:
        return array_bytes(value) if self.can_encode(value) else None

    def encode(self, value: Any) -> bytes:
        if not self.can_encode(value):
            raise CodecError(
                f"npy codec cannot encode {type(value).__name__} "
                f"(dtype {getattr(value, 'dtype', '-')}): only ndarrays without Python objects"
            )
        return array_bytes(value)

    def decode(self, data: bytes) -> Any:
        return array_from_bytes(data)
