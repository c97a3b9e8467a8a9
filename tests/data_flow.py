"""A workflow returning every value type reprolam stores, plus a file and a directory.

Used by ``tests/test_files.py`` and as a CLI workflow (``--workflow tests/data_flow.py:flow``,
``--input table=CSV``); the second workflow ``flow_values`` needs no input.
"""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
import zoneinfo
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from reprolam import action, workflow
from reprolam.context import ActionContext

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


@action(outputs=["values"])
def make_values() -> dict[str, Any]:
    import pandas as pd
    from scipy import sparse
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    X = np.arange(20, dtype=float).reshape(10, 2)
    y = np.array([0, 1] * 5)
    frame = pd.DataFrame(
        {
            "cat": pd.Categorical(["a", "b"] * 5),
            "when": pd.date_range("2024-03-30", periods=10, freq="h", tz="Europe/Paris"),
            "n": pd.array([1, None] * 5, dtype="Int64"),
        },
        index=pd.MultiIndex.from_product([["x", "y"], range(5)], names=["g", "i"]),
    )
    return {
        "bytes": PNG,
        "bytearray": bytearray(b"abc"),
        "text": "long text\n" * 1000,
        "datetime": dt.datetime(2024, 3, 31, 2, 30, tzinfo=zoneinfo.ZoneInfo("Europe/Paris")),
        "date": dt.date(2024, 1, 2),
        "time": dt.time(1, 2, 3, 4, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
        "timedelta": dt.timedelta(days=1, microseconds=7),
        "decimal": decimal.Decimal("1.2300"),
        "uuid": uuid.UUID(int=12345),
        "path": PurePosixPath("/data/raw.csv"),
        "set": {"b", "a", 3},
        "frozenset": frozenset({1.5, 2.5}),
        "int_keys": {1: "one", 2: "two", (1, 2): "pair"},
        "big": 2**20000 + 1,
        "strings": np.array(["x", "yy", None], dtype=object),
        "frame": frame,
        "sparse": sparse.csr_matrix(np.eye(4)),
        "sparse_array": sparse.coo_array(np.eye(3)),
        "model": make_pipeline(FunctionTransformer(np.log1p), LogisticRegression()).fit(X, y),
    }


@action(outputs=["png"])
def plot() -> bytes:
    return PNG


@action(outputs=["report", "bundle"])
def write_files(table: Path, *, ctx: ActionContext) -> tuple[Path, Path]:
    lines = table.read_text().splitlines()
    report = ctx.workdir / "report.md"
    report.write_text(f"# Report\n\n{len(lines)} lines\n")
    bundle = ctx.workdir / "bundle"
    (bundle / "sub").mkdir(parents=True)
    (bundle / "sub" / "a.txt").write_text("a\n")
    (bundle / "b.bin").write_bytes(bytes(100_000))
    (bundle / "empty").mkdir()
    return report, bundle


@action(outputs=["summary"])
def summarise(report: Path, bundle: Path) -> dict[str, Any]:
    # Inputs arrive as read-only paths.
    return {
        "report": report.read_text(),
        "files": sorted(p.relative_to(bundle).as_posix() for p in bundle.rglob("*")),
        "writable": bool(report.stat().st_mode & 0o222),
    }


flow = workflow(
    "data-flow",
    [make_values, plot, write_files, summarise],
    outputs=["values", "png", "summary", "report", "bundle"],
    inputs=["table"],
)
