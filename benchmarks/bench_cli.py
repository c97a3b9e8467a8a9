"""Cold start of ``reprolam --help`` (fresh process each time) vs ``python -c pass``.

python benchmarks/bench_cli.py [--quick]
"""

from __future__ import annotations

import argparse
import sys

from _timing import median_wall


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    repeats = 5 if args.quick else 21
    baseline = median_wall(lambda i: [sys.executable, "-c", "pass"], repeats)
    ours = median_wall(lambda i: [sys.executable, "-m", "reprolam", "--help"], repeats)
    verdict = "met" if ours <= 0.3 else "MISSED"
    print(f"CLI cold start, median of {repeats} fresh processes")
    print(f"  reprolam --help   {ours * 1000:7.1f} ms   target <= 300 ms: {verdict}")
    print(f"  python -c pass    {baseline * 1000:7.1f} ms   ({ours / baseline:.1f}x)")
    return {"help_s": ours, "python_s": baseline}


if __name__ == "__main__":
    main()
