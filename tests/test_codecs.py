"""reprolam.codecs: canonical tagged bytes, safe loading, cross-process stability."""

from __future__ import annotations

import enum
import io
import json
import math
import os
import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal, assert_series_equal

from reprolam.codecs import (
    FrameCodec,
    JsonCodec,
    ModelCodec,
    ModelVersionWarning,
    NpyCodec,
    PickleCodec,
    Serializer,
    TreeCodec,
    default_serializer,
    describe,
    plugin_codecs,
)
from reprolam.codecs._container import pack, unpack
from reprolam.errors import CodecError
from reprolam.hashing import canonical_json, digest

TESTS = Path(__file__).resolve().parent
SRC = TESTS.parent / "src"


@pytest.fixture(scope="module")
def ser() -> Serializer:
    return default_serializer()


@pytest.fixture(scope="module")
def cancer() -> tuple[pd.DataFrame, pd.Series]:
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return X, y


@pytest.fixture(scope="module")
def fitted(cancer: tuple[pd.DataFrame, pd.Series]) -> dict[str, Any]:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = cancer
    return {
        "logreg": LogisticRegression(max_iter=5000).fit(X, y),
        "pipeline": Pipeline([("s", StandardScaler()), ("lr", LogisticRegression())]).fit(X, y),
        "forest": RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y),
    }


# -- json -----------------------------------------------------------------------------------

JSON_VALUES = [
    0,
    -7,
    2**80,
    1.5,
    -0.0,
    1e300,
    float("inf"),
    float("-inf"),
    True,
    False,
    None,
    "",
    'héllo \u2603 \U0001f600 "quoted" \\ \n\t\x00',
    [],
    {},
    [1, "a", None, [2, [3, {"k": 4.25}]]],
    {"b": 1, "a": {"z": [True, None], "y": "x"}, "é": 0.1},
]


@pytest.mark.parametrize("value", JSON_VALUES, ids=repr)
def test_json_round_trip_and_matches_canonical_json(ser: Serializer, value: Any) -> None:
    tag, data = ser.dumps_typed(value)
    assert tag == "json"
    # The scalar fast path must produce exactly hashing.canonical_json's text.
    assert data == canonical_json(value).encode()
    back = ser.loads_typed(tag, data)
    assert back == value
    assert type(back) is type(value)


def test_json_nan_round_trips_and_is_canonical(ser: Serializer) -> None:
    tag, data = ser.dumps_typed({"x": float("nan")})
    assert (tag, data) == ("json", b'{"x":NaN}')
    assert math.isnan(ser.loads_typed(tag, data)["x"])
    assert ser.dumps_typed(float("nan")) == ("json", b"NaN")


def test_json_distinguishes_bool_int_float(ser: Serializer) -> None:
    encoded = {ser.dumps_typed(v)[1] for v in (True, 1, 1.0)}
    assert encoded == {b"true", b"1", b"1.0"}
    assert ser.dumps_typed([True])[1] != ser.dumps_typed([1])[1]


def test_json_key_order_does_not_matter(ser: Serializer) -> None:
    assert ser.dumps_typed({"a": 1, "b": 2}) == ser.dumps_typed({"b": 2, "a": 1})


def test_json_documented_lossy_conversions(ser: Serializer) -> None:
    # Tuples come back as lists; numpy scalars as Python scalars.
    assert ser.loads_typed(*ser.dumps_typed((1, (2, 3)))) == [1, [2, 3]]
    value = {"f": np.float64(0.1), "g": np.float32(0.5), "i": np.int64(3), "b": np.bool_(True)}
    tag, data = ser.dumps_typed(value)
    assert tag == "json"
    assert data == b'{"b":true,"f":0.1,"g":0.5,"i":3}'
    back = ser.loads_typed(tag, data)
    assert [type(back[k]) for k in "bfgi"] == [bool, float, float, int]


def test_json_lone_surrogate_round_trips(ser: Serializer) -> None:
    value = "bad \ud800 surrogate"
    assert ser.loads_typed(*ser.dumps_typed(value)) == value


class Colour(enum.IntEnum):
    RED = 1


@pytest.mark.parametrize(
    ("value", "fallback"),
    [
        ({1: "int key"}, "tree"),
        ({"ok": {2: "nested int key"}}, "tree"),
        (Colour.RED, "refused"),
        ({1, 2}, "tree"),
        (b"bytes", "bytes"),
        (1 + 2j, "tree"),
        ([np.arange(3)], "tree"),
        (np.complex128(1 + 1j), "tree"),
        (10**5000, "tree"),
    ],
    ids=lambda v: type(v).__name__,
)
def test_json_refuses_lossy_values_which_fall_through(
    ser: Serializer, value: Any, fallback: str
) -> None:
    assert not JsonCodec().can_encode(value)
    with pytest.raises(CodecError):
        JsonCodec().encode(value)
    assert stored_as(ser, value) == fallback


def test_json_refuses_self_reference() -> None:
    loop: list[Any] = [1]
    loop.append(loop)
    assert not JsonCodec().can_encode(loop)


def test_json_decode_garbage() -> None:
    with pytest.raises(CodecError, match="not valid JSON"):
        JsonCodec().decode(b"{not json")
    with pytest.raises(CodecError):
        JsonCodec().decode(b"\xff\xfe")


# -- npy ------------------------------------------------------------------------------------

ARRAYS = {
    "float": np.linspace(0, 1, 7),
    "nan": np.array([np.nan, np.inf, -0.0, 1.0]),
    "int2d": np.arange(12, dtype=np.int32).reshape(3, 4),
    "empty": np.empty((0, 3)),
    "zero_d": np.array(3.5),
    "bool": np.array([True, False]),
    "unicode": np.array(["a", "héllo", "\U0001f600"]),
    "complex": np.array([1 + 2j]),
    "datetime": np.array(["2024-01-01", "NaT"], dtype="datetime64[ns]"),
    "packed_struct": np.array([(1, 2.0)], dtype=[("a", "<i4"), ("b", "<f8")]),
    "padded_struct": np.array([(1, 2.0)], dtype=np.dtype([("a", "u1"), ("b", "<f8")], align=True)),
}


@pytest.mark.parametrize("name", sorted(ARRAYS))
def test_npy_round_trip(ser: Serializer, name: str) -> None:
    array = ARRAYS[name]
    tag, data = ser.dumps_typed(array)
    assert tag == "npy"
    back = ser.loads_typed(tag, data)
    assert back.dtype == array.dtype
    assert back.shape == array.shape
    np.testing.assert_array_equal(back, array)
    assert ser.dumps_typed(back) == (tag, data)


def test_npy_memory_layout_does_not_change_bytes() -> None:
    codec = NpyCodec()
    base = np.arange(24, dtype=np.float64).reshape(4, 6)
    c_order = codec.encode(base)
    assert codec.encode(np.asfortranarray(base)) == c_order
    assert codec.encode(base[::-1][::-1]) == c_order  # negative-stride view of a view
    assert codec.encode(np.ascontiguousarray(base[::-1])[::-1]) == c_order
    wide = np.zeros((4, 12))
    wide[:, ::2] = base
    assert codec.encode(wide[:, ::2]) == c_order  # non-contiguous columns
    assert codec.encode(base.T.T) == c_order


def test_npy_padding_bytes_do_not_change_bytes() -> None:
    dtype = np.dtype([("a", "u1"), ("b", "<f8")], align=True)
    clean = np.zeros(3, dtype=dtype)
    dirty = np.empty(3, dtype=dtype)
    dirty.view(np.uint8)[:] = 0xAB  # garbage in the 7 padding bytes of each record
    dirty["a"], dirty["b"] = 0, 0.0
    assert NpyCodec().encode(dirty) == NpyCodec().encode(clean)


@pytest.mark.parametrize(
    "value",
    [
        np.array([{"a": 1}], dtype=object),
        np.array([(1, "x")], dtype=[("a", "i4"), ("b", "O")]),
        np.ma.masked_array([1, 2], mask=[False, True]),
        np.rec.array([(1, 2.0)], dtype=[("a", "i4"), ("b", "f8")]),
    ],
    ids=["object", "struct-with-object", "masked", "recarray"],
)
def test_npy_refuses_objects_and_subclasses(ser: Serializer, value: Any) -> None:
    assert not NpyCodec().can_encode(value)
    assert stored_as(ser, value) in ("tree", "refused")


