"""Artifact hashing throughput on a large NumPy array: BLAKE3 (ours) vs hashlib.sha256,
and encoding it to its canonical ``.npy`` bytes (ours) vs ``numpy.save``; interleaved
rounds, medians.

python benchmarks/bench_hashing.py            # 512 MiB
python benchmarks/bench_hashing.py --quick    # 64 MiB
"""

from __future__ import annotations

import argparse
import hashlib
import io
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from _report import figure
from _timing import interleaved, timed
from reprolam.codecs._npy import array_bytes
from reprolam.hashing import digest


def _numpy_save(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    mib, rounds = (64, 3) if args.quick else (512, 5)
    array = np.random.default_rng(0).random(mib * 1024 * 1024 // 8)
    data = array.tobytes()
    runs = interleaved(
        {
            "blake3": lambda i: timed(lambda: digest(data)),
            "sha256": lambda i: timed(lambda: hashlib.sha256(data).hexdigest()),
        },
        rounds,
    )
    ours, sha = (len(data) / runs.median(n) / 1e9 for n in ("blake3", "sha256"))
    speedup = runs.ratio("sha256", "blake3")
    print(f"artifact hashing, {mib} MiB float64 array, {rounds} interleaved rounds (medians)")
    figure(
        f"artifact hashing, {mib} MiB NumPy array",
        f"{ours:.2f} GB/s (BLAKE3, all cores), {speedup:.1f}x sha256",
        target="≥ 5 GB/s",
        baseline=f"`hashlib.sha256` {sha:.2f} GB/s",
        met=ours >= 5,
        reproduce="python benchmarks/bench_hashing.py",
    )
    encoding = interleaved(
        {
            "ours": lambda i: timed(lambda: array_bytes(array)),
            "numpy.save": lambda i: timed(lambda: _numpy_save(array)),
        },
        rounds,
    )
    encode = len(data) / encoding.median("ours") / 1e9
    save = len(data) / encoding.median("numpy.save") / 1e9
    figure(
        f"artifact encoding, {mib} MiB NumPy array to canonical .npy bytes",
        f"{encode:.2f} GB/s, {encoding.ratio('numpy.save', 'ours'):.2f}x numpy.save",
        target="at least numpy.save's speed",
        baseline=f"`numpy.save` to memory {save:.2f} GB/s",
        met=encoding.ratio("numpy.save", "ours") >= 1.0,
        reproduce="python benchmarks/bench_hashing.py",
    )
    return {"blake3_gbps": ours, "sha256_gbps": sha, "npy_gbps": encode}


if __name__ == "__main__":
    main()
