"""Every reprolam benchmark, one command. Each figure is printed next to its target and the
baseline measured in the same run (interleaved rounds, medians), and again at the end as a
table, issue 21's figures first.

    python benchmarks/run.py              # full (many minutes)
    python benchmarks/run.py --quick      # small sizes, about two minutes; CI runs it
    python benchmarks/run.py --markdown   # the end table as BENCHMARKS.md rows
    python benchmarks/run.py --only bench_cli,bench_e2e

Quick mode asserts nothing about time. The peer comparison (``bench_peers``) runs only when
its packages import (``pip install 'reprolam[bench-peers]'``).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import platform
import sqlite3
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _report import load, summary

SUITE = [
    ("recording overhead per step", "bench_record"),
    ("recording into a big store, `runs` over it", "bench_bigstore"),
    ("fork, resume and replay", "bench_history"),
    ("end to end", "bench_e2e"),
    ("CLI start-up and show", "bench_cli"),
    ("peers: one durable step in DBOS, LangGraph, MLflow", "bench_peers"),
    ("artifact hashing", "bench_hashing"),
    ("a workflow passing a large array", "bench_arrays"),
    ("store at scale", "bench_scale"),
    ("file artifacts", "bench_files"),
    ("web UI at scale", "bench_ui"),
    ("sweeps and the Dask executor", "bench_sweep"),
]
# what each optional benchmark needs; it is skipped (and said so) when these do not import
NEEDS = {
    "bench_peers": ["dbos", "langgraph.checkpoint.sqlite", "mlflow"],
}


def missing(module: str) -> list[str]:
    out = []
    for name in NEEDS.get(module, []):
        try:
            found = importlib.util.find_spec(name) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            out.append(name)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, few repeats")
    parser.add_argument("--markdown", action="store_true", help="end table as markdown rows")
    parser.add_argument("--only", help="comma-separated benchmark modules (e.g. bench_cli)")
    args = parser.parse_args(argv)
    flags = ["--quick"] if args.quick else []
    chosen = set(args.only.split(",")) if args.only else None
    print(
        f"reprolam benchmarks ({'quick' if args.quick else 'full'}) on {platform.platform()}, "
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
        f"{platform.machine()}; load average {load()} (1/5/15 min)"
    )
    started = time.perf_counter()
    for title, name in SUITE:
        if chosen is not None and name not in chosen:
            continue
        print(f"\n== {title} ({name})")
        if absent := missing(name):
            extra = "pip install 'reprolam[bench-peers]'"
            print(f"  skipped: {', '.join(absent)} not installed ({extra})")
            continue
        t0 = time.perf_counter()
        importlib.import_module(name).main(flags)
        print(f"  ({name}: {time.perf_counter() - t0:.0f} s)")
    elapsed = time.perf_counter() - started
    print(f"\nall benchmarks done in {elapsed:.0f} s; load average now {load()} (1/5/15 min)\n")
    print(summary(markdown=args.markdown))


if __name__ == "__main__":
    main()
