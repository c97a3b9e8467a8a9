"""The store at scale: RUNS x STEPS recorded steps in one SQLite store.

Reports bytes per step, `show` of one run (all its steps, from a freshly opened store),
and a lineage query (which step produced an artifact, and from which inputs).

    python benchmarks/bench_scale.py            # 100 runs x 10,000 steps = 1,000,000 steps
    python benchmarks/bench_scale.py --quick    # 10 runs x 1,000 steps
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from bench_record import CHAIN, ChainPlanner
from reprolam import Engine, Policy
from reprolam.api import show
from reprolam.trace.sqlite import SQLiteStore


def size_of(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    runs, steps = (10, 1000) if args.quick else (args.runs, args.steps)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        with SQLiteStore(root) as store:
            ids = [
                Engine(store)
                .run(CHAIN, planner=ChainPlanner(steps), seed=r, policy=Policy(max_steps=steps))
                .id
                for r in range(runs)
            ]
        build = time.perf_counter() - t0
        total = runs * steps
        per_step = size_of(root) / total
        middle = ids[len(ids) // 2]

        def show_once() -> float:
            with SQLiteStore(root) as fresh:
                t = time.perf_counter()
                view = show(middle, store=fresh)
                elapsed = time.perf_counter() - t
            assert len(view.steps) == steps
            return elapsed

        show_s = statistics.median(show_once() for _ in range(5))
        with SQLiteStore(root) as store:
            final = store.get_run(middle).outputs["x"]

            def lineage_once() -> float:
                t = time.perf_counter()
                producer = store.artifact_producer(final)
                assert producer is not None
                step = store.step_at(producer.run_id, producer.index)
                for key in step.inputs.values():
                    store.artifact_producer(key)
                return time.perf_counter() - t

            lineage_s = statistics.median(lineage_once() for _ in range(101))
    print(f"store at scale: {runs} runs x {steps} steps = {total:,} steps (built in {build:.0f} s)")
    print(f"  bytes per step (trace.db + artifacts)  {per_step:8.0f} B")
    for label, seconds in (
        (f"show one run ({steps} steps)", show_s),
        ("lineage query (producer + its inputs)", lineage_s),
    ):
        verdict = "met" if seconds <= 0.1 else "MISSED"
        print(f"  {label:<38} {seconds * 1000:8.2f} ms   target <= 100 ms: {verdict}")
    return {"bytes_per_step": per_step, "show_s": show_s, "lineage_s": lineage_s, "build_s": build}


if __name__ == "__main__":
    main()
