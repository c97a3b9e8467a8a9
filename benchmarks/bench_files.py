"""File artifacts: storing and reading back one large file vs ``cp`` of the same file.

    python benchmarks/bench_files.py              # 1 GiB, 3 interleaved rounds
    python benchmarks/bench_files.py --quick      # 64 MiB, 1 round (CI)
    python benchmarks/bench_files.py --dir /work  # where the temporary files go

Each measurement runs in a fresh process that reports its own time (interpreter start-up
excluded) and its peak RSS (``ru_maxrss``) next to its RSS before the operation, so the
memory figure is what storing the file costs, whatever importing reprolam costs. Rounds
interleave ``cp``, store and read-back; figures are medians. Store = hash while copying
into the blob directory + the artifact row; read back = stream from the store,
verifying the digest, into a new file. Targets: throughput >= 0.5x ``cp``, peak memory
added < 64 MiB. The temporary directory is deleted afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _report import figure
from _timing import interleaved

MIB = 1 << 20
CHILD = r"""
import json, resource, sys, time
from pathlib import Path
from reprolam import files
from reprolam.codecs import default_serializer
from reprolam.trace.sqlite import SQLiteStore

op, store_dir, path = sys.argv[1:4]
store = SQLiteStore(store_dir)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
if op == "store":
    manifest = files.store_path(store, path)
    Path(store_dir, "manifest.bin").write_bytes(default_serializer().dumps_typed(manifest)[1])
else:
    raw = Path(store_dir, "manifest.bin").read_bytes()
    manifest = default_serializer().loads_typed("file", raw)
    files.write_manifest(store, manifest, Path(path))
seconds = time.perf_counter() - t0
store.close()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "base_kib": base, "peak_kib": peak}))
"""


def _child(op: str, store: Path, path: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, op, str(store), str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def _cp(src: Path, dst: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run(["cp", str(src), str(dst)], check=True)
    return time.perf_counter() - t0


def _write_random(path: Path, size: int) -> None:
    block = os.urandom(16 * MIB)
    with open(path, "wb") as f:
        left = size
        while left > 0:
            f.write(block[: min(left, len(block))])
            left -= len(block)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="64 MiB, one round")
    parser.add_argument("--size-mib", type=int, help="file size (default 1024, quick 64)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 3, quick 1)")
    parser.add_argument("--dir", help="where temporary files go (default: the system temp dir)")
    args = parser.parse_args(argv)
    size = (args.size_mib or (64 if args.quick else 1024)) * MIB
    rounds = args.rounds or (1 if args.quick else 3)
    root = Path(tempfile.mkdtemp(prefix="reprolam-bench-files-", dir=args.dir))
    try:
        src = root / "data.bin"
        _write_random(src, size)
        store: list[dict[str, float]] = []
        read: list[dict[str, float]] = []

        def copy(i: int) -> float:
            seconds = _cp(src, root / f"copy{i}.bin")
            (root / f"copy{i}.bin").unlink()
            return seconds

        def store_and_read(i: int) -> float:
            shutil.rmtree(root / "store", ignore_errors=True)
            store.append(_child("store", root / "store", src))
            read.append(_child("read", root / "store", root / f"back{i}.bin"))
            (root / f"back{i}.bin").unlink()
            return store[-1]["seconds"]

        runs = interleaved({"cp": copy, "store": store_and_read}, rounds)
        cp_s = runs.median("cp")
        print(f"file of {size / MIB:.0f} MiB on {root.parent}, {rounds} interleaved round(s)")
        print(f"  cp            {size / MIB / cp_s:8.0f} MiB/s  ({cp_s:.2f} s)")
        for label, measured in (("store", store), ("read back", read)):
            seconds = statistics.median(r["seconds"] for r in measured)
            ratio = statistics.median(
                c / r["seconds"] for c, r in zip(runs.samples["cp"], measured, strict=True)
            )
            peak = max(r["peak_kib"] for r in measured) / 1024
            added = max(r["peak_kib"] - r["base_kib"] for r in measured) / 1024
            print(
                f"  {label:<13} {size / MIB / seconds:8.0f} MiB/s  ({seconds:.2f} s)  "
                f"peak RSS {peak:.0f} MiB, +{added:.1f} MiB for the operation"
            )
            figure(
                f"file artifact of {size / MIB:,.0f} MiB: {label}",
                f"{size / MIB / seconds:.0f} MiB/s = {ratio:.2f}x cp; +{added:.1f} MiB RSS",
                target="≥ 0.5x cp, < 64 MiB added",
                baseline=f"`cp` {size / MIB / cp_s:.0f} MiB/s",
                met=ratio >= 0.5 and added < 64,
                reproduce="python benchmarks/bench_files.py",
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
