"""The ``frame`` codec: pandas DataFrame and Series, canonical and safe, without pickle or arrow.

A frame becomes one ``_container`` whose canonical-JSON header (``{"format":
"reprolam-frame/2", "kind": "frame", "index": ..., "columns": ..., "data": [...]}``)
describes every axis and column, and whose blobs are canonical ``.npy`` arrays.

``data`` lists the columns left to right. Each maximal run of consecutive columns sharing
one numpy bool/int/uint/float/complex dtype is a single ``block`` node: one 2-D blob of
shape (rows, run length), C order -- the layout ``pd.DataFrame(ndarray)`` produces. So the
common ML frame (all float64) is one blob, decoded with one ``frombuffer`` into a frame
backed by one C-contiguous block. The runs depend only on the column dtypes, never on
how pandas happens to hold the frame (consolidated or not, C or F order), so equal
frames still give equal bytes. Every other column is one node (``enc``):

- ``npy``       numpy datetime64/timedelta64 data (and, in Series and indexes, any numpy
                bool/int/uint/float/complex data): one 1-D blob
- ``object``    object dtype whose values are all str/None/bool/int/float: a JSON list
- ``str``       pandas ``StringDtype`` ("str" in pandas 3, "string"): a JSON list, None = missing
- ``category``  codes blob + categories (encoded like a column) + ordered flag
- ``masked``    nullable Int*/UInt*/Float*/boolean: data blob (missing slots zeroed) + mask blob

A Series is ``{"format", "kind": "series", "name", "index", "values": node}``.

Indexes: ``RangeIndex`` as start/stop/step; other flat indexes as a column plus name
(and ``freq`` for datetime/timedelta indexes, which ``assert_frame_equal`` checks).
Labels and names must be JSON scalars. Anything else (MultiIndex, tz-aware, period,
interval, sparse, arrow dtypes, objects that are not JSON scalars, DataFrame subclasses)
makes ``can_encode`` False, so the serializer falls through to the next codec.

The string *storage* ("python"/"pyarrow") is deliberately not recorded: it is an
implementation detail of the installed pandas, and recording it would give the same
frame different hashes on machines with and without pyarrow. Decoding uses the default
storage for the recorded missing-value semantics.

Format history: headers without ``format`` are format 1 (every column its own node, no
``block``). Their vocabulary is a subset of format 2's, so they still decode -- to equal
values, which re-encode to format 2 bytes (a different artifact id). Any other ``format``
is refused with ``CodecError``.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import numpy.typing as npt
import pandas as pd

from reprolam.codecs._container import pack, unpack
from reprolam.codecs._json import is_plain
from reprolam.codecs._npy import array_from_bytes, array_parts
from reprolam.codecs._values import Unrepresentable
from reprolam.errors import CodecError

FORMAT = "reprolam-frame/2"
_NUMPY_KINDS = frozenset("biufcmM")
_BLOCK_KINDS = frozenset("biufc")
_OBJECT_ITEM_TYPES = frozenset({str, type(None), bool, int, float})
_LABEL_TYPES = _OBJECT_ITEM_TYPES
_MASKED: dict[str, type[Any]] = {
    **{name: pd.arrays.IntegerArray for name in ("Int8", "Int16", "Int32", "Int64")},
    **{name: pd.arrays.IntegerArray for name in ("UInt8", "UInt16", "UInt32", "UInt64")},
    "Float32": pd.arrays.FloatingArray,
    "Float64": pd.arrays.FloatingArray,
    "boolean": pd.arrays.BooleanArray,
}

Node = dict[str, Any]
Values = pd.Series | pd.Index


class _Unsupported(Unrepresentable):
    """Raised while planning: this value has no canonical frame encoding."""


# -- encoding -------------------------------------------------------------------------------


def _label(value: Any) -> Any:
    if type(value) not in _LABEL_TYPES:
        raise _Unsupported(f"label {value!r} is not a JSON scalar")
    return value


def _plan_values(values: Values, arrays: list[npt.NDArray[Any]]) -> Node:
    dtype = values.dtype
    if isinstance(dtype, np.dtype):
        if dtype.kind in _NUMPY_KINDS:
            arrays.append(np.asarray(values.to_numpy()))
            return {"enc": "npy", "blob": len(arrays) - 1}
        if dtype.kind == "O":
            items = values.tolist()
            for item in items:
                if type(item) not in _OBJECT_ITEM_TYPES or not is_plain(item):
                    raise _Unsupported(f"object value {type(item).__name__} is not a JSON scalar")
            return {"enc": "object", "values": items}
        raise _Unsupported(f"numpy dtype {dtype}")
    if isinstance(dtype, pd.StringDtype):
        na = "NA" if dtype.na_value is pd.NA else "nan"
        # Missing values become None whatever the dtype's own marker (NaN or pd.NA).
        missing = np.asarray(values.array.isna(), dtype=bool).tolist()
        items = [None if gap else item for item, gap in zip(values.tolist(), missing, strict=True)]
        return {"enc": "str", "na": na, "values": items}
    if isinstance(dtype, pd.DatetimeTZDtype):
        # UTC instants as int64 plus the zone's name: exact, whatever the local clock.
        arrays.append(np.asarray(cast(Any, values.array).asi8, dtype=np.int64))
        return {
            "enc": "tz",
            "tz": _zone_name(dtype.tz),
            "unit": dtype.unit,
            "blob": len(arrays) - 1,
        }
    if isinstance(dtype, pd.CategoricalDtype):
        cat = cast(pd.Categorical, values.array)
        arrays.append(np.asarray(cat.codes))
        return {
            "enc": "category",
            "codes": len(arrays) - 1,
            "categories": _plan_values(dtype.categories, arrays),
            "ordered": bool(dtype.ordered),
        }
    if dtype.name in _MASKED:
        masked = values.array
        numpy_dtype = cast(Any, dtype).numpy_dtype
        # Slots under the mask hold arbitrary leftovers; zero them so the bytes are canonical.
        fill = False if numpy_dtype.kind == "b" else 0
        arrays.append(np.asarray(masked.to_numpy(dtype=numpy_dtype, na_value=fill)))
        arrays.append(np.asarray(masked.isna(), dtype=bool))
        return {
            "enc": "masked",
            "dtype": dtype.name,
            "data": len(arrays) - 2,
            "mask": len(arrays) - 1,
        }
    raise _Unsupported(f"dtype {dtype}")


def _zone_name(tz: Any) -> str:
    """A time zone pandas can rebuild from its name alone (IANA key or UTC), else refused."""
    import datetime as dt

    name = getattr(tz, "key", None) or getattr(tz, "zone", None)  # zoneinfo / pytz
    if name is None and tz in (dt.UTC,):
        name = "UTC"
    if type(name) is not str:
        raise _Unsupported(f"time zone {tz!r} has no IANA name (use zoneinfo.ZoneInfo or UTC)")
    return name


def _block_dtype(dtype: Any) -> bool:
    return isinstance(dtype, np.dtype) and dtype.kind in _BLOCK_KINDS


def _plan_data(frame: pd.DataFrame, arrays: list[npt.NDArray[Any]]) -> list[Node]:
    """Column nodes of ``frame``: a ``block`` per run of equal numeric dtypes (see module doc)."""
    dtypes = frame.dtypes.tolist()
    if dtypes and _block_dtype(dtypes[0]) and all(d == dtypes[0] for d in dtypes):
        # One dtype throughout (the common ML frame): pandas hands out the whole block.
        block = np.asarray(frame.to_numpy())
        if block.dtype != dtypes[0] or block.shape != frame.shape:
            raise _Unsupported(f"frame of {dtypes[0]} columns did not give one block")
        arrays.append(block)  # array_parts makes it C-contiguous
        return [{"enc": "block", "blob": len(arrays) - 1}]
    # items() is positional (duplicate labels are legal) and much cheaper than iloc.
    columns = [column for _, column in frame.items()]
    nodes: list[Node] = []
    start = 0
    while start < len(columns):
        dtype = columns[start].dtype
        stop = start + 1
        if not _block_dtype(dtype):
            try:
                nodes.append(_plan_values(columns[start], arrays))
            except _Unsupported as exc:  # which column, in a frame of hundreds
                raise _Unsupported(f"column {frame.columns[start]!r}: {exc}") from None
        else:
            while stop < len(columns) and _block_dtype(columns[stop].dtype):
                if columns[stop].dtype != dtype:
                    break
                stop += 1
            run = [np.asarray(column.to_numpy()) for column in columns[start:stop]]
            arrays.append(np.stack(run, axis=1))  # (rows, run length), C order
            nodes.append({"enc": "block", "blob": len(arrays) - 1})
        start = stop
    return nodes


def _plan_index(index: pd.Index, arrays: list[npt.NDArray[Any]]) -> Node:
    if isinstance(index, pd.MultiIndex):
        return _plan_multi(index, arrays)
    name = _label(index.name)
    if type(index) is pd.RangeIndex:
        return {
            "enc": "range",
            "start": index.start,
            "stop": index.stop,
            "step": index.step,
            "name": name,
        }
    node: Node = {"enc": "values", "values": _plan_values(index, arrays), "name": name}
    if isinstance(index, pd.DatetimeIndex | pd.TimedeltaIndex) and index.freq is not None:
        node["freq"] = index.freqstr
    return node


def _plan_multi(index: pd.MultiIndex, arrays: list[npt.NDArray[Any]]) -> Node:
    # Levels (each a flat index) and one int64 code array per level, as pandas holds them;
    # unused level values are dropped first so equal indexes give equal bytes.
    index = index.remove_unused_levels()
    levels = [_plan_index(level, arrays) for level in index.levels]
    codes = []
    for level_codes in index.codes:
        arrays.append(np.asarray(level_codes, dtype=np.int64))
        codes.append(len(arrays) - 1)
    names = [_label(n) for n in index.names]
    return {"enc": "multi", "levels": levels, "codes": codes, "names": names}


def plan_frame(
    value: Any, arrays: list[npt.NDArray[Any]] | None = None
) -> tuple[Node, list[npt.NDArray[Any]]]:
    """Header + blob arrays of a frame; ``Unrepresentable`` if it has no canonical encoding.

    Blob references in the header index ``arrays``, to which this appends: pass a shared
    list to embed the frame in a larger container (the ``tree`` codec does).
    """
    arrays = [] if arrays is None else arrays
    kind = type(value)
    if kind is pd.DataFrame:
        header: Node = {
            "format": FORMAT,
            "kind": "frame",
            "index": _plan_index(value.index, arrays),
            "columns": _plan_index(value.columns, arrays),
            "data": _plan_data(value, arrays),
        }
    elif kind is pd.Series:
        header = {
            "format": FORMAT,
            "kind": "series",
            "name": _label(value.name),
            "index": _plan_index(value.index, arrays),
            "values": _plan_values(value, arrays),
        }
    else:
        raise _Unsupported(f"{kind.__name__} is not a DataFrame or Series")
    if value.attrs:
        if not is_plain(value.attrs):
            raise _Unsupported("attrs are not plain JSON")
        header["attrs"] = value.attrs
    if not value.flags.allows_duplicate_labels:  # kept only when set: other bytes unchanged
        header["allows_duplicate_labels"] = False
    return header, arrays


# -- decoding -------------------------------------------------------------------------------


def _blob_array(blobs: list[bytes], ref: Any, ndim: int = 1) -> npt.NDArray[Any]:
    if type(ref) is not int or not 0 <= ref < len(blobs):
        raise CodecError(f"frame header refers to missing blob {str(ref)[:80]}")
    array = array_from_bytes(blobs[ref])
    if array.ndim != ndim:
        raise CodecError(f"frame blob {ref} has {array.ndim} dimensions, expected {ndim}")
    return array


def _block(node: Node, blobs: list[bytes], rows: int) -> npt.NDArray[Any]:
    block = _blob_array(blobs, node["blob"], ndim=2)
    if block.dtype.kind not in _BLOCK_KINDS or block.shape[0] != rows:
        raise CodecError(
            f"frame block blob {node['blob']} is {block.dtype} {block.shape}, "
            f"expected a numeric block with {rows} rows"
        )
    return block


def _decode_values(node: Node, blobs: list[bytes]) -> Any:
    enc = node["enc"]
    if enc == "npy":
        return _blob_array(blobs, node["blob"])
    if enc == "object":
        items = node["values"]
        out = np.empty(len(items), dtype=object)
        out[:] = items
        return out
    if enc == "str":
        # pd.StringDtype() is the pd.NA flavour in every pandas; na_value= needs pandas >= 2.3.
        str_dtype = pd.StringDtype() if node["na"] == "NA" else pd.StringDtype(na_value=np.nan)
        return pd.array(node["values"], dtype=str_dtype)
    if enc == "tz":
        utc = _blob_array(blobs, node["blob"])
        if utc.dtype != np.int64:
            raise CodecError(f"frame tz column blob is {utc.dtype}, expected int64")
        instants = pd.DatetimeIndex(utc.view(f"M8[{node['unit']}]")).tz_localize("UTC")
        return instants.tz_convert(str(node["tz"])).array
    if enc == "category":
        categories = _decode_values(node["categories"], blobs)
        dtype = pd.CategoricalDtype(
            pd.Index(categories, dtype=categories.dtype), ordered=bool(node["ordered"])
        )
        return pd.Categorical.from_codes(_blob_array(blobs, node["codes"]), dtype=dtype)
    if enc == "masked":
        array_type = _MASKED[node["dtype"]]
        data = _blob_array(blobs, node["data"])
        return array_type(data, _blob_array(blobs, node["mask"]))
    raise CodecError(f"frame header has unknown column encoding {enc!r}")


def _decode_index(node: Node, blobs: list[bytes]) -> pd.Index:
    if node["enc"] == "multi":
        levels: Any = [_decode_index(level, blobs) for level in node["levels"]]
        codes: Any = [_blob_array(blobs, ref) for ref in node["codes"]]
        return pd.MultiIndex(
            levels=levels,
            codes=codes,
            names=node["names"],
            verify_integrity=True,
        )
    if node["enc"] == "range":
        return pd.RangeIndex(node["start"], node["stop"], node["step"], name=node["name"])
    values = _decode_values(node["values"], blobs)
    index: pd.Index = pd.Index(values, dtype=values.dtype, name=node["name"], copy=False)
    freq = node.get("freq")
    if freq is not None:
        index_type = pd.DatetimeIndex if isinstance(index, pd.DatetimeIndex) else pd.TimedeltaIndex
        index = index_type(index, freq=freq)
    return index


def _column(values: Any, index: pd.Index, name: Any = None) -> pd.Series:
    # Explicit dtype: pandas 3 would otherwise infer "str" for an object array of strings.
    column: pd.Series = pd.Series(values, index=index, dtype=values.dtype, name=name, copy=False)
    return column


def _decode_data(nodes: Any, blobs: list[bytes], index: pd.Index, columns: pd.Index) -> Any:
    if type(nodes) is not list:
        raise CodecError("frame header has a malformed data list")
    rows = len(index)
    if len(nodes) == 1 and nodes[0]["enc"] == "block":
        # The common case: one dtype, one C-contiguous block, no copy.
        block = _block(nodes[0], blobs, rows)
        if block.shape[1] != len(columns):
            raise CodecError(f"frame header lists {len(columns)} columns but {block.shape[1]} data")
        return pd.DataFrame(block, index=index, columns=columns, copy=False)
    data: list[Any] = []
    for node in nodes:
        if node["enc"] == "block":
            block = _block(node, blobs, rows)
            data.extend(block[:, i] for i in range(block.shape[1]))
        else:
            values = _decode_values(node, blobs)
            # Only object arrays need a Series (explicit dtype, see _column); pandas checks
            # the length of the others.
            is_object = isinstance(values, np.ndarray) and values.dtype.kind == "O"
            data.append(_column(values, index) if is_object else values)
    if len(data) != len(columns):
        raise CodecError(f"frame header lists {len(columns)} columns but {len(data)} data")
    # Positional keys, then the real labels: duplicate labels are legal. Same-dtype
    # columns are consolidated into blocks, as pandas does for any dict of columns.
    result = pd.DataFrame(dict(enumerate(data)), index=index)
    result.columns = columns
    return result


def decode_frame(header: Node, blobs: list[bytes]) -> pd.DataFrame | pd.Series:
    """Inverse of ``plan_frame``; may raise any exception on a malformed header."""
    # No "format" key: format 1, whose nodes are a subset of format 2's (see module doc).
    if "format" in header and header["format"] != FORMAT:
        raise CodecError(
            f"frame artifact has format {str(header['format'])[:80]!r}; this reprolam reads "
            f"{FORMAT!r} (and format 1, which has no format key)"
        )
    index = _decode_index(header["index"], blobs)
    kind = header["kind"]
    if kind == "series":
        result: pd.DataFrame | pd.Series = _column(
            _decode_values(header["values"], blobs), index, header["name"]
        )
    elif kind == "frame":
        columns = _decode_index(header["columns"], blobs)
        result = _decode_data(header["data"], blobs, index, columns)
    else:
        raise CodecError(f"frame header has unknown kind {kind!r}")
    if "attrs" in header:
        result.attrs = header["attrs"]
    if header.get("allows_duplicate_labels") is False:
        result = result.set_flags(allows_duplicate_labels=False)
    return result


class FrameCodec:
    """pandas ``DataFrame`` / ``Series`` (exact types) with the dtypes listed in the module doc."""

    tag = "frame"

    def can_encode(self, value: Any) -> bool:
        if type(value) is not pd.DataFrame and type(value) is not pd.Series:
            return False
        try:
            plan_frame(value)
        except _Unsupported:
            return False
        return True

    def try_encode(self, value: Any) -> bytes | None:
        if type(value) is not pd.DataFrame and type(value) is not pd.Series:
            return None
        try:
            header, arrays = plan_frame(value)
        except _Unsupported:
            return None
        return pack(header, [array_parts(a) for a in arrays])

    def encode(self, value: Any) -> bytes:
        try:
            header, arrays = plan_frame(value)
        except _Unsupported as exc:
            raise CodecError(
                f"frame codec cannot encode this {type(value).__name__}: {exc}"
            ) from exc
        return pack(header, [array_parts(a) for a in arrays])

    def decode(self, data: bytes) -> Any:
        header, blobs = unpack(data)
        try:
            return decode_frame(header, blobs)
        except CodecError:
            raise
        except Exception as exc:  # malformed header: KeyError, TypeError, pandas ValueError...
            raise CodecError(f"frame artifact is malformed: {type(exc).__name__}: {exc}") from exc
