"""Artifact hashing throughput on a large NumPy array: BLAKE3 (ours) vs hashlib.sha256.

python benchmarks/bench_hashing.py            # 512 MiB
python benchmarks/bench_hashing.py --quick    # 64 MiB
"""

from __future__ import annotations

import argparse
import hashlib
import time

import numpy as np

from reprolam.hashing import digest


def best_rate(fn: object, size: int, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()  # type: ignore[operator]
        best = min(best, time.perf_counter() - t0)
    return size / best / 1e9


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    mib = 64 if args.quick else 512
    data = np.random.default_rng(0).random(mib * 1024 * 1024 // 8).tobytes()
    ours = best_rate(lambda: digest(data), len(data), 5)
    sha = best_rate(lambda: hashlib.sha256(data).hexdigest(), len(data), 2)
    verdict = "met" if ours >= 5 else "MISSED"
    print(f"artifact hashing, {mib} MiB float64 array (best of runs)")
    print(f"  reprolam digest (BLAKE3, all cores)  {ours:6.2f} GB/s   target >= 5 GB/s: {verdict}")
    print(f"  hashlib.sha256                       {sha:6.2f} GB/s   ({ours / sha:.1f}x slower)")
    return {"blake3_gbps": ours, "sha256_gbps": sha}


if __name__ == "__main__":
    main()
