"""The blob directory and the row serialization the store backends share."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from reprolam.errors import NotFoundError, StoreError
from reprolam.hashing import canonical_json, digest
from reprolam.trace import _rows
from reprolam.trace.blobs import BlobDir


def test_put_get_layout(tmp_path: Path) -> None:
    blobs = BlobDir(tmp_path / "artifacts")
    data = b"some bytes"
    key = digest(data)
    assert not blobs.exists(key)
    path = blobs.put(key, data)
    assert path == tmp_path / "artifacts" / key[:2] / key[2:] == blobs.path_of(key)
    assert blobs.exists(key)
    assert blobs.get(key) == data
    assert [p.name for p in path.parent.iterdir()] == [key[2:]]  # the temp file is gone


def test_put_keeps_an_existing_blob(tmp_path: Path) -> None:
    blobs = BlobDir(tmp_path, fsync=True)
    key = digest(b"first")
    blobs.put(key, b"first")
    blobs.put(key, b"second")  # same name means same bytes: never rewritten
    assert blobs.get(key) == b"first"


def test_missing_blob_names_digest_and_path(tmp_path: Path) -> None:
    blobs = BlobDir(tmp_path)
    key = digest(b"absent")
    with pytest.raises(NotFoundError, match=key) as info:
        blobs.get(key)
    assert str(blobs.path_of(key)) in str(info.value)


@pytest.mark.parametrize("bad", ["../../etc/passwd", "ABC", "a" * 63, "g" * 64, ""])
def test_only_digests_name_blobs(tmp_path: Path, bad: str) -> None:
    with pytest.raises(StoreError, match="not an artifact digest"):
        BlobDir(tmp_path).path_of(bad)


def test_failed_write_names_digest_and_path(tmp_path: Path) -> None:
    blobs = BlobDir(tmp_path)
    key = digest(b"x")
    blobs.path_of(key).parent.write_bytes(b"")  # a file where the shard directory goes
    with pytest.raises(StoreError, match=key) as info:
        blobs.put(key, b"x")
    assert str(blobs.path_of(key)) in str(info.value)


VALUES: list[Any] = [
    {},
    {"b": 1, "a": [1, 2.5, None, True, False]},
    {"u": 'héllo ✓ 𝔘 \u2028 \x00 "q" \\', "n": {"z": {"y": [{}]}}},
    {"f": [0.1, 1e-300, 1.5e300, -0.0, math.inf, -math.inf], "i": [2**80, -(2**63)]},
    [1, "two", 3.0],
    "text",
    None,
    1.5,
]


@pytest.mark.parametrize("value", VALUES)
def test_fast_json_is_canonical_json(value: Any) -> None:
    assert _rows.to_json(value) == canonical_json(value)


def test_fast_json_refuses_what_canonical_json_refuses() -> None:
    with pytest.raises(TypeError):
        _rows.to_json({"x": object()})
    cycle: dict[str, Any] = {}
    cycle["self"] = cycle
    with pytest.raises((ValueError, RecursionError)):
        _rows.to_json(cycle)
