"""Timing helpers shared by the benchmarks: medians of repeated measurements."""

from __future__ import annotations

import statistics
import subprocess
import time
from collections.abc import Callable, Sequence


def timed(fn: Callable[[], object]) -> float:
    """Seconds one call of ``fn`` takes."""
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def median_time(fn: Callable[[], object], repeats: int) -> float:
    """Median seconds per call of ``fn`` over ``repeats`` calls."""
    return statistics.median(timed(fn) for _ in range(repeats))


def median_wall(commands: Callable[[int], Sequence[str]], repeats: int) -> float:
    """Median wall time of a fresh process per run (``commands(i)`` gives run i's argv)."""

    def run(argv: Sequence[str]) -> float:
        return timed(lambda: subprocess.run(list(argv), check=True, capture_output=True))

    return statistics.median(run(commands(i)) for i in range(repeats))
