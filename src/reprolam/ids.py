"""Time-ordered run ids (UUIDv7, RFC 9562): sorting ids sorts runs by creation time."""

from __future__ import annotations

import os
import time
import uuid

_last = [0, 0]  # (unix ms, counter) of the previous id from this process, for monotonicity


def uuid7() -> str:
    ms = time.time_ns() // 1_000_000
    if ms <= _last[0]:
        ms, counter = _last[0], _last[1] + 1
    else:
        counter = int.from_bytes(os.urandom(2), "big") & 0x7FF  # random start, room to count up
    _last[0], _last[1] = ms, counter
    rand_a = counter & 0xFFF
    rand_b = int.from_bytes(os.urandom(8), "big") & 0x3FFF_FFFF_FFFF_FFFF
    value = (ms << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b
    return str(uuid.UUID(int=value))


def names_a_file(run_id: str) -> bool:
    """Whether a run id can name a file in a directory as it is: stores name files after run
    ids (SQLite's leases), so an id like ``../trace.db`` from a hostile crate must not be one."""
    return run_id not in ("", ".", "..") and not any(c in run_id for c in "/\\\0")
