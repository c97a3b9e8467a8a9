"""The blob directory and the row serialization the store backends share."""

from __future__ import annotations

import math
import os
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


DATA = bytes(range(256)) * 200


def _damage(blobs: BlobDir, key: str, how: str) -> None:
    path = blobs.path_of(key)
    if how == "truncated":
        path.write_bytes(DATA[:100])
    elif how == "emptied":
        path.write_bytes(b"")
    elif how == "appended":
        path.write_bytes(DATA + b"x")
    elif how in ("link", "dangling link"):
        other = path.parent / "elsewhere"
        other.write_bytes(DATA)
        path.unlink()
        path.symlink_to(other)
        if how == "dangling link":
            other.unlink()
    elif how == "fifo":
        path.unlink()
        os.mkfifo(path)
    else:  # same size, found damaged by a read
        flipped = bytearray(DATA)
        flipped[1000] ^= 0xFF
        path.write_bytes(bytes(flipped))
        blobs.found_damaged(key)


DAMAGE = ["truncated", "emptied", "appended", "link", "dangling link", "fifo", "edited, found"]


@pytest.mark.parametrize("how", DAMAGE)
@pytest.mark.parametrize("way", ["put", "put_stream", "put_file"])
def test_storing_the_bytes_again_repairs_a_damaged_blob(tmp_path: Path, how: str, way: str) -> None:
    blobs = BlobDir(tmp_path / "artifacts")
    key = digest(DATA)
    blobs.put(key, DATA)
    _damage(blobs, key, how)
    if way == "put":
        blobs.put(key, DATA)
    elif way == "put_stream":
        assert blobs.put_stream(iter([DATA[:5000], DATA[5000:]])) == (key, len(DATA))
    else:
        source = tmp_path / "source"
        source.write_bytes(DATA)
        assert blobs.put_file(source) == (key, len(DATA))
    path = blobs.path_of(key)
    assert path.is_file()
    assert not path.is_symlink()
    assert blobs.get(key) == DATA
    blobs.put(key, DATA)  # repaired once: kept from then on
    assert blobs.get(key) == DATA


def test_a_damaged_blob_is_replaced_only_by_its_digests_bytes(tmp_path: Path) -> None:
    blobs = BlobDir(tmp_path)
    key = digest(DATA)
    blobs.put(key, DATA)
    _damage(blobs, key, "truncated")
    blobs.put(key, DATA[:-1] + b"?")  # a caller's mix-up never overwrites the blob
    assert blobs.get(key) == DATA[:100]


def test_an_edit_that_keeps_the_size_is_kept_until_a_read_finds_it(tmp_path: Path) -> None:
    """Telling it apart would mean reading every re-recorded blob again: reads find it."""
    blobs = BlobDir(tmp_path)
    key = digest(DATA)
    blobs.put(key, DATA)
    flipped = bytearray(DATA)
    flipped[7] ^= 1
    blobs.path_of(key).write_bytes(bytes(flipped))
    blobs.put(key, DATA)
    assert blobs.get(key) == bytes(flipped)


def test_a_directory_in_a_blobs_place_is_named(tmp_path: Path) -> None:
    blobs = BlobDir(tmp_path)
    key = digest(DATA)
    blobs.path_of(key).mkdir(parents=True)
    with pytest.raises(StoreError, match=r"is a directory: .*remove that directory"):
        blobs.put(key, DATA)


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
