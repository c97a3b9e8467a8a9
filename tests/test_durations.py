"""Step durations are recorded to the microsecond (the clock's text then stays short, for the
step row and for every replay that re-hashes it)."""

from __future__ import annotations

import time

import reprolam
from reprolam import ManualRun, action, execute, workflow
from reprolam.trace.memory import MemoryStore


@action(outputs=["n"])
def nap() -> int:
    time.sleep(0.0013)
    return 1


def test_engine_and_hand_built_steps_record_microseconds() -> None:
    with reprolam.open(MemoryStore()) as rl:
        run = rl.run(workflow("naps", [nap], outputs=["n"]))
        built = ManualRun(rl.store)
        built.record(execute(nap))
        durations = [s.duration for s in run.steps] + [s.duration for s in built.steps]
        stored = [s.duration for s in rl.store.steps(run.id)]
    assert stored == durations[:1]
    for duration in durations:
        assert duration is not None
        assert duration >= 0.0013
        assert duration == round(duration, 6)
