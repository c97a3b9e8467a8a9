"""A small seeded workflow for the crash tests: 22 steps, one artifact large enough for a blob.

Run as a script (``python crash_flow.py STORE``) it records one run and exits; the crash
tests run it with ``REPROLAM_CRASH_AT`` set so that it dies at a chosen store write.
"""

from __future__ import annotations

import os
import sys
import time

from reprolam import ActionContext, Engine, ScriptPlanner, action, load_workflow, workflow
from reprolam.trace import sqlite

# The kill points are counted in one run and replayed in others: no timer-driven batch may
# make their number depend on how loaded the machine is.
sqlite.FLUSH_INTERVAL = 3600.0

ORDER = ["draw", "summarize"] + ["refine"] * 20
SEED = 7


@action(outputs=["data"], determinism="seeded")
def draw(*, n: int = 6000, ctx: ActionContext) -> list[float]:
    """Seeded numbers; about 100 kB as JSON, so stored as a blob file."""
    return [ctx.random.random() for _ in range(n)]


@action(outputs=["value"])
def summarize(data: list[float]) -> float:
    """Their mean."""
    return round(sum(data) / len(data), 12)


@action(outputs=["value"], determinism="seeded")
def refine(value: float, *, ctx: ActionContext) -> float:
    """A seeded nudge."""
    time.sleep(float(os.environ.get("CRASH_FLOW_SLEEP", "0")))  # to stop a server mid-run
    return round(value + ctx.random.random(), 9)


flow = workflow("crash-flow", [draw, summarize, refine], outputs=["value"])


def run_once(store: object) -> str:
    result = Engine(store).run(  # type: ignore[arg-type]
        load_workflow(f"{__file__}:flow"), planner=ScriptPlanner(ORDER), seed=SEED
    )
    return result.id


if __name__ == "__main__":
    from reprolam.trace import open_store

    # STORE [ARTIFACTS]: a SQLite directory, or a PostgreSQL DSN and its artifacts directory
    with open_store(sys.argv[1], artifacts=sys.argv[2] if len(sys.argv) > 2 else None) as trace:
        print(run_once(trace))
