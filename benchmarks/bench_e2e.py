"""End-to-end Breast Cancer run, whole process: ``reprolam run`` vs the plain script pipeline.

Both start a fresh Python, import the same libraries, load the same data and compute the
same model; reprolam also plans, policy-checks, seeds, encodes, hashes and durably records
every step in a fresh SQLite store.

    python benchmarks/bench_e2e.py [--quick]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from _timing import interleaved_wall

SCRIPT = Path(__file__).with_name("script_pipeline.py")


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    repeats = 3 if args.quick else 11
    with tempfile.TemporaryDirectory() as tmp:
        runs = interleaved_wall(
            {
                "script": lambda i: [sys.executable, str(SCRIPT)],
                "reprolam": lambda i: [
                    *(sys.executable, "-m", "reprolam", "--store", f"{tmp}/s{i}", "run")
                ],
            },
            repeats,
        )
    script, ours = runs.median("script"), runs.median("reprolam")
    ratio = runs.ratio("reprolam", "script")
    verdict = "met" if ratio <= 1.10 else "MISSED"
    print(f"end-to-end Breast Cancer run, whole process, {repeats} interleaved rounds")
    print(f"  script pipeline     {script * 1000:8.1f} ms")
    print(
        f"  reprolam run        {ours * 1000:8.1f} ms   {ratio:.2f}x (median pairwise ratio)"
        f"   target <= 1.10x: {verdict}"
    )
    return {"script_s": script, "reprolam_s": ours, "ratio": ratio}


if __name__ == "__main__":
    main()
