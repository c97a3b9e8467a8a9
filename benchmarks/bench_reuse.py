"""What store-wide ``--reuse`` costs per step when a file the step read has changed.

A SQLite store holds ``--versions`` computations of one step, each after the file it reads
changed (one candidate per content). The step's advice (``StepCache.advise``: the
candidates in order, each one's reads checked) is timed when the file holds:

* the first computation's content: the common case, one candidate read;
* the newest's: every older candidate is stale and passed over;
* a content no computation read: every candidate is stale, the step executes.

It also times the lookup alone (``find_cached_step``: one candidate, no reads checked).

    python benchmarks/bench_reuse.py
    python benchmarks/bench_reuse.py --versions 200 --size 65536
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import reprolam
from reprolam import action, workflow
from reprolam.engine.cache import StepCache

DATA: dict[str, Path] = {}


@action(outputs=["n"])
def reads_the_file() -> int:
    return len(DATA["file"].read_bytes())


FLOW = workflow("bench_reuse", [reads_the_file], outputs=["n"])


def _content(version: int, size: int) -> bytes:
    return f"{version:012d}".encode().ljust(size, b".")


def _median_us(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e6


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--versions", type=int, default=50, help="computations in the store")
    parser.add_argument("--size", type=int, default=4096, help="bytes of the file read")
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as root, reprolam.open(Path(root) / "store") as rl:
        DATA["file"] = Path(root) / "data.bin"
        for version in range(args.versions):
            DATA["file"].write_bytes(_content(version, args.size))
            last = rl.run(FLOW, planner="script", reuse=True)
        probe = last.steps[0]
        cache = StepCache(reuse=True, store=rl.store)
        print(
            f"store-wide advice for one step, {args.versions} candidates, a "
            f"{args.size:,}-byte file, median of {args.repeats}:"
        )
        cases = (("first computation's", 0), ("newest's", args.versions - 1), ("new", -1))
        for label, version in cases:
            DATA["file"].write_bytes(_content(version, args.size))
            advice = cache.advise(probe)
            assert advice is not None
            assert advice.reused is (version >= 0), advice
            took = _median_us(lambda: cache.advise(probe), args.repeats)
            print(f"  file holds the {label + ' content:':<32}{took:10.0f} µs")
        took = _median_us(lambda: rl.store.find_cached_step(probe), args.repeats)
        print(f"  {'the lookup alone (find_cached_step):':<49}{took:10.0f} µs")


if __name__ == "__main__":
    main()
