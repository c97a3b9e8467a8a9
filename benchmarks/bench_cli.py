"""Cold start of ``reprolam --help`` (fresh process each time) vs ``python -c pass``.

python benchmarks/bench_cli.py [--quick]
"""

from __future__ import annotations

import argparse
import sys

from _timing import interleaved_wall


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    repeats = 5 if args.quick else 21
    runs = interleaved_wall(
        {
            "python": lambda i: [sys.executable, "-c", "pass"],
            "help": lambda i: [sys.executable, "-m", "reprolam", "--help"],
        },
        repeats,
    )
    baseline, ours = runs.median("python"), runs.median("help")
    verdict = "met" if ours <= 0.3 else "MISSED"
    print(f"CLI cold start, {repeats} interleaved rounds of fresh processes")
    print(f"  reprolam --help   {ours * 1000:7.1f} ms   target <= 300 ms: {verdict}")
    print(f"  python -c pass    {baseline * 1000:7.1f} ms   ({runs.ratio('help', 'python'):.1f}x)")
    return {"help_s": ours, "python_s": baseline}


if __name__ == "__main__":
    main()
