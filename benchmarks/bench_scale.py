"""The store at scale: 1,000,000 steps in one SQLite store (runs of 10,000 steps).

Reports bytes per step, ``Client.show`` of one 10,000-step run from a freshly opened
store, and a lineage query (which step produced an artifact, and from which inputs). The
store is built as in ``bench_bigstore`` (one recorded run, its rows copied under new ids).

    python benchmarks/bench_scale.py            # 1,000,000 steps
    python benchmarks/bench_scale.py --quick    # 100,000 steps
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import reprolam
from _report import figure, ms
from _scenario import big_store


def size_of(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store-steps", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    total = 100_000 if args.quick else args.store_steps
    t0 = time.perf_counter()
    big = big_store(total)
    build = time.perf_counter() - t0
    per_step = size_of(big.root) / total

    def show_once() -> float:
        with reprolam.open(big.root) as fresh:
            t = time.perf_counter()
            view = fresh.show(big.recorded)
            elapsed = time.perf_counter() - t
        assert len(view.steps) == 10_000
        return elapsed

    show_s = statistics.median(show_once() for _ in range(5))
    with reprolam.open(big.root) as client:
        store = client.store
        final = store.get_run(big.recorded).outputs["x"]

        def lineage_once() -> float:
            t = time.perf_counter()
            producer = store.artifact_producer(final)
            assert producer is not None
            step = store.step_at(producer.run_id, producer.index)
            for key in step.inputs.values():
                store.artifact_producer(key)
            return time.perf_counter() - t

        lineage_s = statistics.median(lineage_once() for _ in range(101))
    print(f"store at scale: {total:,} steps (built or reused in {build:.1f} s), medians")
    figure(f"store of {total:,} steps: bytes per step (trace.db + artifacts)", f"{per_step:.0f} B")
    figure(
        "same store: `Client.show` of one 10,000-step run, in process",
        ms(show_s),
        target="≤ 100 ms",
        met=show_s <= 0.1,
        reproduce="python benchmarks/bench_scale.py",
    )
    figure(
        "same store: lineage query (producer of an artifact + its step's inputs)",
        ms(lineage_s),
        target="≤ 100 ms",
        met=lineage_s <= 0.1,
        reproduce="python benchmarks/bench_scale.py",
    )
    return {"bytes_per_step": per_step, "show_s": show_s, "lineage_s": lineage_s, "build_s": build}


if __name__ == "__main__":
    main()
