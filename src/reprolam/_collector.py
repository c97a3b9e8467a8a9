"""Pausing Python's cyclic garbage collector around bulk work that makes no reference cycles.

Reading or verifying a run builds thousands of small tracked objects (records, tuples,
maps) and no cycles: the collector, run every 700 new objects, would only walk what is
still alive, its older generations the whole process. Paused, it is resumed afterwards,
only if it was running (a caller that paused it itself keeps it paused).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic collector paused for the ``with`` block (about 13 % of ``Client.show`` of a
    10,000-step run went to collections walking the records built so far)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
