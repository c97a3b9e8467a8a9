"""Replay and fork costs, each next to its baseline measured in the same run.

* replay of an N-step synthetic run (verifying every hash, decoding every artifact)
  vs ``rlam`` 0.1.0 ``replay_action`` over the same steps (a dict lookup, nothing verified);
* fork setup on an N-step parent: resolving the fork point and writing the fork's record
  (by reference) vs ``rlam`` 0.1.0 ``fork_trace`` (copies the prefix); plus the cost of
  loading the inherited state when the fork starts executing;
* replay of the Breast Cancer run vs running it (warm process, medians).

    python benchmarks/bench_history.py            # N = 10,000
    python benchmarks/bench_history.py --quick    # N = 1,000
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import reprolam
from _timing import median_time
from bench_record import CHAIN, ChainPlanner, rlam_chain
from reprolam import Done, Engine, Policy, RunRecord, RunState
from reprolam.history.fork import fork, fork_point
from reprolam.history.replay import replay
from reprolam.ids import uuid7
from reprolam.trace.sqlite import SQLiteStore


class Stop:
    name = "stop"
    instant = True

    def propose(self, state: RunState) -> Done:
        return Done("measuring setup only")

    def config(self) -> dict[str, Any]:
        return {"name": self.name}


def main(argv: list[str] | None = None) -> dict[str, float | None]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    steps, repeats = (1000, 3) if args.quick else (args.steps, args.repeats)
    figures: dict[str, float | None] = {}

    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteStore(tmp)
        parent = Engine(store).run(
            CHAIN, planner=ChainPlanner(steps), policy=Policy(max_steps=steps)
        )
        store.flush()

        replay_s = median_time(lambda: replay(store, parent.id), repeats)
        assert replay(store, parent.id).verified
        figures["replay"] = replay_s

        def setup() -> None:
            point = fork_point(store, parent.id, steps - 1)
            store.create_run(
                RunRecord(
                    id=uuid7(),
                    workflow=parent.run.workflow,
                    seed=parent.run.seed,
                    created_at=time.time(),
                    environment=parent.run.environment,
                    parent_id=point.parent.id,
                    fork_index=point.index,
                    host=socket.gethostname(),
                    pid=os.getpid(),
                )
            )

        figures["fork_setup"] = median_time(setup, repeats)
        figures["fork_start"] = median_time(
            lambda: fork(store, parent.id, at=steps - 1, planner=Stop(), workflow=CHAIN), repeats
        )
        store.close()

    try:
        trace = rlam_chain(steps)
        from rlam import fork_trace, replay_action

        figures["rlam_replay"] = median_time(
            lambda: [replay_action(trace, f"A{i}") for i in range(steps)], repeats
        )
        figures["rlam_fork"] = median_time(lambda: fork_trace(trace, f"A{steps - 2}"), repeats)
    except ImportError:
        figures["rlam_replay"] = figures["rlam_fork"] = None

    with tempfile.TemporaryDirectory() as tmp:
        reprolam.run("breast-cancer", store=tmp)  # warm: imports, dataset cache
        figures["bc_run"] = median_time(lambda: reprolam.run("breast-cancer", store=tmp), repeats)
        with SQLiteStore(tmp) as store:
            run_id = store.list_runs(limit=1)[0].id
            figures["bc_replay"] = median_time(lambda: replay(store, run_id), repeats)

    _print(figures, steps, repeats)
    return figures


def _print(f: dict[str, float | None], steps: int, repeats: int) -> None:
    def ms(x: float | None) -> str:
        return "n/a (pip install rlam==0.1.0)" if x is None else f"{x * 1000:9.2f} ms"

    def ratio(a: float | None, b: float | None) -> str:
        return "" if a is None or b is None else f"  ({b / a:.1f}x)"

    print(f"replay and fork, {steps}-step synthetic run, median of {repeats}")
    replay_s, fork_s = f["replay"], f["fork_setup"]
    assert replay_s is not None
    assert fork_s is not None
    print(
        f"  replay, every hash verified + decoded   {ms(replay_s)}   target < 1000 ms: "
        f"{'met' if replay_s < 1 else 'MISSED'}"
    )
    print(f"  rlam 0.1.0 replay_action (no checks)     {ms(f['rlam_replay'])}")
    print(
        f"  fork setup by reference                  {ms(fork_s)}   target < 5 ms: "
        f"{'met' if fork_s < 0.005 else 'MISSED'}"
    )
    slower = ratio(fork_s, f["rlam_fork"])
    print(
        f"  rlam 0.1.0 fork_trace (prefix copy)      {ms(f['rlam_fork'])}{slower} slower than ours"
    )
    print(f"  fork start incl. loading inherited state {ms(f['fork_start'])}")
    bc_run, bc_replay = f["bc_run"], f["bc_replay"]
    assert bc_run is not None
    assert bc_replay is not None
    speedup = bc_run / bc_replay
    verdict = "met" if speedup >= 20 else "MISSED"
    print(f"breast-cancer: run {ms(bc_run)}, replay {ms(bc_replay)}: replay {speedup:.1f}x faster")
    print(f"  target >= 20x: {verdict}")


if __name__ == "__main__":
    main()
