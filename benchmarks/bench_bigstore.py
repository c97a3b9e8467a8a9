"""A store already holding 1,000,000 steps: recording into it, and ``reprolam runs`` over it.

* recording per step: a 10,000-step chain (values new to the store) into the big store vs
  into an empty store, interleaved, median of the pairwise ratios (target: within 10 %);
* ``reprolam runs``, whole process, on the big store vs on a store of one run, interleaved.

The big store is one recorded 10,000-step run plus copies of its rows under new run ids
(new random artifact digests), see ``_scenario.big_store``: built in seconds, not minutes.

    python benchmarks/bench_bigstore.py            # 1,000,000 steps; 10,000-step chains
    python benchmarks/bench_bigstore.py --quick    # 100,000 steps; 1,000-step chains
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import reprolam
from _report import figure, ms, us
from _scenario import big_store, cli, per_step_plain, per_step_recording, record_chain
from _timing import interleaved, interleaved_wall


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store-steps", type=int, default=1_000_000)
    parser.add_argument("--steps", type=int, default=10_000, help="steps per recorded chain")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        size, steps, repeats, cli_repeats = 100_000, 1000, 3, 3
    else:
        size, steps, repeats, cli_repeats = args.store_steps, args.steps, args.repeats, 11

    t0 = time.perf_counter()
    root = big_store(size).root
    print(f"store of {size:,} steps built in {time.perf_counter() - t0:.1f} s ({root})")

    with reprolam.open(root) as big:
        per_step_recording(big, 10)  # warm: the first run in a process reads what cannot change

        def into_empty(i: int) -> float:
            with tempfile.TemporaryDirectory() as tmp, reprolam.open(tmp) as empty:
                return per_step_recording(empty, steps)

        runs = interleaved(
            {
                "plain": lambda i: per_step_plain(steps),
                "empty": into_empty,
                "big": lambda i: per_step_recording(big, steps),
            },
            repeats,
        )
    plain = runs.samples["plain"]
    empty_overhead = [a - p for a, p in zip(runs.samples["empty"], plain, strict=True)]
    big_overhead = [a - p for a, p in zip(runs.samples["big"], plain, strict=True)]
    ratio = statistics.median(b / e for b, e in zip(big_overhead, empty_overhead, strict=True))
    print(
        f"recording per step, {steps:,}-step chains, {repeats} interleaved rounds (medians): "
        f"empty store {us(statistics.median(empty_overhead))}, "
        f"{size:,}-step store {us(statistics.median(big_overhead))} overhead"
    )
    figure(
        f"same, in a store already holding {size:,} steps",
        f"{us(statistics.median(big_overhead))} = {ratio:.2f}x the empty store",
        target="≤ 1.10x the empty-store figure",
        baseline=f"empty store {us(statistics.median(empty_overhead))} (same rounds)",
        met=ratio <= 1.10,
        reproduce="python benchmarks/bench_bigstore.py",
        issue21=True,
    )

    with tempfile.TemporaryDirectory() as tmp:
        with reprolam.open(tmp) as small:
            record_chain(small, 10)
        walls = interleaved_wall(
            {
                "small": lambda i: cli("--store", tmp, "runs"),
                "big": lambda i: cli("--store", str(root), "runs"),
            },
            cli_repeats,
        )
    big_s, small_s = walls.median("big"), walls.median("small")
    print(f"reprolam runs, whole process, {cli_repeats} interleaved rounds (medians)")
    figure(
        f"`reprolam runs` in a {size:,}-step store, whole process",
        ms(big_s),
        target="≤ 200 ms",
        baseline=f"same command on a 1-run store {ms(small_s)} "
        f"({walls.ratio('big', 'small'):.2f}x)",
        met=big_s <= 0.2,
        reproduce="python benchmarks/bench_bigstore.py",
        issue21=True,
    )
    return {"ratio": ratio, "runs_s": big_s, "runs_small_s": small_s}


if __name__ == "__main__":
    main()
