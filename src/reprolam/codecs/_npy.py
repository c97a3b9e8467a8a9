"""The ``npy`` codec: numpy arrays in the standard ``.npy`` format, canonicalised first.

Every array is first made C-contiguous and, for structured dtypes, copied field by field
into a zeroed buffer (``write_array`` would otherwise write Fortran-ordered arrays as
Fortran data, and the padding bytes of structured records as whatever the allocator left
there); equal arrays then give equal bytes whatever their memory layout.

Writing: for plain dtypes (bool, numbers, datetime64/timedelta64, fixed-width bytes/str,
unstructured void) the header is built here, byte for byte the one numpy's
``write_array`` emits (format 1.0: a padded dict literal, data aligned to 64 bytes; a
test pins the equality). Owning it keeps the bytes independent of the installed numpy
and skips numpy's generic writer. Structured dtypes go through ``write_array``.

Reading is on the hot path of every replay, so the exact header written here is parsed
by a strict pattern and checked by rebuilding it byte for byte; numpy's own reader parses
it with ``ast.literal_eval`` (~75 us per array). Any other header (structured dtypes,
format 2.0/3.0, foreign files) is parsed like numpy does (``ast.literal_eval`` of at most
10,000 bytes, then ``descr_to_dtype``). Either way the dtype must hold no Python objects
(never unpickled), and the data length must equal shape x itemsize exactly *before*
anything is allocated, so a crafted header can neither read out of range nor make us
allocate more than the artifact's own size. Decoded arrays are fresh, writable copies.
"""

from __future__ import annotations

import ast
import io
import math
import re
import struct
from typing import Any

import numpy as np
import numpy.typing as npt

from reprolam.errors import CodecError

# 'O' holds Python objects (needs pickle); 'T' (numpy 2 StringDType) holds pointers.
_UNSUPPORTED_KINDS = frozenset("OT")
# Dtypes numpy writes as their plain ``dtype.str`` (no field list, no pickle).
_SIMPLE_KINDS = frozenset("biufcmMSUV")

_MAGIC = b"\x93NUMPY"
_V1_PREFIX = _MAGIC + b"\x01\x00"
_V1_LENGTH = struct.Struct("<H")
_V1_DATA_START = len(_V1_PREFIX) + _V1_LENGTH.size
_ARRAY_ALIGN = 64  # numpy.lib.format.ARRAY_ALIGN
_GROWTH_AXIS_MAX_DIGITS = 21  # numpy.lib.format.GROWTH_AXIS_MAX_DIGITS
_MAX_HEADER = 10_000  # numpy's read_array default (max_header_size) when not unpickling
# The header ``_plain_header`` writes; only extracts descr and shape: the match is then
# confirmed by rebuilding the header and comparing bytes.
_PLAIN_HEADER = re.compile(
    rb"\{'descr': '([<>|][a-zA-Z][0-9]{0,10}(?:\[[0-9]{0,10}[a-zA-Z]{1,2}\])?)', "
    rb"'fortran_order': False, 'shape': \(([0-9, ]{0,700})\), \}"
)
_HEADER_FORMATS = {(1, 0): ("<H", "latin1"), (2, 0): ("<I", "latin1"), (3, 0): ("<I", "utf8")}


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


# -- writing --------------------------------------------------------------------------------


def _plain_descr(dtype: np.dtype[Any]) -> str | None:
    """``dtype.str`` if numpy's ``write_array`` records this dtype as exactly that string."""
    if (
        dtype.kind in _SIMPLE_KINDS
        and dtype.names is None
        and dtype.subdtype is None
        and type(dtype).__module__ == "numpy.dtypes"  # built-in, not a user-defined dtype
    ):
        return dtype.str
    return None


def _plain_header(descr: str, shape: tuple[int, ...]) -> bytes | None:
    """numpy's format-1.0 header (magic to newline) for a C-ordered array, or None if too long.

    Mirrors ``numpy.lib.format._write_array_header`` + ``_wrap_header``: the dict literal
    with sorted keys, spare spaces for growing the first axis, then spaces and a newline
    up to a multiple of 64 bytes.
    """
    text = f"{{'descr': {descr!r}, 'fortran_order': False, 'shape': {shape!r}, }}"
    if shape:
        text += " " * (_GROWTH_AXIS_MAX_DIGITS - len(repr(shape[0])))
    length = len(text) + 1  # + the final newline
    padding = _ARRAY_ALIGN - ((_V1_DATA_START + length) % _ARRAY_ALIGN)
    if length + padding > 0xFFFF:
        return None
    return b"".join(
        (
            _V1_PREFIX,
            _V1_LENGTH.pack(length + padding),
            text.encode("latin1"),
            b" " * padding,
            b"\n",
        )
    )


def array_bytes(array: npt.NDArray[Any]) -> bytes:
    """Canonical ``.npy`` bytes of ``array`` (caller has checked ``array_supported``)."""
    return b"".join(array_parts(array))


