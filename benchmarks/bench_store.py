"""Cost of the store's hot path: one ``record()`` call per engine step.

The shape is what the engine commits per step: the step that just finished (with its
outputs and hash), the next step as started, and ``--artifacts`` (default 2) small new
artifacts. Runs have
``--steps`` steps; ``--runs`` of them go into one store, so tables grow as they would.
For scale it also times a bare SQLite WAL commit (one small row) in the same way.

Blocks of each are interleaved (bare, SQLite, memory, alternating who goes first).

    python benchmarks/bench_store.py
    python benchmarks/bench_store.py --runs 500 --fsync
    python benchmarks/bench_store.py --quick
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _timing import interleaved
from reprolam.hashing import digest
from reprolam.ids import uuid7
from reprolam.trace import (
    ArtifactRecord,
    MemoryStore,
    RunRecord,
    SQLiteStore,
    StepKind,
    StepRecord,
    StepStatus,
    TraceStore,
    step_hash,
)

ACTIONS = ["load_dataset", "analyze_data", "preprocess_data", "train_model", "evaluate_model"]


def _calls(run_id: str, steps: int, n_artifacts: int = 2) -> list[dict[str, object]]:
    """The record() arguments for one run, built up front so only the store is timed."""
    calls: list[dict[str, object]] = []
    prev_hash, produced = "", ""
    started = _started(run_id, 0, "", prev_hash)
    for i in range(steps):
        small = os.urandom(48).hex().encode()  # fresh small artifacts every step
        metrics = f'{{"accuracy":{i / steps!r},"f1":0.93}}'.encode() + small[:16]
        arts = [
            (ArtifactRecord(digest(small), "json", len(small)), small),
            (ArtifactRecord(digest(metrics), "json", len(metrics)), metrics),
        ][:n_artifacts]
        names = ["model", "metrics"]
        done = replace(
            started,
            status=StepStatus.SUCCEEDED,
            outputs={name: a.digest for name, (a, _) in zip(names, arts, strict=False)},
            duration=0.0123,
        )
        done = replace(done, hash=step_hash(done))
        prev_hash, produced = done.hash or "", arts[0][0].digest if arts else ""
        started = _started(run_id, i + 1, produced, prev_hash)
        calls.append({"steps": [done, started], "artifacts": arts})
    return calls


def _started(run_id: str, index: int, produced: str, prev_hash: str) -> StepRecord:
    return StepRecord(
        run_id=run_id,
        index=index,
        kind=StepKind.ACTION,
        action=ACTIONS[index % len(ACTIONS)],
        status=StepStatus.STARTED,
        started_at=time.time(),
        action_version="1",
        fingerprint="f" * 16,
        params={"n_estimators": 100, "max_depth": 5, "test_size": 0.2},
        inputs={"data": produced} if produced else {},
        seed=123456789,
        proposal={"planner": "rules", "rationale": "the next action of the plan"},
        prev_hash=prev_hash,
    )


def time_store(store: TraceStore, runs: int, steps: int, n_artifacts: int) -> list[float]:
    times: list[float] = []
    for _ in range(runs):
        run_id = uuid7()
        store.create_run(RunRecord(id=run_id, workflow="bench", seed=0, created_at=time.time()))
        for call in _calls(run_id, steps, n_artifacts):
            t0 = time.perf_counter()
            store.record(**call)  # type: ignore[arg-type]
            times.append(time.perf_counter() - t0)
    return times


def time_bare_commit(directory: Path, n: int, block: int = 0) -> list[float]:
    conn = sqlite3.connect(directory / "bare.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("CREATE TABLE IF NOT EXISTS t (a INTEGER PRIMARY KEY, b TEXT)")
    cur = conn.cursor()
    times: list[float] = []
    for i in range(block * n, (block + 1) * n):
        t0 = time.perf_counter()
        cur.execute("BEGIN IMMEDIATE")
        cur.execute("INSERT INTO t VALUES (?, ?)", (i, "x"))
        cur.execute("COMMIT")
        times.append(time.perf_counter() - t0)
    conn.close()
    return times


def _report(label: str, times: list[float]) -> None:
    us = sorted(t * 1e6 for t in times)
    p10, p90 = us[len(us) // 10], us[9 * len(us) // 10]
    print(
        f"{label:38s} median {statistics.median(us):7.1f} µs   p10 {p10:6.1f}   "
        f"p90 {p90:6.1f}   (n={len(us)})"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds")
    parser.add_argument("--artifacts", type=int, choices=[0, 1, 2], default=2, help="per call")
    parser.add_argument("--fsync", action="store_true", help="synchronous=FULL (power-loss safe)")
    parser.add_argument("--quick", action="store_true", help="10 runs per round, 3 rounds")
    args = parser.parse_args(argv)
    runs, rounds = (10, 3) if args.quick else (args.runs // args.rounds or 1, args.rounds)
    times: dict[str, list[float]] = {"bare": [], "sqlite": [], "memory": []}
    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteStore(Path(tmp) / "store", fsync=args.fsync)
        memory = MemoryStore()
        try:
            # each round: a block of each, in turn (the tables keep growing across rounds)
            interleaved(
                {
                    "bare": lambda i: _block(
                        times["bare"], time_bare_commit(Path(tmp), runs * args.steps, i)
                    ),
                    "sqlite": lambda i: _block(
                        times["sqlite"], time_store(store, runs, args.steps, args.artifacts)
                    ),
                    "memory": lambda i: _block(
                        times["memory"], time_store(memory, runs, args.steps, args.artifacts)
                    ),
                },
                rounds,
            )
        finally:
            store.close()
    print(f"{rounds} interleaved rounds of {runs} runs x {args.steps} calls")
    _report("bare SQLite WAL commit (1 small row)", times["bare"])
    label = f"SQLiteStore.record() {args.artifacts} artifacts" + (" fsync" * args.fsync)
    _report(label, times["sqlite"])
    _report(f"MemoryStore.record() {args.artifacts} artifacts", times["memory"])


def _block(into: list[float], times: list[float]) -> float:
    into.extend(times)
    return statistics.median(times)


if __name__ == "__main__":
    main()
