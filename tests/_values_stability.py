"""Values of every type the walker gained, for the cross-process (PYTHONHASHSEED) test.

Run as a script it prints ``{name: [tag, digest]}`` as JSON.
"""

from __future__ import annotations

import json
from typing import Any


def new_values() -> dict[str, Any]:
    import datetime as dt
    import decimal
    import pathlib
    import uuid
    import zoneinfo

    import numpy as np
    import pandas as pd
    from scipy import sparse

    return {
        "bytes": b"\x89PNG\r\n\x1a\nraw",
        "bytearray": bytearray(b"\x00\x01"),
        "set": {"pear", "apple", "fig", 3, 2.5, ("t", 1)},
        "frozenset": frozenset({"x", "y", "z"}),
        "int_keys": {3: "c", 1: "a", "s": [1], (2, "b"): None},
        "set_of_frozensets": {frozenset({1, 2}), frozenset({"a"})},
        "big": -(3**30000),
        "complex": 1.5 - 2j,
        "datetime_zone": dt.datetime(
            2021, 11, 7, 1, 30, fold=1, tzinfo=zoneinfo.ZoneInfo("America/New_York")
        ),
        "datetime_offset": dt.datetime(
            2024, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30), "IST")
        ),
        "datetime_naive": dt.datetime(2024, 1, 1, 12, 0, 0, 1),
        "date": dt.date(1999, 12, 31),
        "time": dt.time(23, 59, 59, 999999, tzinfo=dt.UTC),
        "timedelta": dt.timedelta(days=-1, seconds=5, microseconds=3),
        "decimal": decimal.Decimal("-0.000"),
        "decimal_nan": decimal.Decimal("sNaN"),
        "uuid": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "path": pathlib.PurePosixPath("/data/x.csv"),
        "windows_path": pathlib.PureWindowsPath(r"C:\data\x.csv"),
        "strings": np.array([["a", "bb"], ["ccc", None]], dtype=object),
        "csr": sparse.csr_matrix(([1.0, 2.0, 3.0], ([2, 0, 0], [1, 2, 2])), shape=(3, 3)),
        "csc_array": sparse.csc_array(np.eye(3)),
        "coo": sparse.coo_matrix(([5, 6], ([1, 0], [0, 1])), shape=(2, 2)),
        "lil": sparse.lil_matrix(np.eye(2)),
        "bsr": sparse.bsr_array(np.eye(4), blocksize=(2, 2)),
        "tz_frame": pd.DataFrame(
            {"t": pd.date_range("2024-03-31", periods=4, freq="h", tz="Europe/Paris")},
            index=pd.MultiIndex.from_product([["a", "b"], [1, 2]], names=["k", "n"]),
        ),
        "frame_types": pd.DataFrame(
            {
                "cat": pd.Categorical(["x", "y", "x"], ordered=True),
                "n": pd.array([1, None, 3], dtype="Int64"),
                "b": pd.array([True, None, False], dtype="boolean"),
                "when": pd.to_datetime(["2024-01-01", None, "2024-01-03"]),
            }
        ),
        "ufunc": np.log1p,
        "mixed": {
            "when": dt.date(2024, 1, 1),
            "tags": {"b", "a"},
            "m": sparse.eye(2, format="csr"),
        },
    }


def digests() -> dict[str, list[str]]:
    from reprolam.codecs import default_serializer
    from reprolam.hashing import digest

    ser = default_serializer()
    out = {}
    for name, value in new_values().items():
        tag, data = ser.dumps_typed(value)
        out[name] = [tag, digest(data)]
    return out


if __name__ == "__main__":
    print(json.dumps(digests(), sort_keys=True))
