"""Recording a hand-built run at scale: the cost of one rlam ``add_result`` (a
``reprolam.compat.rlam`` step, re-sealing the run) at 1,000, 10,000 and 30,000 steps.

A hand-built run is sealed after every step; the cost per step should not grow with the
trace. Per length: the mean over the whole chain and over its last 500 steps (what a step
costs at that length), on SQLite, every step applied to ``trace.db``. Interleaved rounds,
medians; wall time and process CPU time (the CPU figure holds on a busy machine).

    python benchmarks/bench_manual_scale.py             # 1k, 10k, 30k steps x 3 rounds
    python benchmarks/bench_manual_scale.py --quick     # 500 and 2,000 steps x 1 round
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

sys.path.insert(0, str(Path(__file__).parent))

from _report import figure, us
from _scenario import inc
from _timing import interleaved
from reprolam.compat import rlam
from reprolam.trace.sqlite import SQLiteStore

TAIL = 500  # the last steps of a chain, timed apart


class Costs(NamedTuple):
    """Seconds per step: mean over the chain, over its last ``TAIL`` steps; CPU likewise."""

    mean: float
    tail: float
    cpu_mean: float
    cpu_tail: float


def chain(steps: int) -> Costs:
    """An rlam chain of ``steps`` ``add_result`` calls on a fresh SQLite store."""
    tail = min(TAIL, steps)
    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteStore(tmp)
        trace = rlam.ExecutionTrace(store=store)
        x, parent = 0, None
        wall0, cpu0 = time.perf_counter(), time.process_time()
        wall1, cpu1 = wall0, cpu0
        for i in range(steps):
            if i == steps - tail:
                wall1, cpu1 = time.perf_counter(), time.process_time()
            act = rlam.Action(
                action_id=f"A{i}",
                action_type="inc",
                inputs={"x": x},
                parameters={},
                environment_hash="e",
            )
            result = rlam.execute_action(act, inc)
            trace.add_result(result, parents=[parent] if parent else None)
            x, parent = result.output, act.action_id
        store.flush()
        wall2, cpu2 = time.perf_counter(), time.process_time()
        store.close()
    return Costs(
        (wall2 - wall0) / steps, (wall2 - wall1) / tail, (cpu2 - cpu0) / steps, (cpu2 - cpu1) / tail
    )


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,30000")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    sizes = [500, 2000] if args.quick else [int(n) for n in args.sizes.split(",")]
    repeats = 1 if args.quick else args.repeats

    chain(50)  # warm: imports, the environment snapshot's first read
    samples: dict[int, list[Costs]] = {n: [] for n in sizes}

    def measure(n: int) -> float:
        costs = chain(n)
        samples[n].append(costs)
        return costs.tail

    interleaved({str(n): (lambda i, n=n: measure(n)) for n in sizes}, repeats)
    print(f"rlam add_result on SQLite, {repeats} interleaved rounds (medians), us per step")
    print(f"{'steps':>8} {'mean':>9} {'last 500':>9} {'cpu mean':>9} {'cpu last':>9}")
    medians: dict[int, Costs] = {}
    for n in sizes:
        medians[n] = Costs(*(statistics.median(c[i] for c in samples[n]) for i in range(4)))
        print(f"{n:>8} " + " ".join(f"{v * 1e6:9.1f}" for v in medians[n]))
    first, last = sizes[0], sizes[-1]
    ratio = medians[last].cpu_tail / medians[first].cpu_tail
    figure(
        f"hand-built step (rlam add_result) at {last:,} steps vs {first:,} (CPU, last {TAIL})",
        f"{us(medians[last].cpu_tail)} vs {us(medians[first].cpu_tail)} ({ratio:.2f}x)",
        target="<= 1.2x",
        met=None if args.quick else ratio <= 1.2,
        reproduce="python benchmarks/bench_manual_scale.py",
    )
    return {f"tail_{n}": medians[n].cpu_tail for n in sizes}


if __name__ == "__main__":
    main()
