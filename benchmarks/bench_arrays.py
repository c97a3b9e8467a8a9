"""A workflow whose actions pass a large NumPy array: ``reprolam.run`` into a SQLite store
vs the same two functions called by a plain script that saves the array with
``numpy.save`` (both survive a crash of the process, neither a power loss: the store's
default durability); in one process, interleaved rounds, medians.

    python benchmarks/bench_arrays.py            # 256 MiB array, 5 rounds
    python benchmarks/bench_arrays.py --quick    # 32 MiB, 3 rounds

What the run adds: encoding and hashing the array, writing it durably, keeping it for the
next action and handing that action its own copy.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

import reprolam
from _report import figure
from _timing import interleaved, timed
from reprolam import action, workflow

SIZE = {"n": 0}  # float64 values in the array (set by main)


@action(outputs=["array"])
def make_array() -> Any:
    return np.full(SIZE["n"], 0.5)


@action(outputs=["total"])
def total(array: Any) -> float:
    return float(array.sum())


FLOW = workflow("big-array", [make_array, total], outputs=["total"])


def _plain(root: Path) -> None:
    array = make_array()  # an @action is the function itself
    np.save(root / "array.npy", array)  # no fsync: the store's default durability
    total(array)


def _run(root: Path, i: int) -> None:
    with reprolam.open(str(root / f"store-{i}")) as rl:
        result = rl.run(FLOW, planner="script", seed=i)
        assert result.succeeded, result.steps[-1].error


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    mib, rounds = (32, 3) if args.quick else (256, 5)
    SIZE["n"] = mib * 1024 * 1024 // 8
    root = Path(tempfile.mkdtemp(prefix="reprolam-bench-arrays-"))
    try:
        _run(root, -1)  # warm: imports, the first store
        runs = interleaved(
            {
                "script": lambda i: timed(lambda: _plain(root)),
                "reprolam": lambda i: timed(lambda: _run(root, i)),
            },
            rounds,
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)
    ratio = runs.ratio("reprolam", "script")
    print(f"a {mib} MiB array through two actions, {rounds} interleaved rounds (medians)")
    figure(
        f"workflow passing a {mib} MiB NumPy array, SQLite store",
        f"{runs.median('reprolam') * 1e3:.0f} ms = {ratio:.2f}x the script",
        target="reported",
        baseline=f"script with `numpy.save` {runs.median('script') * 1e3:.0f} ms",
        reproduce="python benchmarks/bench_arrays.py",
    )
    return {"ratio": ratio}


if __name__ == "__main__":
    main()
