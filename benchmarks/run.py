"""Every reprolam benchmark, one command. Each figure is printed next to its target and the
baseline measured in the same run.

    python benchmarks/run.py            # full (minutes; the 1,000,000-step store takes longest)
    python benchmarks/run.py --quick    # under a minute; what CI runs (it asserts nothing)
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import bench_cli
import bench_e2e
import bench_files
import bench_hashing
import bench_history
import bench_record
import bench_scale
import bench_sweep
import bench_ui

SUITE = [
    ("recording overhead per step", bench_record),
    ("replay and fork", bench_history),
    ("end to end", bench_e2e),
    ("artifact hashing", bench_hashing),
    ("store at scale", bench_scale),
    ("CLI cold start", bench_cli),
    ("file artifacts", bench_files),
    ("web UI at scale", bench_ui),
    ("sweeps and the Dask executor", bench_sweep),
]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, few repeats")
    args = parser.parse_args(argv)
    flags = ["--quick"] if args.quick else []
    print(
        f"reprolam benchmarks ({'quick' if args.quick else 'full'}) on {platform.platform()}, "
        f"Python {platform.python_version()}, {platform.machine()}"
    )
    started = time.perf_counter()
    for title, module in SUITE:
        print(f"\n== {title}")
        module.main(flags)
    print(f"\nall benchmarks done in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
