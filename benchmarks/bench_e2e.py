"""End-to-end Breast Cancer run, whole process: ``reprolam run`` vs plain scripts.

* ``plain_pipeline.py``: the same five steps with scikit-learn and NumPy, no reprolam and no
  pydantic import (issue 21's baseline);
* ``script_pipeline.py``: the five reprolam action functions called directly (imports
  reprolam and pydantic, records nothing).

All start a fresh Python, load the same data and compute the same model; ``reprolam run``
also plans, policy-checks, seeds, encodes, hashes and durably records every step in a fresh
SQLite store. Interleaved rounds, medians of the pairwise ratios.

    python benchmarks/bench_e2e.py [--quick]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _report import figure, ms
from _scenario import cli
from _timing import interleaved_wall

HERE = Path(__file__).parent


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    repeats = 3 if args.quick else 11
    with tempfile.TemporaryDirectory() as tmp:
        runs = interleaved_wall(
            {
                "plain": lambda i: [sys.executable, str(HERE / "plain_pipeline.py")],
                "script": lambda i: [sys.executable, str(HERE / "script_pipeline.py")],
                "reprolam": lambda i: cli("--store", f"{tmp}/s{i}", "run"),
            },
            repeats,
        )
    plain, script, ours = (runs.median(n) for n in ("plain", "script", "reprolam"))
    ratio = runs.ratio("reprolam", "plain")
    print(f"end-to-end Breast Cancer run, whole process, {repeats} interleaved rounds (medians)")
    figure(
        "`reprolam run` (bundled workflow) vs a plain script, whole process",
        f"{ms(ours)} = {ratio:.2f}x",
        target="≤ 1.05x",
        baseline=f"plain script (no reprolam, no pydantic) {ms(plain)}; "
        f"`script_pipeline.py` {ms(script)} ({runs.ratio('reprolam', 'script'):.2f}x)",
        met=ratio <= 1.05,
        reproduce="python benchmarks/bench_e2e.py",
        issue21=True,
    )
    return {"plain_s": plain, "script_s": script, "reprolam_s": ours, "ratio": ratio}


if __name__ == "__main__":
    main()
