"""The ``frame`` codec: pandas DataFrame and Series, canonical and safe, without pickle or arrow.

A frame becomes one ``_container`` whose canonical-JSON header describes every axis and
column, and whose blobs are canonical ``.npy`` arrays. Column encodings (``enc``):

- ``npy``       numpy bool/int/uint/float/complex/datetime64/timedelta64 data, one blob
- ``object``    object dtype whose values are all str/None/bool/int/float: a JSON list
- ``str``       pandas ``StringDtype`` ("str" in pandas 3, "string"): a JSON list, None = missing
- ``category``  codes blob + categories (encoded like a column) + ordered flag
- ``masked``    nullable Int*/UInt*/Float*/boolean: data blob (missing slots zeroed) + mask blob

Indexes: ``RangeIndex`` as start/stop/step; other flat indexes as a column plus name
(and ``freq`` for datetime/timedelta indexes, which ``assert_frame_equal`` checks).
Labels and names must be JSON scalars. Anything else (MultiIndex, tz-aware, period,
interval, sparse, arrow dtypes, objects that are not JSON scalars, DataFrame subclasses)
makes ``can_encode`` False, so the serializer falls through to the next codec.

The string *storage* ("python"/"pyarrow") is deliberately not recorded: it is an
implementation detail of the installed pandas, and recording it would give the same
frame different hashes on machines with and without pyarrow. Decoding uses the default
storage for the recorded missing-value semantics.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import numpy.typing as npt
import pandas as pd

from reprolam.codecs._container import pack, unpack
from reprolam.codecs._json import is_plain
from reprolam.codecs._npy import array_bytes, array_from_bytes
from reprolam.codecs._values import Unrepresentable
from reprolam.errors import CodecError

_NUMPY_KINDS = frozenset("biufcmM")
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
        items = [
            None if missing else item
            for item, missing in zip(values.tolist(), values.isna(), strict=True)
        ]
        return {"enc": "str", "na": na, "values": items}
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


def _plan_index(index: pd.Index, arrays: list[npt.NDArray[Any]]) -> Node:
    name = _label(index.name)
    if type(index) is pd.RangeIndex:
        return {
            "enc": "range",
            "start": index.start,
            "stop": index.stop,
            "step": index.step,
            "name": name,
        }
    if isinstance(index, pd.MultiIndex):
        raise _Unsupported("MultiIndex")
    node: Node = {"enc": "values", "values": _plan_values(index, arrays), "name": name}
    if isinstance(index, pd.DatetimeIndex | pd.TimedeltaIndex) and index.freq is not None:
        node["freq"] = index.freqstr
    return node


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
            "kind": "frame",
            "index": _plan_index(value.index, arrays),
            "columns": _plan_index(value.columns, arrays),
            # Positional access: duplicate column labels are legal.
            "data": [_plan_values(value.iloc[:, i], arrays) for i in range(value.shape[1])],
        }
    elif kind is pd.Series:
        header = {
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
    return header, arrays


# -- decoding -------------------------------------------------------------------------------


def _blob_array(blobs: list[bytes], ref: Any) -> npt.NDArray[Any]:
    if type(ref) is not int or not 0 <= ref < len(blobs):
        raise CodecError(f"frame header refers to missing blob {ref!r}")
    array = array_from_bytes(blobs[ref])
    if array.ndim != 1:
        raise CodecError(f"frame column blob {ref} has {array.ndim} dimensions, expected 1")
    return array


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


def decode_frame(header: Node, blobs: list[bytes]) -> pd.DataFrame | pd.Series:
    """Inverse of ``plan_frame``; may raise any exception on a malformed header."""
    index = _decode_index(header["index"], blobs)
    kind = header["kind"]
    if kind == "series":
        result: pd.DataFrame | pd.Series = _column(
            _decode_values(header["values"], blobs), index, header["name"]
        )
    elif kind == "frame":
        columns = _decode_index(header["columns"], blobs)
        data = [_column(_decode_values(node, blobs), index) for node in header["data"]]
        if len(data) != len(columns):
            raise CodecError(f"frame header lists {len(columns)} columns but {len(data)} data")
        result = pd.DataFrame(dict(enumerate(data)), index=index)
        result.columns = columns
    else:
        raise CodecError(f"frame header has unknown kind {kind!r}")
    if "attrs" in header:
        result.attrs = header["attrs"]
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
        return pack(header, [array_bytes(a) for a in arrays])

    def encode(self, value: Any) -> bytes:
        try:
            header, arrays = plan_frame(value)
        except _Unsupported as exc:
            raise CodecError(
                f"frame codec cannot encode this {type(value).__name__}: {exc}"
            ) from exc
        return pack(header, [array_bytes(a) for a in arrays])

    def decode(self, data: bytes) -> Any:
        header, blobs = unpack(data)
        try:
            return decode_frame(header, blobs)
        except CodecError:
            raise
        except Exception as exc:  # malformed header: KeyError, TypeError, pandas ValueError...
            raise CodecError(f"frame artifact is malformed: {type(exc).__name__}: {exc}") from exc