def array_parts(array: npt.NDArray[Any]) -> tuple[bytes | memoryview, ...]:
    """``array_bytes`` in pieces, the data a view of the array's own memory (nothing copied),
    for a container to join with its other parts: one copy of the data in all."""
    array = canonical_array(array)
    descr = _plain_descr(array.dtype)
    header = None if descr is None else _plain_header(descr, array.shape)
    if header is None:
        buf = io.BytesIO()
        np.lib.format.write_array(buf, array, allow_pickle=False)
        return (buf.getvalue(),)
    # viewed as bytes, any dtype (datetimes too) exports its buffer
    return header, array.reshape(-1).view(np.uint8).data


# -- reading --------------------------------------------------------------------------------


def _read_plain_header(data: bytes) -> tuple[np.dtype[Any], tuple[int, ...], int] | None:
    """(dtype, shape, data offset) if ``data`` starts with our own plain header, else None."""
    if not data.startswith(_V1_PREFIX):
        return None
    match = _PLAIN_HEADER.match(data, _V1_DATA_START)
    if match is None:
        return None
    descr = match[1].decode("ascii")
    try:
        shape = tuple(int(part) for part in match[2].split(b",") if part.strip())
        dtype = np.dtype(descr)
    except (TypeError, ValueError):
        return None
    if _plain_descr(dtype) != descr:
        return None
    header = _plain_header(descr, shape)
    if header is None or not data.startswith(header):
        return None
    return dtype, shape, len(header)


def _read_any_header(data: bytes) -> tuple[np.dtype[Any], tuple[int, ...], bool, int]:
    """(dtype, shape, fortran order, data offset) of any .npy header, parsed as numpy does."""
    if not data.startswith(_MAGIC) or len(data) < len(_MAGIC) + 2:
        raise CodecError("npy data does not start with the .npy magic string")
    version = (data[len(_MAGIC)], data[len(_MAGIC) + 1])
    if version not in _HEADER_FORMATS:
        raise CodecError(f"npy format version {version[0]}.{version[1]} is not supported")
    length_format, encoding = _HEADER_FORMATS[version]
    start = len(_MAGIC) + 2 + struct.calcsize(length_format)
    if len(data) < start:
        raise CodecError("npy data is truncated inside its header")
    (length,) = struct.unpack_from(length_format, data, len(_MAGIC) + 2)
    if length > _MAX_HEADER:
        raise CodecError(f"npy header is {length} bytes, more than the {_MAX_HEADER} allowed")
    if len(data) < start + length:
        raise CodecError("npy data is truncated inside its header")
    try:
        fields = ast.literal_eval(data[start : start + length].decode(encoding))
    except Exception as exc:  # SyntaxError, ValueError, UnicodeDecodeError, RecursionError
        raise CodecError(f"npy header is not a Python literal: {exc}") from exc
    if not isinstance(fields, dict) or set(fields) != {"descr", "fortran_order", "shape"}:
        raise CodecError(f"npy header is not a .npy header dict: {str(fields)[:80]}")
    shape, fortran_order = fields["shape"], fields["fortran_order"]
    if type(shape) is not tuple or not all(type(n) is int and n >= 0 for n in shape):
        raise CodecError(f"npy header has an invalid shape {str(shape)[:80]}")
    if type(fortran_order) is not bool:
        raise CodecError(f"npy header has an invalid fortran_order {fortran_order!r}")
    try:
        dtype = np.lib.format.descr_to_dtype(fields["descr"])
    except Exception as exc:  # TypeError, ValueError...
        raise CodecError(f"npy header has an invalid descr: {exc}") from exc
    return dtype, shape, fortran_order, start + length


def array_from_bytes(data: bytes, *, shared: bool = False) -> npt.NDArray[Any]:
    """Inverse of ``array_bytes``; ``CodecError`` on anything else (never unpickles). With
    ``shared``, the array is a read-only view of ``data``'s memory (nothing copied)."""
    fortran_order = False
    plain = _read_plain_header(data)
    if plain is None:
        dtype, shape, fortran_order, offset = _read_any_header(data)
    else:
        dtype, shape, offset = plain
    if not _dtype_supported(dtype):
        raise CodecError(f"npy data has dtype {dtype}, which holds Python objects")
    if dtype.itemsize == 0 and dtype.kind in "SU":
        # No array has these (numpy makes them S1/U1), and allocating one would take
        # count bytes that the size check below cannot bound.
        raise CodecError(f"npy data has the zero-width dtype {dtype}, which no array can have")
    count = math.prod(shape)
    # Checked before allocating anything: the header cannot make us read or allocate more.
    size = count * dtype.itemsize
    if size != len(data) - offset:
        raise CodecError(
            f"npy data should hold {size} bytes for shape {shape} of {dtype}, "
            f"but {len(data) - offset} follow its header"
        )
    try:
        if size == 0:
            flat = np.empty(count, dtype=dtype)
        else:
            flat = np.frombuffer(data, dtype=dtype, count=count, offset=offset)
            flat = flat if shared else flat.copy()
        if fortran_order:
            return flat.reshape(shape[::-1]).transpose()
        return flat.reshape(shape)
    except (ValueError, TypeError, MemoryError) as exc:  # e.g. too many dimensions
        raise CodecError(f"npy data cannot be read as shape {shape} of {dtype}: {exc}") from exc


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

    def decode_shared(self, data: bytes) -> Any:
        """The array as a read-only view of ``data`` (``Serializer.loads_kept``)."""
        return array_from_bytes(data, shared=True)
