"""The value types scientists return: exact round trips, canonical bytes in any process."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from reprolam.codecs import Serializer, TreeCodec, default_serializer
from reprolam.errors import CodecError

TESTS = Path(__file__).parent
sys.path.insert(0, str(TESTS))
from _values_stability import digests, new_values  # noqa: E402

# Digests of values the codecs took before the walker merge, recorded with the code before
# it: the merge must not change a single byte of them (artifact ids of existing stores).
PINNED = {
    "array": "586a910e35cedbc31c95f250d937b6de109b870f875acb9d1ebddf769d98685b",
    "cancer_frame": "0e659ec8e30e47378a4b003a013c8d24b3b48c43d9e71ebde4c46f1043ce0d0e",
    "cancer_target": "7e1d2e7f19312a8dba34b8bd2474df0f85c0e35df73134ccdc69400a386ce9c2",
    "dict": "b7fe4939d44dda1304a58052b0a43ed4faffe80695c1c2a8045d418d9f3861de",
    "frame": "10a545f9c35ed9cd0474ed02b8c1ab023829c743569713fb8fbfc171b094f582",
    "tree": "e5ebc611a743f94b38c3f7e0b5958922513f88ca575e0a9698bf01d1f59d59a8",
}


@pytest.fixture(scope="module")
def ser() -> Serializer:
    return default_serializer()


def _equal(a: Any, b: Any) -> bool:
    if hasattr(a, "toarray"):
        return type(a) is type(b) and (a != b).nnz == 0 and a.format == b.format
    if isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b)
        return True
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and a.shape == b.shape and a.tolist() == b.tolist()
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    if type(a).__name__ == "Decimal":
        return type(b) is type(a) and str(a) == str(b)
    return type(a) is type(b) and (a == b or (str(a) == str(b) and repr(a) == repr(b)))


@pytest.mark.parametrize("name", sorted(new_values()))
def test_round_trip_is_exact_and_canonical(ser: Serializer, name: str) -> None:
    value = new_values()[name]
    tag, data = ser.dumps_typed(value)
    assert tag in ("bytes", "tree", "frame")
    back = ser.loads_typed(tag, data)
    assert _equal(value, back), (value, back)
    assert ser.dumps_typed(back) == (tag, data)  # the decoded value re-encodes identically


def test_time_zones_stay_exact(ser: Serializer) -> None:
    value = new_values()["datetime_zone"]
    back = ser.loads_typed(*ser.dumps_typed(value))
    assert back.fold == 1
    assert back.tzinfo.key == "America/New_York"
    assert back.utcoffset() == value.utcoffset()  # the second 01:30 of the DST change
    offset = ser.loads_typed(*ser.dumps_typed(new_values()["datetime_offset"]))
    assert offset.tzname() == "IST"


def test_unordered_values_do_not_depend_on_insertion_order(ser: Serializer) -> None:
    from scipy import sparse

    assert ser.dumps_typed({3, 1, 2}) == ser.dumps_typed({2, 3, 1})
    assert ser.dumps_typed({1: "a", 2: "b"}) == ser.dumps_typed({2: "b", 1: "a"})
    # A sparse matrix built from unsorted, duplicated entries equals its canonical form.
    messy = sparse.coo_matrix(([1.0, 1.0, 3.0], ([0, 0, 1], [1, 1, 0])), shape=(2, 2)).tocsr()
    clean = sparse.csr_matrix(np.array([[0.0, 2.0], [3.0, 0.0]]))
    assert ser.dumps_typed(messy) == ser.dumps_typed(clean)


def test_equal_values_equal_bytes_under_different_hash_seeds() -> None:
    here = digests()
    for seed in ("1", "2", "random"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, str(TESTS / "_values_stability.py")],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        assert json.loads(out.stdout) == here, f"PYTHONHASHSEED={seed}"


def test_existing_values_keep_their_bytes(ser: Serializer) -> None:
    from _codec_stability import stable_values
    from reprolam.hashing import digest

    values = stable_values()
    for name, expected in PINNED.items():
        assert digest(ser.dumps_typed(values[name])[1]) == expected, name


class _OddZone(__import__("datetime").tzinfo):
    """A tzinfo of its own (like pytz's): its offsets are code, not data."""

    def utcoffset(self, dt: Any) -> Any:
        import datetime

        return datetime.timedelta(hours=1)


@pytest.mark.parametrize(
    ("value", "named"),
    [
        (object(), "builtins.object"),
        ([1, lambda x: x], "lambda"),
        ({"when": __import__("datetime").datetime(2024, 1, 1, tzinfo=_OddZone())}, "time zone"),
        (np.array([object()], dtype=object), "builtins.object"),
    ],
)
def test_unencodable_values_name_what_failed_and_the_fix(
    ser: Serializer, value: Any, named: str
) -> None:
    with pytest.raises(CodecError) as info:
        ser.dumps_typed(value)
    message = str(info.value)
    assert named in message
    assert "register a codec" in message
    assert "trusted=True" in message
    assert "\n" not in message


def test_crafted_sparse_and_function_nodes_are_refused() -> None:
    from reprolam.codecs._container import pack
    from reprolam.codecs._npy import array_bytes

    blobs = [
        array_bytes(np.array([1.0])),
        array_bytes(np.array([99])),
        array_bytes(np.array([0, 1])),
    ]
    crafted = {
        "$sparse": {"class": "csr_matrix", "shape": [1, 1], "data": 0, "indices": 1, "indptr": 2}
    }
    with pytest.raises(CodecError):
        TreeCodec().decode(pack({"format": "reprolam-tree/1", "root": crafted}, blobs))
    for path in ("os:system", "builtins:eval", "numpy.lib:format"):
        root = {"$function": path}
        with pytest.raises(CodecError, match=r"trusted=True|cannot be found|not a function"):
            TreeCodec().decode(pack({"format": "reprolam-tree/1", "root": root}, []))


def test_user_codecs_come_from_the_entry_point_group(monkeypatch: pytest.MonkeyPatch) -> None:
    from reprolam.codecs import _serializer

    class Fraction:
        tag = "fraction"

        def can_encode(self, value: Any) -> bool:
            from fractions import Fraction as F

            return type(value) is F

        def encode(self, value: Any) -> bytes:
            return f"{value.numerator}/{value.denominator}".encode()

        def decode(self, data: bytes) -> Any:
            from fractions import Fraction as F

            return F(data.decode())

    monkeypatch.setattr(_serializer, "_plugins", {"loaded": [Fraction()]})
    from fractions import Fraction as F

    ser = default_serializer()
    assert ser.dumps_typed(F(1, 3)) == ("fraction", b"1/3")
    assert "fraction" in ser.tags
    assert ser.tags.index("fraction") > ser.tags.index("tree")


def test_a_broken_entry_point_names_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    from importlib import metadata

    from reprolam.codecs import _serializer

    broken = metadata.EntryPoint("bad", "no_such_module:Codec", "reprolam.codecs")
    monkeypatch.setattr(_serializer, "_plugins", {})
    monkeypatch.setattr(metadata, "entry_points", lambda group: [broken])
    with pytest.raises(CodecError, match=r"'bad'.*no_such_module"):
        default_serializer()


def test_a_sparse_array_of_three_dimensions_is_refused_naming_why_and_the_fix() -> None:
    """It failed inside scipy: "codec 'tree' failed to encode coo_array: ValueError: Cannot
    convert. CSR must be 1D or 2D. Got 3D", no fix named."""
    from scipy import sparse

    cube = sparse.coo_array(np.arange(8).reshape(2, 2, 2))
    with pytest.raises(CodecError, match=r"a sparse array of 3 dimensions .*store its \.toarray"):
        default_serializer().dumps_typed(cube)


def test_a_one_dimensional_coo_array_round_trips() -> None:
    """A 1-D coo_array was encoded, then its decoding failed ('tree artifact is malformed:
    mismatching number of index arrays for shape'), so the step that returned it failed."""
    from scipy import sparse

    serializer = default_serializer()
    vector = sparse.coo_array((np.array([1.0, 2.0, 3.0]), (np.array([3, 0, 3]),)), shape=(5,))
    tag, data = serializer.dumps_typed(vector)
    back = serializer.loads_typed(tag, data)
    assert type(back) is sparse.coo_array
    assert back.shape == (5,)
    assert np.array_equal(back.toarray(), vector.toarray())
    assert serializer.dumps_typed(back) == (tag, data)


def test_a_matplotlib_figure_is_refused_naming_savefig_into_the_workdir() -> None:
    """It said only 'matplotlib.figure.Figure has no canonical encoding: convert it to data
    reprolam stores (arrays, frames, dicts, ...)', not how a plot is kept."""
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure = plt.figure()
    try:
        with pytest.raises(CodecError, match=r"savefig\(ctx\.workdir / 'plot\.png'\)"):
            default_serializer().dumps_typed(figure)
    finally:
        plt.close(figure)


def test_a_value_pickle_cannot_take_under_the_opt_in_says_so_not_opt_in() -> None:
    """Trusted, a memoryview (which pickle refuses) was refused with 'or opt in to pickle
    with trusted=True': the opt-in the caller had made."""
    with pytest.raises(CodecError) as refused:
        default_serializer(trusted=True).dumps_typed(memoryview(b"abc"))
    message = str(refused.value)
    assert "opt in to pickle" not in message
    assert "pickle (opted in to) cannot take it either: TypeError" in message
    with pytest.raises(CodecError, match=r", or opt in to pickle with trusted=True$"):
        default_serializer().dumps_typed(memoryview(b"abc"))
