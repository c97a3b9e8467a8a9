"""Sweeps and the Dask executor.

(a) An 8-point sweep of a workflow whose middle action takes 1 s: the sweep's span as the
    trace records it (first step started to last step finished), on 2 Dask workers (a
    LocalCluster started and warmed before the first step) vs in-process sequential. Beside
    it: the cluster's start-up and the wall time of the whole `reprolam sweep` command.
(b) The per-step overhead the Dask executor adds on a trivial action (local vs dask).
(c) A 200-point grid sweep of the bundled breast-cancer workflow forked at train_model:
    points per second in one process, vs a shell loop of `reprolam fork` (measured on a
    few points in the same run and extrapolated).

    python benchmarks/bench_sweep.py            # full (a few minutes)
    python benchmarks/bench_sweep.py --quick    # small sizes, what CI runs
    python benchmarks/bench_sweep.py --busy     # (a) with a CPU-bound action, not a sleep
    python benchmarks/bench_sweep.py --only a   # one part (a, b or c)
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import reprolam
from _timing import interleaved, timed
from reprolam.engine.engine import Engine
from reprolam.engine.policy import Policy
from reprolam.planning.base import Done, Proposal, RunState
from reprolam.workflows.registry import load_workflow

FLOWS = Path(__file__).with_name("sweep_flows.py")
SLOW = f"{FLOWS}:slow"
TRIVIAL = f"{FLOWS}:trivial"


def has_dask() -> bool:
    try:
        import distributed  # noqa: F401
    except ImportError:
        return False
    return True


def span(store: Any, run_ids: list[str], at: int) -> float:
    """First own step started to last own step finished, from the recorded timestamps."""
    steps = [s for r in run_ids for s in store.own_steps(r) if s.index >= at]
    start = min(s.started_at for s in steps)
    end = max(s.started_at + (s.duration or 0.0) for s in steps)
    return end - start


def sweep_span(points: int, seconds: float, busy: bool, executor: Any, jobs: int) -> float:
    with tempfile.TemporaryDirectory() as tmp, reprolam.open(tmp) as rl:
        parent = rl.run(SLOW, set={"work.seconds": 0.0})
        result = rl.sweep(
            parent.id,
            at="work",
            grid={"work.C": [float(c) for c in range(1, points + 1)]},
            jobs=jobs,
            executor=executor,
            set={"work.seconds": seconds, "work.busy": busy},
        )
        assert result.succeeded, [p.to_dict() for p in result.points]
        return span(rl.store, [p.run.id for p in result.points if p.run], result.at)


def command_wall(points: int, seconds: float, busy: bool, dask: bool) -> float:
    """Wall time of the whole `reprolam sweep` command (a fresh process)."""
    with tempfile.TemporaryDirectory() as tmp:
        with reprolam.open(tmp) as rl:
            parent = rl.run(SLOW, set={"work.seconds": 0.0}).id
        grid = ",".join(str(float(c)) for c in range(1, points + 1))
        argv = [sys.executable, "-m", "reprolam", "--store", tmp, "sweep", parent, "--at"]
        argv += ["work", "--grid", f"work.C={grid}", "--set", f"work.seconds={seconds}"]
        argv += ["--set", f"work.busy={'true' if busy else 'false'}"]
        argv += ["--executor", "dask", "--workers", "2", "--jobs", "4"] if dask else []
        return timed(lambda: subprocess.run(argv, check=True, capture_output=True))


def part_a(
    points: int, seconds: float, busy: bool, rounds: int, walls: bool = True
) -> dict[str, float]:
    kind = "CPU-bound" if busy else "sleeping"
    print(f"(a) {points}-point sweep, a {seconds:g} s {kind} action per point, "
          f"{rounds} interleaved rounds (medians)")  # fmt: skip
    if not has_dask():
        sequential = sweep_span(points, seconds, busy, "local", jobs=1)
        print(f"  in-process, sequential   span {sequential:7.2f} s")
        print("  dask: not installed (pip install 'reprolam[dask]'): skipped")
        return {"sequential_span_s": sequential}
    from reprolam.engine.dask_executor import DaskExecutor

    executor = DaskExecutor(workers=2)
    executor.start()  # started and warmed before the first step is stamped
    try:
        spans = interleaved(
            {
                "sequential": lambda i: sweep_span(points, seconds, busy, "local", jobs=1),
                "dask": lambda i: sweep_span(points, seconds, busy, executor, jobs=2),
            },
            rounds,
        )
    finally:
        executor.close()
    sequential, on_dask = spans.median("sequential"), spans.median("dask")
    speedup = 1 / spans.ratio("dask", "sequential")
    verdict = "met" if speedup >= 1.8 else "MISSED"
    print(f"  in-process, sequential   span {sequential:7.2f} s")
    print(f"  dask, 2 workers, 2 jobs  span {on_dask:7.2f} s   {speedup:.2f}x  target >= 1.8x: "
          f"{verdict}")  # fmt: skip
    print(f"  cluster start-up (2 workers, warmed)   {executor.startup_seconds or 0:.2f} s")
    figures = {
        "sequential_span_s": sequential,
        "dask_span_s": on_dask,
        "speedup": speedup,
        "startup_s": executor.startup_seconds or 0.0,
    }
    if walls:
        command = interleaved(
            {
                "in-process": lambda i: command_wall(points, seconds, busy, dask=False),
                "dask": lambda i: command_wall(points, seconds, busy, dask=True),
            },
            rounds,
        )
        print(f"  whole command wall time: in-process {command.median('in-process'):.2f} s, "
              f"dask {command.median('dask'):.2f} s")  # fmt: skip
        figures.update(
            wall_sequential_s=command.median("in-process"), wall_dask_s=command.median("dask")
        )
    return figures


class Chain:
    name = "chain"
    instant = True

    def __init__(self, steps: int) -> None:
        self.steps = steps

    def propose(self, state: RunState) -> Proposal | Done:
        n = len(state.steps)
        return Done() if n >= self.steps else Proposal("inc" if n else "start")

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "steps": self.steps}


def per_step(executor: Any, steps: int) -> float:
    flow = load_workflow(TRIVIAL)
    with tempfile.TemporaryDirectory() as tmp, reprolam.open(tmp) as rl:
        engine = Engine(rl.store, executor=executor)
        executor_obj = engine.executor
        executor_obj.start()  # start-up is not per-step overhead
        seconds = timed(
            lambda: engine.run(flow, planner=Chain(steps), policy=Policy(max_steps=steps))
        )
        engine.close()
    return seconds / steps


def part_b(steps: int, rounds: int) -> dict[str, float]:
    print(
        f"(b) per-step cost on a trivial action, {steps}-step chains, {rounds} interleaved rounds"
    )
    if not has_dask():
        local = statistics.median(per_step("local", steps) for _ in range(rounds))
        print(f"  local            {local * 1e6:9.0f} µs/step   (dask not installed)")
        return {"local_step_s": local}
    from reprolam.engine.dask_executor import DaskExecutor

    executor = DaskExecutor(workers=1)
    executor.start()
    client = executor.client

    def bare(i: int) -> float:  # Dask's own round trip, the floor for any Dask executor
        return statistics.median(
            timed(lambda: client.submit(int, 1, pure=False).result()) for _ in range(steps)
        )

    try:
        costs = interleaved(
            {
                "local": lambda i: per_step("local", steps),
                "dask": lambda i: per_step(executor, steps),
                "round trip": bare,
            },
            rounds,
        )
    finally:
        executor.close()
    local, dask = costs.median("local"), costs.median("dask")
    trip = costs.median("round trip")
    print(f"  local            {local * 1e6:9.0f} µs/step")
    print(f"  dask (1 worker)  {dask * 1e6:9.0f} µs/step   overhead {(dask - local) * 1e3:.2f} ms")
    print(f"  baseline: Dask's own round trip (submit + result of int(1)) {trip * 1e3:.2f} ms")
    return {"local_step_s": local, "dask_step_s": dask, "dask_round_trip_s": trip}


def part_c(points: int, loop_points: int) -> dict[str, float]:
    print(f"(c) {points}-point grid sweep of breast-cancer forked at train_model")
    with tempfile.TemporaryDirectory() as tmp:
        with reprolam.open(tmp) as rl:
            parent = rl.run("breast-cancer", seed=0).id
            values = [round(10 ** (-3 + 6 * i / max(1, points - 1)), 6) for i in range(points)]
            t0 = time.perf_counter()
            result = rl.sweep(parent, at="train_model", grid={"train_model.C": values})
            elapsed = time.perf_counter() - t0
            assert len(result.points) == points
        rate = points / elapsed
        print(f"  one process (Client.sweep)  {rate:6.1f} points/s  ({elapsed:.1f} s)")
        base = [sys.executable, "-m", "reprolam", "--store", tmp, "fork", parent]
        loop = [
            timed(
                lambda c=c: subprocess.run(
                    [*base, "--at", "train_model", "--set", f"train_model.C={c}"],
                    check=True,
                    capture_output=True,
                )
            )
            for c in values[:loop_points]
        ]
    per_fork = statistics.median(loop)
    print(
        f"  shell loop of `reprolam fork`  {1 / per_fork:6.2f} points/s  "
        f"(median {per_fork:.2f} s per fork over {loop_points} forks; {points} points would "
        f"take ~{per_fork * points:.0f} s, extrapolated)   sweep is {per_fork * rate:.0f}x faster"
    )
    return {"sweep_points_per_s": rate, "loop_points_per_s": 1 / per_fork}


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--busy", action="store_true", help="(a): spin the CPU, do not sleep")
    parser.add_argument("--only", choices=["a", "b", "c"], help="run one part")
    args = parser.parse_args(argv)
    quick = args.quick
    parts = {
        "a": lambda: (
            part_a(4, 0.2, args.busy, 1, walls=False) if quick else part_a(8, 1.0, args.busy, 3)
        ),
        "b": lambda: part_b(20, 1) if quick else part_b(200, 5),
        "c": lambda: part_c(4, 1) if quick else part_c(200, 5),
    }
    figures: dict[str, float] = {}
    for name, part in parts.items():
        if args.only in (None, name):
            figures |= part()
    return figures


if __name__ == "__main__":
    main()
