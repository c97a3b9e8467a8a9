"""What store-wide ``--reuse`` costs when a file the step read has changed.

A SQLite store holds ``--versions`` computations of a one-step workflow whose action reads a
file, each recorded after the file changed (one candidate per content). A run with
``reuse=True`` is timed when the file holds:

* the first computation's content: the common case, the first candidate is taken;
* the newest's: every older candidate is stale and passed over, the newest is taken;
* a content no computation read: every candidate is stale, the step executes;

against the same run without ``reuse`` (it executes, and looks nothing up): the baseline.
Interleaved rounds, medians, through the public API (``Client.run``).

    python benchmarks/bench_reuse.py
    python benchmarks/bench_reuse.py --versions 200 --size 65536
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import reprolam
from _timing import interleaved, timed
from reprolam import action, workflow

DATA: dict[str, Path] = {}


@action(outputs=["n"])
def reads_the_file() -> int:
    return len(DATA["file"].read_bytes())


FLOW = workflow("bench_reuse", [reads_the_file], outputs=["n"])


def _content(version: int, size: int) -> bytes:
    return f"{version:012d}".encode().ljust(size, b".")


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--versions", type=int, default=50, help="computations in the store")
    parser.add_argument("--size", type=int, default=4096, help="bytes of the file read")
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as root, reprolam.open(Path(root) / "store") as rl:
        DATA["file"] = Path(root) / "data.bin"
        for version in range(args.versions):
            DATA["file"].write_bytes(_content(version, args.size))
            rl.run(FLOW, planner="script", reuse=True)

        def run_with(version: int, *, reuse: bool) -> Callable[[int], float]:
            def measure(_round: int) -> float:
                DATA["file"].write_bytes(_content(version, args.size))
                return timed(lambda: rl.run(FLOW, planner="script", reuse=reuse))

            return measure

        cases = {
            "file holds the first computation's content": run_with(0, reuse=True),
            "file holds the newest's content": run_with(args.versions - 1, reuse=True),
            "file holds content no run read": run_with(-1, reuse=True),
            "baseline: no reuse (executed)": run_with(0, reuse=False),
        }
        runs = interleaved(cases, args.rounds)
    print(
        f"a one-step run with reuse=True, {args.versions} candidates in the store, a "
        f"{args.size:,}-byte file read; {args.rounds} interleaved rounds (medians):"
    )
    base = "baseline: no reuse (executed)"
    for label in cases:
        ratio = "" if label == base else f"  {runs.ratio(label, base):5.2f}x the baseline"
        print(f"  {label + ':':<44}{runs.median(label) * 1e3:8.2f} ms{ratio}")
    return {label: runs.median(label) for label in cases}


if __name__ == "__main__":
    main()
