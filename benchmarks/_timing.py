"""Timing helpers shared by the benchmarks.

Comparisons are interleaved: each round runs every contender once, in turn (A, B, A, B,
...), so a machine that drifts (another process, thermal throttling, the page cache) moves
all of them together; ratios are taken per round and the median of those pairwise ratios
is reported, next to each contender's median.
"""

from __future__ import annotations

import statistics
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass


def timed(fn: Callable[[], object]) -> float:
    """Seconds one call of ``fn`` takes."""
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def median_time(fn: Callable[[], object], repeats: int) -> float:
    """Median seconds per call of ``fn`` over ``repeats`` calls."""
    return statistics.median(timed(fn) for _ in range(repeats))


@dataclass(frozen=True)
class Interleaved:
    """Per-contender samples from interleaved rounds."""

    samples: dict[str, list[float]]

    def median(self, name: str) -> float:
        return statistics.median(self.samples[name])

    def ratio(self, name: str, baseline: str) -> float:
        """Median over rounds of ``name``'s time divided by ``baseline``'s in the same round."""
        pairs = zip(self.samples[name], self.samples[baseline], strict=True)
        return statistics.median(a / b for a, b in pairs)


def interleaved(contenders: Mapping[str, Callable[[int], float]], rounds: int) -> Interleaved:
    """Run every contender once per round, in turn; each returns its own measurement for
    round ``i`` (seconds, or seconds per step)."""
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    for i in range(rounds):
        order = list(contenders.items())
        if i % 2:  # alternate who goes first, so neither always runs on a warm cache
            order.reverse()
        for name, measure in order:
            samples[name].append(measure(i))
    return Interleaved(samples)


def wall(argv: Sequence[str]) -> float:
    """Wall time of one fresh process."""
    return timed(lambda: subprocess.run(list(argv), check=True, capture_output=True))


def interleaved_wall(
    commands: Mapping[str, Callable[[int], Sequence[str]]], rounds: int
) -> Interleaved:
    """Fresh processes, interleaved (``commands[name](i)`` gives round i's argv)."""
    return interleaved({name: (lambda i, c=c: wall(c(i))) for name, c in commands.items()}, rounds)
