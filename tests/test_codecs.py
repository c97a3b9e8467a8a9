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
from typing import Any

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
    default_serializer,
    describe,
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
    "value",
    [
        {1: "int key"},
        {"ok": {2: "nested int key"}},
        Colour.RED,
        {1, 2},
        b"bytes",
        1 + 2j,
        [np.arange(3)],
        np.complex128(1 + 1j),
        10**5000,
    ],
    ids=lambda v: type(v).__name__,
)
def test_json_refuses_lossy_values_which_fall_through(ser: Serializer, value: Any) -> None:
    assert not JsonCodec().can_encode(value)
    with pytest.raises(CodecError):
        JsonCodec().encode(value)
    tag, _ = ser.dumps_typed(value)
    assert tag == "pickle"


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
    assert ser.dumps_typed(value)[0] == "pickle"


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
        pd.DataFrame({"a": [1]}, index=pd.MultiIndex.from_tuples([(1, 2)])),
        pd.DataFrame({"a": pd.date_range("2020", periods=2, tz="UTC")}),
        pd.DataFrame({("a", "b"): [1]}),
        pd.DataFrame({"a": pd.period_range("2020", periods=2, freq="D")}),
        pd.DataFrame([[1, 2]], columns=pd.Index(["a", frozenset({1})], dtype=object)),
        pd.DataFrame({"a": [1]}, index=pd.Index([b"raw"], dtype=object)),
    ],
    ids=["dict-values", "multiindex", "tz-aware", "tuple-label", "period", "set-label", "bytes"],
)
def test_frame_refuses_what_it_cannot_represent(ser: Serializer, value: Any) -> None:
    assert not FrameCodec().can_encode(value)
    with pytest.raises(CodecError):
        FrameCodec().encode(value)
    assert ser.dumps_typed(value)[0] == "pickle"


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


def test_model_with_unrepresentable_state_falls_through(ser: Serializer) -> None:
    from sklearn.preprocessing import FunctionTransformer

    model = FunctionTransformer(func=np.log1p).fit(np.ones((2, 2)))
    assert not ModelCodec().can_encode(model)
    with pytest.raises(CodecError, match="model codec cannot encode"):
        ModelCodec().encode(model)
    assert ser.dumps_typed(model)[0] == "pickle"


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


# -- pickle ---------------------------------------------------------------------------------


def test_pickle_refused_untrusted_and_accepted_trusted() -> None:
    value = {1, 2, 3}
    tag, data = default_serializer().dumps_typed(value)
    assert tag == "pickle"
    expected = (
        "artifact is a pickle; loading it could execute code; pass trusted=True / "
        "`--trust-store` only if you trust this store"
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
    assert ser.tags == ("json", "npy", "frame", "model", "pickle")
    cases: dict[str, list[Any]] = {
        "json": [1, {"a": [1.0]}, np.float64(2.0)],
        "npy": [np.zeros(3), np.array(1)],
        "frame": [pd.DataFrame({"a": [1]}), pd.Series([1.0])],
        "model": [fitted["logreg"]],
        "pickle": [{1: 2}, {"a": np.zeros(2)}, Colour.RED],
    }
    for tag, values in cases.items():
        for value in values:
            assert ser.dumps_typed(value)[0] == tag, value


def test_unknown_tag_names_known_tags(ser: Serializer) -> None:
    with pytest.raises(CodecError, match=r"'parquet'.*json, npy, frame, model, pickle"):
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
    assert ser.tags == ("json", "npy", "frame", "model", "upper", "pickle")
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
        "logreg": "model",
        "pipeline": "model",
        "forest": "model",
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
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        results.append(json.loads(out))
    assert results[0] == results[1] == here


def test_json_bytes_are_pinned() -> None:
    # A change here changes every stored json artifact id: make it on purpose only.
    tag, data = default_serializer().dumps_typed({"ok": True, "n": 3, "accuracy": 0.5})
    assert (tag, data) == ("json", b'{"accuracy":0.5,"n":3,"ok":true}')
    assert digest(data) == digest(canonical_json({"accuracy": 0.5, "n": 3, "ok": True}).encode())
