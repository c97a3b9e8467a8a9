"""Sweeping with --jobs on the local executor runs actions in threads of one interpreter:
whatever they print is captured per step, and the process's own streams survive.

Known bug (engine/observe.py, left to its owner): ``ActionWatch`` swaps ``sys.stdout`` and
``sys.stderr`` process-wide. Two watches in two threads that stop in the other order leave
them pointing at a finished step's capture buffer, so everything printed afterwards (the
sweep's summary included) is lost, and a line printed by one thread while another thread's
action runs is recorded as that action's output. A fix: route writes by the thread-local
watch (``_local.watch``) through one proxy installed once, instead of swapping the streams.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import reprolam

FLOW = f"{Path(__file__).with_name('sweep_flow.py')}:flow"


@pytest.mark.xfail(reason="engine/observe.py swaps sys.stdout process-wide (see above)")
def test_a_parallel_local_sweep_leaves_the_process_streams_as_they_were(tmp_path: Path) -> None:
    store = tmp_path / "store"
    parent = reprolam.run(FLOW, store=store, seed=3)
    before = sys.stdout, sys.stderr
    with reprolam.open(store) as rl:
        result = rl.sweep(
            parent.id,
            at="fit",
            grid={"fit.C": [1.0], "fit.delay": [0.1, 0.4, 0.7, 1.0]},  # ends while others run
            jobs=4,
            on_point=lambda point: print(f"point {point.number} done"),  # as the CLI does
        )
        after = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = before  # whatever happened, the rest of the session prints
        assert result.succeeded
        assert after == before
        # the sweep_flow actions print nothing: no step may record printed output
        printed = [
            (s.run_id, s.action, s.proposal["observed"])
            for p in result.points
            if p.run is not None
            for s in rl.store.own_steps(p.run.id)
            if s.proposal.get("observed", {}).get("printed")
        ]
        assert printed == []