def test_npy_decode_garbage_and_pickled_arrays() -> None:
    codec = NpyCodec()
    good = codec.encode(np.arange(10.0))
    for bad in (b"", b"garbage", good[:-1], good[:20], good + b"\x00"):
        with pytest.raises(CodecError):
            codec.decode(bad)
    buf = io.BytesIO()
    np.save(buf, np.array([{"x": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(CodecError):
        codec.decode(buf.getvalue())


def _numpy_npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, array, allow_pickle=False)
    return buf.getvalue()


NPY_PLAIN = [
    *(a for name, a in sorted(ARRAYS.items()) if "struct" not in name),
    np.zeros((569, 30)),
    np.zeros((1,) * 32),
    np.zeros((2, 0, 3), dtype=np.int8),
    np.zeros(10**5, dtype=np.uint8),
    np.zeros(3, dtype=">f8"),
    np.zeros(3, dtype="m8[10ms]"),
    np.zeros(2, dtype="M8"),
    np.zeros(2, dtype="V4"),
    np.array([b"ab", b""]),
    np.array([1.5], dtype=np.float16),
    np.array([1, 2], dtype=np.longdouble),
    np.array(7, dtype=np.uint64),
]


@pytest.mark.parametrize("array", NPY_PLAIN, ids=lambda a: f"{a.dtype.str}{a.shape}")
def test_npy_bytes_are_numpys_own(array: np.ndarray) -> None:
    # reprolam writes (and fast-parses) the .npy header itself: it must stay byte for byte
    # what numpy writes, so the bytes are standard .npy and older artifacts keep their ids.
    from reprolam.codecs._npy import _read_plain_header, array_bytes, array_from_bytes

    data = array_bytes(array)
    assert data == _numpy_npy(array)
    assert _read_plain_header(data) is not None  # the fast path, not ast.literal_eval
    back = array_from_bytes(data)
    assert (back.dtype, back.shape) == (array.dtype, array.shape)
    assert back.flags.c_contiguous
    assert back.flags.writeable
    assert back.flags.aligned
    np.testing.assert_array_equal(back, array)


def test_npy_decodes_other_valid_headers() -> None:
    from reprolam.codecs._npy import _read_plain_header, array_from_bytes

    base = np.arange(12.0).reshape(3, 4)
    fortran = np.asfortranarray(base)
    buf = io.BytesIO()
    np.save(buf, fortran)  # numpy writes fortran_order: True and F-ordered data
    back = array_from_bytes(buf.getvalue())
    np.testing.assert_array_equal(back, base)
    for version in ((2, 0), (3, 0)):
        buf = io.BytesIO()
        np.lib.format.write_array(buf, base, version=version)
        assert _read_plain_header(buf.getvalue()) is None
        np.testing.assert_array_equal(array_from_bytes(buf.getvalue()), base)
    struct = ARRAYS["padded_struct"]
    data = NpyCodec().encode(struct)
    assert _read_plain_header(data) is None  # structured: numpy's literal syntax
    back = NpyCodec().decode(data)
    assert back.dtype == struct.dtype
    np.testing.assert_array_equal(back, struct)


def _npy_with_header(text: str, payload: bytes = b"", version: int = 1) -> bytes:
    head = text.encode("latin1") + b"\n"
    size = len(head).to_bytes(2 if version == 1 else 4, "little")
    return b"\x93NUMPY" + bytes([version, 0]) + size + head + payload


def test_npy_decode_refuses_crafted_headers() -> None:
    codec = NpyCodec()
    plain = "{'descr': '<f8', 'fortran_order': False, 'shape': %s, }"
    for bad in (
        # Claims far more data than follows: refused before anything is allocated.
        _npy_with_header(plain % "(1000000000000,)", bytes(8)),
        _npy_with_header(plain % "(10, 10000000000, 10000000000)", bytes(8)),
        _npy_with_header(plain % "(0, 10000000000000000000000000000)"),
        _npy_with_header(plain % "(1,)", bytes(16)),  # trailing bytes
        _npy_with_header(plain % "(-1,)", bytes(8)),
        _npy_with_header(plain % "('1',)", bytes(8)),
        _npy_with_header(plain % "(1.0,)", bytes(8)),
        _npy_with_header(plain % "(True,)", bytes(8)),
        _npy_with_header(plain % "(1,) + (1,)", bytes(8)),
        _npy_with_header(plain % "[1]", bytes(8)),
        _npy_with_header("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", bytes(8)),
        _npy_with_header("{'descr': [('a', '|O')], 'fortran_order': False, 'shape': (1,), }"),
        _npy_with_header("{'descr': 'nonsense', 'fortran_order': False, 'shape': (1,), }"),
        _npy_with_header(
            "{'descr': '<U0', 'fortran_order': False, 'shape': (1000000000000000,), }"
        ),
        _npy_with_header(
            "{'descr': '|S0', 'fortran_order': False, 'shape': (1000000000000000,), }"
        ),
        _npy_with_header("{'descr': '<f8', 'fortran_order': 0, 'shape': (1,), }", bytes(8)),
        _npy_with_header("{'descr': '<f8', 'shape': (1,), }", bytes(8)),
        _npy_with_header("{'descr': '<f8', 'fortran_order': False, 'shape': (1,), 'x': 1}"),
        _npy_with_header("__import__('os').system('true')"),
        _npy_with_header("{" + " " * 20_000 + "}", version=2),  # header too long to parse
        _npy_with_header(plain % "(1,)", bytes(8), version=9),
        b"\x93NUMPY\x01\x00\xff\xff{'descr'",  # header length beyond the data
    ):
        with pytest.raises(CodecError):
            codec.decode(bad)
    # A header that is valid but not the canonical text still decodes (numpy's parser).
    loose = _npy_with_header("{'shape':(2,),'fortran_order':False,'descr':'<i4'}", bytes(8))
    np.testing.assert_array_equal(codec.decode(loose), np.zeros(2, dtype=np.int32))


# -- container ------------------------------------------------------------------------------


def test_container_round_trip_and_truncation() -> None:
    header = {"b": [1, 2], "a": "é"}
    blobs = [b"", b"\x00\x01", b"x" * 100]
    data = pack(header, blobs)
    assert unpack(data) == (header, blobs)
    assert pack({"a": "é", "b": [1, 2]}, blobs) == data
    for cut in range(len(data)):
        with pytest.raises(CodecError):
            unpack(data[:cut])
    with pytest.raises(CodecError, match="trailing"):
        unpack(data + b"\x00")
    with pytest.raises(CodecError, match="magic"):
        unpack(b"PK\x03\x04" + data[4:])
    with pytest.raises(CodecError, match="version"):
        unpack(data[:4] + b"\x09" + data[5:])


def test_container_rejects_huge_blob_count() -> None:
    head = b"{}"
    data = b"\x93RLC\x01" + len(head).to_bytes(8, "little") + head + (2**60).to_bytes(8, "little")
    with pytest.raises(CodecError, match="blobs"):
        unpack(data)


# -- frame ----------------------------------------------------------------------------------

FRAMES: dict[str, Callable[[], pd.DataFrame]] = {
    "str": lambda: pd.DataFrame({"a": ["x", "y"]}),
    "mixed": lambda: pd.DataFrame(
        {"s": ["x", None], "f": [1.0, np.nan], "i": [1, 2], "b": [True, False]}
    ),
    "string_dtype": lambda: pd.DataFrame(
        {"s": pd.Series(["a", None], dtype="string"), "o": pd.Series(["a", None], dtype=object)}
    ),
    "object_scalars": lambda: pd.DataFrame({"o": pd.Series([1, "a", 2.5, None], dtype=object)}),
    "categorical": lambda: pd.DataFrame(
        {"c": pd.Categorical(["a", "b", "a"], ordered=True), "n": pd.Categorical([1, 2, 1])}
    ),
    "nullable": lambda: pd.DataFrame(
        {
            "i": pd.array([1, None, 3], dtype="Int64"),
            "b": pd.array([True, None, False], dtype="boolean"),
            "f": pd.array([1.5, None, 2.0], dtype="Float64"),
        }
    ),
    "datetime_index_freq": lambda: pd.DataFrame(
        {
            "t": pd.date_range("2020-01-01", periods=3),
            "d": pd.to_timedelta([1, 2, 3], unit="s"),
        },
        index=pd.date_range("2021-01-01", periods=3, freq="h", name="when"),
    ),
    "int_labels": lambda: pd.DataFrame(np.arange(6.0).reshape(2, 3)),
    "datetime_labels": lambda: pd.DataFrame([[1, 2]], columns=pd.to_datetime(["2020", "2021"])),
    "duplicate_columns": lambda: pd.DataFrame(
        np.arange(6.0).reshape(2, 3), columns=["a", "a", "b"], index=pd.Index([3, 1], name="k")
    ),
    "empty": pd.DataFrame,
    "no_columns": lambda: pd.DataFrame(index=pd.RangeIndex(2, 10, 3)),
    "no_rows": lambda: pd.DataFrame({"a": pd.Series([], dtype="float32")}),
    "unicode": lambda: pd.DataFrame({"ünï": ["\U0001f600"]}, index=pd.Index(["é"], name=7)),
    "attrs": lambda: _with_attrs(pd.DataFrame({"a": [1]})),
    # the flag refuses duplicate labels from then on: it was lost (assert_frame_equal checks it)
    "no_duplicate_labels": lambda: pd.DataFrame({"a": [1]}).set_flags(
        allows_duplicate_labels=False
    ),
}


def _with_attrs(frame: pd.DataFrame) -> pd.DataFrame:
    frame.attrs = {"source": "test"}
    return frame


@pytest.mark.parametrize("name", sorted(FRAMES))
def test_frame_round_trip(ser: Serializer, name: str) -> None:
    frame = FRAMES[name]()
    tag, data = ser.dumps_typed(frame)
    assert tag == "frame"
    back = ser.loads_typed(tag, data)
    assert_frame_equal(back, frame)
    assert back.attrs == frame.attrs
    assert ser.dumps_typed(back) == (tag, data)


def test_frame_pandas3_str_dtype_survives(ser: Serializer) -> None:
    frame = pd.DataFrame({"a": ["x", "y"]})
    back = ser.loads_typed(*ser.dumps_typed(frame))
    assert back["a"].dtype == frame["a"].dtype
    assert_frame_equal(back, frame)


def test_series_round_trip(ser: Serializer) -> None:
    for series in (
        pd.Series([1.0, 2.0], name="x", index=pd.Index(["a", "b"])),
        pd.Series(["p", None], name=3),
        pd.Series([], dtype="int64"),
    ):
        tag, data = ser.dumps_typed(series)
        assert tag == "frame"
        assert_series_equal(ser.loads_typed(tag, data), series)


def test_frame_bytes_do_not_depend_on_layout() -> None:
    values = np.arange(12.0).reshape(4, 3)
    a = pd.DataFrame(values, columns=["x", "y", "z"])
    b = pd.DataFrame(np.asfortranarray(values), columns=["x", "y", "z"])
    c = pd.DataFrame({"x": values[:, 0], "y": values[:, 1], "z": values[:, 2]})
    d = pd.DataFrame(values[::-1], columns=["x", "y", "z"]).iloc[::-1].reset_index(drop=True)
    codec = FrameCodec()
    assert codec.encode(a) == codec.encode(b) == codec.encode(c) == codec.encode(d)


@pytest.mark.parametrize(
    "value",
    [
        pd.DataFrame({"a": [{"nested": 1}]}),
        pd.DataFrame({"a": pd.period_range("2020", periods=2, freq="D")}),
        pd.DataFrame([[1, 2]], columns=pd.Index(["a", frozenset({1})], dtype=object)),
        pd.DataFrame({"a": [1]}, index=pd.Index([b"raw"], dtype=object)),
    ],
    ids=["dict-values", "period", "set-label", "bytes"],
)
def test_frame_refuses_what_it_cannot_represent(ser: Serializer, value: Any) -> None:
    assert not FrameCodec().can_encode(value)
    with pytest.raises(CodecError):
        FrameCodec().encode(value)
    assert stored_as(ser, value) == "refused"


def test_a_refused_frame_names_the_column_that_cannot_be_stored(ser: Serializer) -> None:
    """Said only 'object value date is not a JSON scalar': which of 200 columns was it?"""
    import datetime as dt

    frame = pd.DataFrame({"site": ["x"], "visited": [dt.date(2020, 1, 1)], "n": [1]})
    with pytest.raises(CodecError, match=r"\(column 'visited': object value date is not"):
        ser.dumps_typed(frame)


def test_frame_decode_garbage() -> None:
    codec = FrameCodec()
    good = codec.encode(pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"]}))
    for bad in (b"", b"not a frame", good[:-3], good + b"!"):
        with pytest.raises(CodecError):
            codec.decode(bad)
    header, blobs = unpack(good)
    for broken in (
        {**header, "kind": "panel"},
        {**header, "data": header["data"][:1]},
        {"kind": "frame"},
        {**header, "data": [{"enc": "npy", "blob": 99}, header["data"][1]]},
    ):
        with pytest.raises(CodecError):
            codec.decode(pack(broken, blobs))


def _frame_header(frame: pd.DataFrame | pd.Series) -> dict[str, Any]:
    return unpack(FrameCodec().encode(frame))[0]


def test_frame_single_dtype_is_one_block(
    ser: Serializer, cancer: tuple[pd.DataFrame, pd.Series]
) -> None:
    from reprolam.codecs._npy import array_from_bytes

    X, _ = cancer
    tag, data = ser.dumps_typed(X)
    header, blobs = unpack(data)
    assert header["format"] == "reprolam-frame/2"
    assert header["data"] == [{"enc": "block", "blob": 0}]
    assert len(blobs) == 1
    block = array_from_bytes(blobs[0])
    assert (block.dtype, block.shape) == (np.dtype("float64"), (569, 30))
    np.testing.assert_array_equal(block, X.to_numpy())
    back = ser.loads_typed(tag, data)
    assert_frame_equal(back, X)  # dtypes, column labels and index included
    assert back.columns.dtype == X.columns.dtype
    assert back.values.flags.c_contiguous
    back.iloc[0, 0] = -1.0  # a decoded frame is an ordinary, writable frame
    assert back.iloc[0, 0] == -1.0
    assert ser.dumps_typed(ser.loads_typed(tag, data)) == (tag, data)


def _layouts(values: np.ndarray, columns: list[str]) -> list[pd.DataFrame]:
    """The same frame built in ways that leave pandas holding it differently."""
    by_dict = pd.DataFrame({name: values[:, i] for i, name in enumerate(columns)})
    unconsolidated = pd.DataFrame(index=pd.RangeIndex(len(values)))
    for i, name in enumerate(columns):
        unconsolidated[name] = values[:, i].copy()  # one block per column
    wide = pd.DataFrame(np.repeat(values, 2, axis=1))
    strided = wide.iloc[:, ::2].copy(deep=False)
    strided.columns = columns
    return [
        pd.DataFrame(values, columns=columns),
        pd.DataFrame(np.asfortranarray(values), columns=columns),
        pd.DataFrame(np.ascontiguousarray(values.T).T, columns=columns),
        by_dict,
        by_dict.copy(),
        unconsolidated,
        unconsolidated.copy(),
        strided,
        pd.DataFrame(values[::-1], columns=columns).iloc[::-1].reset_index(drop=True),
        pd.concat(
            [
                pd.DataFrame(values[:, :1], columns=columns[:1]),
                pd.DataFrame(values[:, 1:], columns=columns[1:]),
            ],
            axis=1,
        ),
    ]


@pytest.mark.parametrize("dtype", ["float64", "float32", "int64", "uint8", "bool", "complex128"])
def test_frame_block_bytes_do_not_depend_on_layout(dtype: str) -> None:
    values = (np.arange(20).reshape(5, 4) % 3).astype(dtype)
    columns = ["w", "x", "y", "z"]
    frames = _layouts(values, columns)
    assert len({frame._mgr.nblocks for frame in frames}) > 1  # really different layouts
    codec = FrameCodec()
    encoded = {codec.encode(frame) for frame in frames}
    assert len(encoded) == 1
    (data,) = encoded
    back = codec.decode(data)
    assert_frame_equal(back, frames[0])
    assert back.values.flags.c_contiguous
    assert codec.encode(back) == data
    # Column order is part of the value: reordering changes the bytes.
    assert codec.encode(frames[0][columns[::-1]]) != data


def test_frame_mixed_dtypes_group_runs_into_blocks(ser: Serializer) -> None:
    n = 4
    columns: dict[str, Any] = {
        "a": np.arange(n, dtype=np.float64),
        "b": np.ones(n),
        "i": np.arange(n),
        "s": ["x", None, "z", "w"],
        "f": np.full(n, 0.5),
        "t": pd.date_range("2020", periods=n),
        "k": np.array([True, False] * 2),
        "m": np.zeros(n),
    }
    frame = pd.DataFrame(columns)
    header = _frame_header(frame)
    assert [node["enc"] for node in header["data"]] == [
        "block",  # a, b
        "block",  # i
        "str",
        "block",  # f
        "npy",  # t: datetimes stay per column
        "block",  # k
        "block",  # m
    ]
    tag, data = ser.dumps_typed(frame)
    back = ser.loads_typed(tag, data)
    assert_frame_equal(back, frame)
    assert ser.dumps_typed(back) == (tag, data)
    # Runs follow the column dtypes, not pandas' blocks: any construction, same bytes.
    unconsolidated = pd.DataFrame(index=frame.index)
    for name, column in columns.items():
        unconsolidated[name] = column
    assert ser.dumps_typed(unconsolidated) == (tag, data)
    assert ser.dumps_typed(frame.copy()) == (tag, data)
    assert ser.dumps_typed(pd.concat([frame.iloc[:, :3], frame.iloc[:, 3:]], axis=1)) == (
        tag,
        data,
    )


def test_frame_legacy_format_still_decodes() -> None:
    # Format 1 (no "format" key): one .npy blob per column. Still readable; re-encoding
    # gives format 2 bytes.
    from reprolam.codecs._npy import array_bytes

    frame = pd.DataFrame({"x": [1.0, 2.0], "y": [3.0, 4.0], "s": ["a", "b"]})
    legacy = pack(
        {
            "kind": "frame",
            "index": {"enc": "range", "start": 0, "stop": 2, "step": 1, "name": None},
            "columns": {
                "enc": "values",
                "values": _frame_header(frame)["columns"]["values"],
                "name": None,
            },
            "data": [
                {"enc": "npy", "blob": 0},
                {"enc": "npy", "blob": 1},
                {"enc": "str", "na": "nan", "values": ["a", "b"]},
            ],
        },
        [array_bytes(frame["x"].to_numpy()), array_bytes(frame["y"].to_numpy())],
    )
    back = FrameCodec().decode(legacy)
    assert_frame_equal(back, frame)
    assert FrameCodec().encode(back) == FrameCodec().encode(frame) != legacy


def test_frame_decode_refuses_bad_blocks_and_formats() -> None:
    from reprolam.codecs._npy import array_bytes

    codec = FrameCodec()
    frame = pd.DataFrame(np.arange(6.0).reshape(3, 2), columns=["a", "b"])
    header, blobs = unpack(codec.encode(frame))
    block = {"enc": "block", "blob": 0}
    cases: list[tuple[dict[str, Any], list[bytes]]] = [
        ({**header, "format": "reprolam-frame/3"}, blobs),
        ({**header, "format": None}, blobs),
        (header, [array_bytes(np.arange(6.0))]),  # 1-D blob for a block
        (header, [array_bytes(np.arange(8.0).reshape(4, 2))]),  # 4 rows, index has 3
        (header, [array_bytes(np.arange(9.0).reshape(3, 3))]),  # 3 columns, labels 2
        (header, [array_bytes(np.zeros((3, 2), dtype="M8[ns]"))]),  # not a numeric block
        (header, [array_bytes(np.zeros((3, 2), dtype="U2"))]),
        ({**header, "data": [block, block]}, blobs),  # 4 columns of data, 2 labels
        ({**header, "data": block}, blobs),
        ({**header, "data": [{"enc": "block", "blob": "0"}]}, blobs),
        ({**header, "data": [{"enc": "block"}]}, blobs),
    ]
    for bad_header, bad_blobs in cases:
        with pytest.raises(CodecError):
            codec.decode(pack(bad_header, bad_blobs))
    # Series carry the format too.
    series_header, series_blobs = unpack(codec.encode(pd.Series([1.0, 2.0])))
    assert series_header["format"] == "reprolam-frame/2"
    with pytest.raises(CodecError, match="format"):
        codec.decode(pack({**series_header, "format": "reprolam-frame/9"}, series_blobs))


def test_tree_nested_frame_is_one_block(cancer: tuple[pd.DataFrame, pd.Series]) -> None:
    X, y = cancer
    data = TreeCodec().encode({"X": X, "y": y})
    header, _ = unpack(data)
    assert header["root"]["$dict"]["X"]["$frame"]["data"] == [{"enc": "block", "blob": 0}]
    back = TreeCodec().decode(data)
    assert_frame_equal(back["X"], X)
    assert_series_equal(back["y"], y)
    assert back["X"].values.flags.c_contiguous
    assert TreeCodec().encode(back) == data


# -- model ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["logreg", "pipeline", "forest"])
def test_model_round_trip_predicts_identically(
    ser: Serializer, fitted: dict[str, Any], cancer: tuple[pd.DataFrame, pd.Series], name: str
) -> None:
    model = fitted[name]
    X, _ = cancer
    tag, data = ser.dumps_typed(model)
    assert tag == "model"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no version or feature-name warnings
        back = ser.loads_typed(tag, data)
        assert type(back) is type(model)
        assert np.array_equal(model.predict(X), back.predict(X))
        assert np.array_equal(model.predict_proba(X), back.predict_proba(X))
    assert ser.dumps_typed(back) == (tag, data)


def test_model_keeps_feature_names(fitted: dict[str, Any]) -> None:
    back = ModelCodec().decode(ModelCodec().encode(fitted["logreg"]))
    assert back.feature_names_in_.dtype == object
    assert list(back.feature_names_in_) == list(fitted["logreg"].feature_names_in_)
    header, _ = unpack(ModelCodec().encode(fitted["logreg"]))
    assert header["class"] == "sklearn.linear_model._logistic:LogisticRegression"
    assert header["params"]["max_iter"] == 5000
    assert "$objarray" in header["state"]["feature_names_in_"]


def test_model_attribute_order_does_not_change_bytes(fitted: dict[str, Any]) -> None:
    import copy

    model = fitted["logreg"]
    shuffled = copy.copy(model)
    shuffled.__dict__ = dict(reversed(list(model.__dict__.items())))
    assert ModelCodec().encode(shuffled) == ModelCodec().encode(model)


def test_model_with_unrepresentable_state_is_refused_naming_it(ser: Serializer) -> None:
    from sklearn.preprocessing import FunctionTransformer

    model = FunctionTransformer(func=lambda x: x + 1).fit(np.ones((2, 2)))
    assert not ModelCodec().can_encode(model)
    with pytest.raises(CodecError, match=r"model codec cannot encode.*lambda"):
        ModelCodec().encode(model)
    with pytest.raises(CodecError, match=r"FunctionTransformer \(.*lambda.*trusted=True"):
        ser.dumps_typed(model)


def test_a_function_of_a_workflow_file_not_loaded_here_says_where_it_was_defined(
    tmp_path: Path,
) -> None:
    """A FunctionTransformer of a function in flows.py (run as `reprolam run flows.py:flow`)
    names module reprolam_user_workflow_flows; loading it elsewhere, trusted, said only 'No
    module named reprolam_user_workflow_flows'."""
    import sys

    from sklearn.preprocessing import FunctionTransformer

    from reprolam.workflows.registry import import_file

    flows = tmp_path / "qaflows.py"
    flows.write_text("def double(x):\n    return x * 2\n")
    module = import_file(flows)
    trusted = default_serializer(trusted=True)
    tag, data = trusted.dumps_typed(FunctionTransformer(module.double).fit(np.ones((2, 2))))
    del sys.modules[module.__name__]  # another process: the workflow is not loaded there
    with pytest.raises(CodecError, match=r"defined in the workflow file qaflows\.py, which only"):
        trusted.loads_typed(tag, data)


def test_a_pickle_of_a_class_of_a_workflow_file_not_loaded_here_says_where_it_was_defined(
    tmp_path: Path,
) -> None:
    """Said only 'No module named reprolam_user_workflow_qapickled'."""
    from reprolam.workflows.registry import import_file

    flows = tmp_path / "qapickled.py"
    flows.write_text("class Opaque:\n    pass\n")
    module = import_file(flows)
    trusted = default_serializer(trusted=True)
    tag, data = trusted.dumps_typed(module.Opaque())
    assert tag == "pickle"
    del sys.modules[module.__name__]
    with pytest.raises(CodecError, match=r"defined in the workflow file qapickled\.py"):
        trusted.loads_typed(tag, data)


def _forged(data: bytes, **changes: Any) -> bytes:
    header, blobs = unpack(data)
    return pack({**header, **changes}, blobs)


def test_model_refuses_classes_outside_sklearn(ser: Serializer, fitted: dict[str, Any]) -> None:
    data = ModelCodec().encode(fitted["logreg"])
    with pytest.raises(CodecError, match=r"'os:system'.*outside scikit-learn.*trusted=True"):
        ser.loads_typed("model", _forged(data, **{"class": "os:system"}))
    # A name inside sklearn that is really an import of something else is refused too.
    with pytest.raises(CodecError, match="not a scikit-learn class"):
        ser.loads_typed("model", _forged(data, **{"class": "sklearn.base:defaultdict"}))
    with pytest.raises(CodecError, match="invalid class path"):
        ser.loads_typed("model", _forged(data, **{"class": "sklearn.base:__builtins__"}))
    nested = {"x": {"$object": {"class": "subprocess:Popen", "state": {}, "versioned": False}}}
    with pytest.raises(CodecError, match="outside scikit-learn"):
        ser.loads_typed("model", _forged(data, state=nested))
    reduce_node = {"$reduce": {"class": "sklearn.base:BaseEstimator", "args": {"$tuple": []}}}
    with pytest.raises(CodecError, match="not allowed"):
        ser.loads_typed("model", _forged(data, state={"x": reduce_node}))


def test_model_foreign_class_loads_only_when_trusted(fitted: dict[str, Any]) -> None:
    data = _forged(
        ModelCodec().encode(fitted["logreg"]),
        **{"class": "argparse:Namespace", "state": {"a": 1}, "versioned": False},
    )
    with pytest.raises(CodecError, match="outside scikit-learn"):
        default_serializer().loads_typed("model", data)
    back = default_serializer(trusted=True).loads_typed("model", data)
    assert type(back).__name__ == "Namespace"
    assert back.a == 1


def test_model_version_mismatch_warns_but_loads(
    fitted: dict[str, Any], cancer: tuple[pd.DataFrame, pd.Series]
) -> None:
    import sklearn

    data = _forged(ModelCodec().encode(fitted["pipeline"]), sklearn="0.0.1")
    with pytest.warns(ModelVersionWarning, match=rf"0\.0\.1.*{sklearn.__version__}") as record:
        back = ModelCodec().decode(data)
    assert len(record) == 1  # one warning, not one per nested estimator
    X, _ = cancer
    assert np.array_equal(back.predict(X), fitted["pipeline"].predict(X))


def test_model_refuses_crafted_tree_links(cancer: tuple[pd.DataFrame, pd.Series]) -> None:
    from sklearn.tree import DecisionTreeClassifier

    from reprolam.codecs._npy import array_bytes, array_from_bytes

    X, y = cancer
    data = ModelCodec().encode(DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, y))
    header, blobs = unpack(data)
    ref = header["state"]["tree_"]["$reduce"]["state"]["$dict"]["nodes"]["$npy"]
    nodes = array_from_bytes(blobs[ref])
    nodes["left_child"][0] = 10**6  # prediction would jump far outside the node array
    blobs[ref] = array_bytes(nodes)
    with pytest.raises(CodecError, match="inconsistent decision tree"):
        ModelCodec().decode(pack(header, blobs))


def test_model_decode_garbage(fitted: dict[str, Any]) -> None:
    data = ModelCodec().encode(fitted["logreg"])
    for bad in (b"", b"junk", data[:-1], _forged(data, state={"coef_": {"$npy": 42}})):
        with pytest.raises(CodecError):
            ModelCodec().decode(bad)
    for bad_state in ({"coef_": {"$eval": "1"}}, {"coef_": [1, 2]}, {"coef_": {"$np": 3}}):
        with pytest.raises(CodecError):
            ModelCodec().decode(_forged(data, state=bad_state))


# -- tree -----------------------------------------------------------------------------------


class _Float(np.float64):
    """A numpy scalar subclass: the tree cannot record its class, so it must refuse it."""


class _Pair(NamedTuple):
    a: Any
    b: Any


def _assert_same(a: Any, b: Any) -> None:
    """Equal in value *and* type, recursively (what "round-trips exactly" means here)."""
    assert type(a) is type(b), (type(a), type(b))
    if type(a) is dict:
        assert sorted(a) == sorted(b)  # keys come back sorted, so order is not compared
        for key in a:
            _assert_same(a[key], b[key])
    elif type(a) is list or type(a) is tuple:
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _assert_same(x, y)
    elif type(a) is np.ndarray:
        assert (a.dtype, a.shape) == (b.dtype, b.shape)
        np.testing.assert_array_equal(a, b, strict=True)  # NaN / NaT compare equal
    elif type(a) is pd.DataFrame:
        assert_frame_equal(a, b)
    elif type(a) is pd.Series:
        assert_series_equal(a, b)
    elif isinstance(a, np.generic):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))  # NaN / NaT equal
    elif type(a) is float and math.isnan(a):
        assert math.isnan(b)
    else:
        assert a == b


_RNG = np.random.default_rng(0)
TREES: dict[str, Callable[[], Any]] = {
    "X_y": lambda: {"X": _RNG.normal(size=(569, 30)), "y": _RNG.integers(0, 2, size=569)},
    "metrics": lambda: {"accuracy": 0.9, "confusion": np.array([[50, 3], [2, 60]])},
    "list_of_arrays": lambda: [np.zeros(3), np.arange(4, dtype=np.int8)],
    "frame_array_tuple": lambda: (FRAMES["mixed"](), np.arange(2.0)),
    "frames_and_series": lambda: {
        "train": FRAMES["nullable"](),
        "test": FRAMES["categorical"](),
        "when": FRAMES["datetime_index_freq"](),
        "target": pd.Series(["p", None], name="t"),
    },
    "numpy_scalars": lambda: {
        "f32": np.float32(0.1),
        "f16": np.float16(1.5),
        "neg_zero": np.float64(-0.0),
        "nan": np.float64("nan"),
        "i8": np.int8(-3),
        "u64": np.uint64(2**64 - 1),
        "b": np.bool_(False),
        "s": np.str_("héllo"),
        "c": np.complex64(1 - 2j),
        "ld": np.longdouble(1) / 3,
        "dt": np.datetime64("2024-01-02T03:04"),
        "nat": np.datetime64("NaT", "ns"),
        "td": np.timedelta64(5, "s"),
        "raw": np.bytes_(b"ab"),
        "arr": np.zeros(1),
    },
    "nested": lambda: {
        "a": [1, (2.5, None, "x"), {"b": [np.arange(2), {"c": (np.ones((2, 2), "f4"),)}]}],
        "empty": [],
        "unit": (),
        "d": {},
    },
    "odd_arrays": lambda: [
        np.array(3.5),
        np.empty((0, 3)),
        ARRAYS["padded_struct"],
        ARRAYS["unicode"],
        ARRAYS["datetime"],
        ARRAYS["complex"],
        np.array([np.nan, np.inf, -0.0]),
    ],
    "json_leaves": lambda: {
        "big": 2**80,
        "nan": float("nan"),
        "inf": float("-inf"),
        "surrogate": "bad \ud800",
        "ünï \U0001f600": True,
        "arr": np.zeros(0),
    },
    "bare_complex_scalar": lambda: np.complex128(1 + 1j),
    "same_array_twice": lambda: [np.arange(3)] * 2,
}


@pytest.mark.parametrize("name", sorted(TREES))
def test_tree_round_trip(ser: Serializer, name: str) -> None:
    value = TREES[name]()
    tag, data = ser.dumps_typed(value)
    assert tag == "tree"
    back = ser.loads_typed(tag, data)
    _assert_same(value, back)
    assert ser.dumps_typed(back) == (tag, data)


def test_tree_format_is_documented_header_plus_npy_blobs() -> None:
    from reprolam.codecs._npy import array_bytes

    X, y = np.arange(6.0).reshape(3, 2), np.array([0, 1, 1])
    header, blobs = unpack(TreeCodec().encode({"y": y, "X": X, "n": (np.int64(3),)}))
    assert header == {
        "format": "reprolam-tree/1",
        "root": {
            "$dict": {
                "X": {"$npy": 0},  # blobs numbered in sorted-key order, not insertion order
                "n": {"$tuple": [{"$np": ["<i8", 3]}]},
                "y": {"$npy": 1},
            }
        },
    }
    assert blobs == [array_bytes(X), array_bytes(y)]


def test_tree_models_predict_identically(
    ser: Serializer, fitted: dict[str, Any], cancer: tuple[pd.DataFrame, pd.Series]
) -> None:
    X, y = cancer
    value = {
        "models": [fitted[name] for name in ("logreg", "pipeline", "forest")],
        "X_test": X.iloc[:50],
        "y_test": y.iloc[:50].to_numpy(),
        "scores": {"accuracy": np.float64(0.95), "folds": (0.9, 0.93)},
    }
    tag, data = ser.dumps_typed(value)
    assert tag == "tree"
    header, _ = unpack(data)
    logreg = header["root"]["$dict"]["models"]["$list"][0]["$model"]
    assert logreg["class"] == "sklearn.linear_model._logistic:LogisticRegression"
    assert logreg["params"]["max_iter"] == 5000
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no version or feature-name warnings
        back = ser.loads_typed(tag, data)
        for model, loaded in zip(value["models"], back["models"], strict=True):
            assert type(loaded) is type(model)
            assert np.array_equal(model.predict(X), loaded.predict(X))
            assert np.array_equal(model.predict_proba(X), loaded.predict_proba(X))
    assert_frame_equal(back["X_test"], value["X_test"])
    _assert_same(value["scores"], back["scores"])
    assert ser.dumps_typed(back) == (tag, data)


def test_tree_records_tuples_numpy_scalars_and_bools(ser: Serializer) -> None:
    arr = np.arange(3)

    def data(value: Any) -> bytes:
        tag, out = ser.dumps_typed(value)
        assert tag == "tree"
        return out

    # Unlike json, the tree keeps these apart, so each comes back as it went in.
    assert data((1, arr)) != data([1, arr])
    assert data([np.float64(1.0), arr]) != data([1.0, arr]) != data([1, arr])
    assert data([True, arr]) != data([1, arr])
    assert data([np.int32(1), arr]) != data([np.int64(1), arr])
    back = ser.loads_typed("tree", data((np.float32(0.5), [True, 1, 1.0], arr)))
    assert type(back) is tuple
    assert type(back[0]) is np.float32
    assert [type(v) for v in back[1]] == [bool, int, float]


def test_tree_bytes_do_not_depend_on_construction(fitted: dict[str, Any]) -> None:
    import copy

    codec = TreeCodec()
    base = np.arange(24, dtype=np.float64).reshape(4, 6)
    y = np.arange(4)
    reference = codec.encode({"X": base, "y": y, "meta": {"a": 1, "b": [2.5]}})
    wide = np.zeros((4, 12))
    wide[:, ::2] = base
    for X in (np.asfortranarray(base), base.T.copy().T, base[::-1][::-1], wide[:, ::2]):
        assert codec.encode({"meta": {"b": [2.5], "a": 1}, "y": y.copy(), "X": X}) == reference
    # Blob numbering follows sorted keys: swapping which key holds which array must show.
    assert codec.encode({"a": base, "b": y}) == codec.encode({"b": y, "a": base})
    assert codec.encode({"a": base, "b": y}) != codec.encode({"a": y, "b": base})
    values = np.arange(12.0).reshape(4, 3)
    frames = (
        pd.DataFrame(values, columns=["x", "y", "z"]),
        pd.DataFrame(np.asfortranarray(values), columns=["x", "y", "z"]),
        pd.DataFrame({"x": values[:, 0], "y": values[:, 1], "z": values[:, 2]}),
    )
    assert len({codec.encode((frame, y)) for frame in frames}) == 1
    model = fitted["logreg"]
    shuffled = copy.copy(model)
    shuffled.__dict__ = dict(reversed(list(model.__dict__.items())))
    assert codec.encode({"m": shuffled, "y": y}) == codec.encode({"y": y, "m": model})


def test_tree_never_wins_over_the_specific_codecs(ser: Serializer, fitted: dict[str, Any]) -> None:
    cases: dict[str, list[Any]] = {
        "json": [{"accuracy": 0.9, "f1": [0.8, 0.7]}, [1, (2, 3)], np.float64(2.0), "s", None],
        "npy": [np.zeros((3, 2)), np.array(1)],
        "frame": [pd.DataFrame({"a": [1]}), pd.Series([1.0])],
        "model": [fitted["pipeline"]],
    }
    for tag, values in cases.items():
        for value in values:
            assert TreeCodec().can_encode(value), value  # tree could take it...
            assert ser.dumps_typed(value)[0] == tag, value  # ...but the order says no
    tags = ser.tags
    assert "pickle" not in tags
    assert tags[len(tags) - len(plugin_codecs()) - 3] == "tree"  # then file, dir, plug-ins
    assert tags.index("tree") > max(tags.index(t) for t in cases)


def _unrepresentable_model() -> Any:
    from sklearn.preprocessing import FunctionTransformer

    return FunctionTransformer(func=lambda x: x).fit(np.ones((2, 2)))


def _deep(levels: int) -> Any:
    value: Any = np.zeros(1)
    for _ in range(levels):
        value = [value]
    return value


def _loop() -> Any:
    loop: list[Any] = [np.zeros(1)]
    loop.append(loop)
    return loop


def _ordered_dict() -> Any:
    from collections import OrderedDict

    return OrderedDict(a=np.zeros(1))


def _refused_values() -> dict[str, Callable[[], Any]]:
    from fractions import Fraction

    return {
        "object": lambda: [np.zeros(1), Fraction(1, 3)],
        "enum": lambda: [np.zeros(1), Colour.RED],
        "object-array": lambda: [np.array([Fraction(1, 2)], dtype=object)],
        "stringdtype-array": lambda: [np.array(["a"], dtype=np.dtypes.StringDType())],
        "recarray": lambda: [np.rec.array([(1, 2.0)], dtype=[("a", "i4"), ("b", "f8")])],
        "scalar-subclass": lambda: [np.zeros(1), _Float(1.0)],
        "ordered-dict": _ordered_dict,
        "namedtuple": lambda: _Pair(np.zeros(1), 1),
        "bad-frame": lambda: {
            "df": pd.DataFrame({"a": pd.period_range("2020", periods=2, freq="D")})
        },
        "bad-model": lambda: {"m": _unrepresentable_model(), "x": np.zeros(1)},
        "too-deep": lambda: _deep(150),
        "cycle": _loop,
    }


@pytest.mark.parametrize("name", sorted(_refused_values()))
def test_tree_refuses_what_it_cannot_represent(ser: Serializer, name: str) -> None:
    value = _refused_values()[name]()
    assert not TreeCodec().can_encode(value)
    assert TreeCodec().try_encode(value) is None
    with pytest.raises(CodecError, match="tree codec cannot encode"):
        TreeCodec().encode(value)
    with pytest.raises(CodecError, match="no codec can encode"):
        ser.dumps_typed(value)


def test_tree_nested_codec_failure_is_refused_with_its_reason(
    ser: Serializer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any) -> Any:
        raise RuntimeError("odd frame")

    monkeypatch.setattr("reprolam.codecs._frame.plan_frame", broken)
    value = {"df": pd.DataFrame({"a": [1]}), "x": np.zeros(1)}
    assert not TreeCodec().can_encode(value)
    with pytest.raises(CodecError, match="odd frame"):
        ser.dumps_typed(value)


def stored_as(ser: Serializer, value: Any) -> str:
    """The tag ``value`` is stored under, or "refused" if no codec takes it."""
    try:
        return ser.dumps_typed(value)[0]
    except CodecError:
        return "refused"


def _tree_forged(root: Any, blobs: list[bytes] | None = None) -> bytes:
    from reprolam.codecs._npy import array_bytes

    blobs = [array_bytes(np.arange(3))] if blobs is None else blobs
    return pack({"format": "reprolam-tree/1", "root": root}, blobs)


def test_tree_decode_garbage(ser: Serializer) -> None:
    codec = TreeCodec()
    good = codec.encode({"a": np.arange(3), "df": pd.DataFrame({"x": [1.0]}), "t": (1, "s")})
    for cut in range(len(good)):
        with pytest.raises(CodecError):
            codec.decode(good[:cut])
    for bad in (b"junk", good + b"\x00", b'{"a":1}', FrameCodec().encode(pd.DataFrame())):
        with pytest.raises(CodecError):
            codec.decode(bad)
    with pytest.raises(CodecError, match="has no root"):
        codec.decode(pack({"format": "reprolam-tree/1"}, []))
    frame_header, _ = unpack(FrameCodec().encode(pd.DataFrame({"x": [1.0]})))
    buf = io.BytesIO()
    np.save(buf, np.array([{"x": 1}], dtype=object), allow_pickle=True)
    bad_roots: list[Any] = [
        {"$object": {"class": "subprocess:Popen", "state": {}, "versioned": False}},
        {"$reduce": {"class": "sklearn.tree._tree:Tree", "args": {"$tuple": []}}},
        {"$set": 1},
        {"$function": "subprocess:call"},
        {"$sparse": {"class": "eval", "shape": [1], "data": 0}},
        {"$eval": "1"},
        {"$dict": [1]},
        {"$list": {"a": 1}},
        {"$tuple": 3},
        {"$npy": 7},
        {"$npy": "0"},
        {"$npy": True},
        {"$np": ["|O", 1]},
        {"$np": ["<f8", [1, 2]]},
        {"$np": ["nonsense", 1]},
        {"$np": 3},
        {"$np0": 0},  # blob 0 is 1-d, not a scalar
        {"$frame": []},
        {"$frame": {"kind": "panel"}},
        {"$frame": {**frame_header, "data": [{"enc": "npy", "blob": 99}]}},
        {"$frame": {**frame_header, "data": [{"enc": "npy", "blob": 0}] * 2}},
        {"$model": []},
        {"$model": {"format": "sklearn-state/1"}},
        {"$list": [1], "$tuple": [2]},
        [1, 2],
        _deep_nodes(150),
    ]
    for root in bad_roots:
        with pytest.raises(CodecError):
            codec.decode(_tree_forged(root))
        with pytest.raises(CodecError):
            ser.loads_typed("tree", _tree_forged(root))
    with pytest.raises(CodecError):
        codec.decode(_tree_forged({"$npy": 0}, [buf.getvalue()]))  # pickled array: refused
    # JSON nesting beyond the parser's recursion limit is a CodecError, not RecursionError.
    abyss = b'{"format":"reprolam-tree/1","root":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    data = b"\x93RLC\x01" + len(abyss).to_bytes(8, "little") + abyss + bytes(8)
    with pytest.raises(CodecError):
        codec.decode(data)


def _deep_nodes(levels: int) -> Any:
    node: Any = 1
    for _ in range(levels):
        node = {"$list": [node]}
    return node


def test_tree_models_use_the_model_allow_list(fitted: dict[str, Any]) -> None:
    data = TreeCodec().encode({"m": fitted["logreg"], "x": np.zeros(1)})
    header, blobs = unpack(data)
    model = header["root"]["$dict"]["m"]["$model"]
    for changes, message in (
        ({"class": "os:system"}, "outside scikit-learn"),
        ({"class": "sklearn.base:defaultdict"}, "not a scikit-learn class"),
        ({"state": {"x": {"$reduce": {"class": "sklearn.base:BaseEstimator"}}}}, "not allowed"),
    ):
        root = {"$dict": {"m": {"$model": {**model, **changes}}}}
        with pytest.raises(CodecError, match=message):
            default_serializer().loads_typed("tree", pack({**header, "root": root}, blobs))
    foreign = {**model, "class": "argparse:Namespace", "state": {"a": 1}, "versioned": False}
    forged = pack({**header, "root": {"$list": [{"$model": foreign}]}}, blobs)
    with pytest.raises(CodecError, match="outside scikit-learn"):
        default_serializer().loads_typed("tree", forged)
    (back,) = default_serializer(trusted=True).loads_typed("tree", forged)
    assert type(back).__name__ == "Namespace"
    assert back.a == 1


def test_tree_model_version_mismatch_warns(
    fitted: dict[str, Any], cancer: tuple[pd.DataFrame, pd.Series]
) -> None:
    data = TreeCodec().encode([fitted["logreg"], np.zeros(1)])
    header, blobs = unpack(data)
    model = header["root"]["$list"][0]["$model"]
    root = {"$list": [{"$model": {**model, "sklearn": "0.0.1"}}, header["root"]["$list"][1]]}
    with pytest.warns(ModelVersionWarning, match=r"0\.0\.1"):
        back = TreeCodec().decode(pack({**header, "root": root}, blobs))
    X, _ = cancer
    assert np.array_equal(back[0].predict(X), fitted["logreg"].predict(X))


def test_tree_describe(fitted: dict[str, Any], cancer: tuple[pd.DataFrame, pd.Series]) -> None:
    X, y = cancer
    assert describe({"X": np.zeros((569, 30)), "y": np.zeros(569, dtype=np.int64)}) == (
        "dict{X=ndarray float64 (569, 30), y=ndarray int64 (569,)}"
    )
    assert describe({"accuracy": 0.9, "confusion": np.zeros((2, 2), dtype=np.int64)}) == (
        "dict{accuracy=0.9000, confusion=ndarray int64 (2, 2)}"
    )
    # Nested frames and long estimator reprs are shortened, so siblings stay visible.
    assert describe((X, y.to_numpy())) == "tuple[2] [DataFrame 569x30, ndarray int64 (569,)]"
    assert describe({"model": fitted["pipeline"], "score": 0.95}) == (
        "dict{model=Pipeline(...), score=0.9500}"
    )
    assert describe([fitted["logreg"]]) == "list[1] [LogisticRegression(max_iter=5000)]"
    assert describe(np.complex128(1 + 2j)) == "(1+2j)"


# -- pickle ---------------------------------------------------------------------------------


def test_pickle_refused_untrusted_and_accepted_trusted() -> None:
    value = Colour.RED
    with pytest.raises(CodecError, match="no codec can encode"):
        default_serializer().dumps_typed(value)  # no silent pickle
    tag, data = default_serializer(trusted=True).dumps_typed(value)
    assert tag == "pickle"
    expected = (
        "artifact is a pickle; loading it could execute code; load the store with "
        "trusted=True only if you trust it"
    )
    with pytest.raises(CodecError) as info:
        default_serializer().loads_typed(tag, data)
    assert str(info.value) == expected
    with pytest.raises(CodecError, match="could execute code"):
        PickleCodec().decode(data)  # the codec refuses on its own too
    assert default_serializer(trusted=True).loads_typed(tag, data) == value


def test_pickle_trusted_garbage_is_codec_error() -> None:
    with pytest.raises(CodecError):
        default_serializer(trusted=True).loads_typed("pickle", b"\x80\x05garbage")


def test_unpicklable_value_has_no_codec(ser: Serializer) -> None:
    with pytest.raises(CodecError, match=r"no codec can encode.*function"):
        ser.dumps_typed(lambda: 1)


# -- serializer -----------------------------------------------------------------------------


def test_default_order_and_selection(ser: Serializer, fitted: dict[str, Any]) -> None:
    builtin = ("bytes", "json", "npy", "frame", "model", "tree", "file", "dir")
    assert ser.tags == (*builtin, *(c.tag for c in plugin_codecs()))
    assert default_serializer(trusted=True).tags[-1] == "pickle"
    cases: dict[str, list[Any]] = {
        "bytes": [b"", b"\x89PNG"],
        "json": [1, {"a": [1.0]}, np.float64(2.0)],
        "npy": [np.zeros(3), np.array(1)],
        "frame": [pd.DataFrame({"a": [1]}), pd.Series([1.0])],
        "model": [fitted["logreg"]],
        "tree": [{"a": np.zeros(2)}, [fitted["logreg"], 1], (pd.Series([1.0]),), {1: 2}],
    }
    for tag, values in cases.items():
        for value in values:
            assert ser.dumps_typed(value)[0] == tag, value


def test_unknown_tag_names_known_tags(ser: Serializer) -> None:
    with pytest.raises(
        CodecError, match=r"'parquet'.*bytes, json, npy, frame, model, tree, file, dir"
    ):
        ser.loads_typed("parquet", b"")


class UpperCodec:
    tag = "upper"

    def can_encode(self, value: Any) -> bool:
        return type(value) is str and value.isupper()

    def encode(self, value: Any) -> bytes:
        return str(value).lower().encode()

    def decode(self, data: bytes) -> Any:
        return data.decode().upper()


class BrokenCodec(UpperCodec):
    tag = "broken"

    def encode(self, value: Any) -> bytes:
        raise RuntimeError("boom")

    def decode(self, data: bytes) -> Any:
        raise ValueError("cannot")


def test_register_user_codecs() -> None:
    ser = default_serializer()
    ser.register(UpperCodec())
    builtin = ("bytes", "json", "npy", "frame", "model", "tree", "file", "dir")
    assert ser.tags == (*builtin, *(c.tag for c in plugin_codecs()), "upper")
    assert ser.dumps_typed("ABC")[0] == "json"  # json comes first
    ser = default_serializer()
    ser.register(UpperCodec(), first=True)
    assert ser.dumps_typed("ABC") == ("upper", b"abc")
    assert ser.dumps_typed("abc")[0] == "json"
    assert ser.loads_typed("upper", b"abc") == "ABC"
    with pytest.raises(CodecError, match="already registered"):
        ser.register(UpperCodec())


def test_user_codec_failures_become_codec_errors() -> None:
    ser = Serializer([BrokenCodec()])
    with pytest.raises(CodecError, match=r"'broken' failed to encode.*boom"):
        ser.dumps_typed("ABC")
    with pytest.raises(CodecError, match="cannot decode broken"):
        ser.loads_typed("broken", b"x")


def test_serializer_with_only_given_codecs() -> None:
    assert Serializer([PickleCodec(), JsonCodec()]).tags == ("pickle", "json")
    ser = Serializer([JsonCodec()])
    assert ser.tags == ("json",)
    with pytest.raises(CodecError, match="no codec"):
        ser.dumps_typed(np.zeros(2))


# -- describe -------------------------------------------------------------------------------


def test_describe(fitted: dict[str, Any], cancer: tuple[pd.DataFrame, pd.Series]) -> None:
    X, y = cancer
    assert describe(np.zeros((569, 30))) == "ndarray float64 (569, 30)"
    assert describe(X).startswith("DataFrame 569x30 [mean radius, mean texture, ")
    assert describe(X).endswith(", ...]")
    assert describe(y) == "Series 'target' int64 (569,)"
    assert describe(fitted["logreg"]) == "LogisticRegression(max_iter=5000)"
    assert describe({"accuracy": 0.956140350877193, "f1": np.float64(0.96)}) == (
        "dict{accuracy=0.9561, f1=0.9600}"
    )
    assert describe([1, 2, 3]) == "list[3] [1, 2, 3]"
    assert describe(None) == "None"
    assert describe("x" * 500).endswith("...'")
    long = describe({f"key{i}": list(range(50)) for i in range(100)})
    assert len(long) <= 160
    assert "\n" not in describe(fitted["pipeline"])


def test_describe_files_by_name_and_size() -> None:
    from reprolam.codecs._files import DirEntry, DirManifest, FileManifest

    assert describe(FileManifest("report.txt", 0o644, 7, "a" * 64)) == "file report.txt (7 bytes)"
    tree = DirManifest(
        "out",
        (
            DirEntry("a.csv", 0o644, 10, "b" * 64),
            DirEntry("empty", 0o755, 0, None),
            DirEntry("sub/b.csv", 0o644, 5, "c" * 64),
        ),
    )
    assert describe(tree) == "dir out/ (2 files, 15 bytes)"


def test_describe_never_raises() -> None:
    class Hostile:
        def __repr__(self) -> str:
            raise RuntimeError("no")

    assert describe(Hostile()) == "test_describe_never_raises.<locals>.Hostile"
    assert describe({"h": Hostile()}) == "dict"


# -- cross-process stability ----------------------------------------------------------------


def test_digests_identical_across_fresh_processes() -> None:
    sys.path.insert(0, str(TESTS))
    try:
        from _codec_stability import stable_digests
    finally:
        sys.path.remove(str(TESTS))

    here = stable_digests()
    assert {name: tag for name, (tag, _) in here.items()} == {
        "dict": "json",
        "array": "npy",
        "frame": "frame",
        "cancer_frame": "frame",
        "cancer_target": "frame",
        "logreg": "model",
        "pipeline": "model",
        "forest": "model",
        "tree": "tree",
    }
    procs = []
    for seed in ("0", "4242"):
        env = {
            **os.environ,
            "PYTHONHASHSEED": seed,
            "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
        }
        procs.append(
            subprocess.Popen(
                [sys.executable, str(TESTS / "_codec_stability.py")],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
        results.append(json.loads(out))
    assert results[0] == results[1] == here


def test_json_bytes_are_pinned() -> None:
    # A change here changes every stored json artifact id: make it on purpose only.
    tag, data = default_serializer().dumps_typed({"ok": True, "n": 3, "accuracy": 0.5})
    assert (tag, data) == ("json", b'{"accuracy":0.5,"n":3,"ok":true}')
    assert digest(data) == digest(canonical_json({"accuracy": 0.5, "n": 3, "ok": True}).encode())


def test_values_that_are_not_frames_never_import_pandas() -> None:
    """The default serializer loads the frame codec (and pandas) on the first frame only:
    a workflow or a replay without frames does not pay pandas' import."""
    import subprocess
    import sys

    script = (
        "import sys, numpy as np\n"
        "from reprolam.codecs import default_serializer\n"
        "s = default_serializer()\n"
        "for v in ({'a': 1}, np.zeros(3), b'raw', (1, np.ones(2))):\n"
        "    s.loads_typed(*s.dumps_typed(v))\n"
        "assert 'pandas' not in sys.modules, 'pandas imported'\n"
        "import pandas as pd\n"
        "tag, data = s.dumps_typed(pd.DataFrame({'x': [1.5]}))\n"
        "assert tag == 'frame', tag\n"
        "assert s.loads_typed(tag, data).equals(pd.DataFrame({'x': [1.5]}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


class _MainOnly:  # stands in for a class of the script that stored the value
    pass


def test_a_pickle_of_a_class_of_another_programs_main_says_where_it_was_defined(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A hand-built run's value (an rlam script's class) read by `reprolam replay` or another
    script: pickle's AttributeError, "Can't get attribute 'Model' on <module '__main__'>",
    came without the hint (only a missing module got it)."""
    main = sys.modules["__main__"]
    monkeypatch.setattr(_MainOnly, "__module__", "__main__")
    monkeypatch.setattr(main, "_MainOnly", _MainOnly, raising=False)
    trusted = default_serializer(trusted=True)
    tag, data = trusted.dumps_typed(_MainOnly())
    assert tag == "pickle"
    monkeypatch.delattr(main, "_MainOnly")  # another program: its __main__ lacks the class
    with pytest.raises(CodecError, match=r"AttributeError: Can't get attribute '_MainOnly'") as e:
        trusted.loads_typed(tag, data)
    assert "defined in the script that stored it (run as __main__)" in str(e.value)


def _main_only_function(x: Any) -> Any:  # stands in for a function of the script
    return x


def test_a_model_naming_a_function_of_the_script_loads_where_the_script_stands_in(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`FunctionTransformer(myfunc)` stored by `python analysis.py` names `__main__:myfunc`:
    `replay RUN --workflow analysis.py` failed ('module __main__ has no attribute myfunc ...
    replay with --workflow SCRIPT.py'), the fix its own message named, as pickles of the
    script's classes are looked up in the file standing in for __main__."""
    import types

    from sklearn.preprocessing import FunctionTransformer

    from reprolam.codecs._pickle import main_stands_in

    main = sys.modules["__main__"]
    monkeypatch.setattr(_main_only_function, "__module__", "__main__")
    monkeypatch.setattr(main, "_main_only_function", _main_only_function, raising=False)
    trusted = default_serializer(trusted=True)
    tag, data = trusted.dumps_typed(FunctionTransformer(_main_only_function))
    assert tag == "model"
    monkeypatch.delattr(main, "_main_only_function")  # another program's __main__
    with pytest.raises(CodecError, match="defined in the script that stored it"):
        trusted.loads_typed(tag, data)
    script = types.ModuleType("reprolam_user_workflow_analysis")
    script._main_only_function = _main_only_function  # type: ignore[attr-defined]
    with main_stands_in(script):
        assert trusted.loads_typed(tag, data).func is _main_only_function
    with pytest.raises(CodecError, match="untrusted store may only name"):
        default_serializer().loads_typed(tag, data)
