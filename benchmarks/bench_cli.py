"""Whole-process start-up of the CLI: ``reprolam --help`` vs ``python -c pass``, and
``reprolam show`` of a 1,000-step run, fresh processes, interleaved, medians.

    python benchmarks/bench_cli.py [--quick]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import reprolam
from _report import figure, ms
from _scenario import cli, record_chain
from _timing import interleaved_wall


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--steps", type=int, default=1000, help="steps of the run shown")
    args = parser.parse_args(argv)
    repeats = 5 if args.quick else 21
    with tempfile.TemporaryDirectory() as tmp:
        with reprolam.open(tmp) as client:
            run_id = record_chain(client, args.steps)
        runs = interleaved_wall(
            {
                "python": lambda i: [sys.executable, "-c", "pass"],
                "help": lambda i: cli("--help"),
                "show": lambda i: cli("--store", tmp, "show", run_id),
            },
            repeats,
        )
    python, help_s, show = (runs.median(n) for n in ("python", "help", "show"))
    print(f"CLI, whole process, {repeats} interleaved rounds of fresh processes (medians)")
    figure(
        f"`reprolam show` of a {args.steps:,}-step run, whole process",
        ms(show),
        target="≤ 300 ms",
        baseline=f"`reprolam --help` {ms(help_s)}; `python -c pass` {ms(python)}",
        met=show <= 0.3,
        reproduce="python benchmarks/bench_cli.py",
        issue21=True,
    )
    figure(
        "`reprolam --help`, whole process",
        f"{ms(help_s)} ({runs.ratio('help', 'python'):.1f}x `python -c pass`)",
        target="≤ 60 ms",
        baseline=f"`python -c pass` {ms(python)}",
        met=help_s <= 0.06,
        reproduce="python benchmarks/bench_cli.py",
        issue21=True,
    )
    return {"help_s": help_s, "python_s": python, "show_s": show}


if __name__ == "__main__":
    main()
