"""Workflows for bench_sweep.py, loaded by file path (so Dask workers import them the same way).

``slow``: make_data -> work (``seconds`` long: sleeping, or spinning the CPU with ``busy``)
-> score. ``trivial``: start -> inc (for the per-step overhead of an executor).
"""

import time

from reprolam import ActionContext, action, workflow


@action(outputs=["data"], determinism="seeded")
def make_data(*, ctx: ActionContext) -> list[float]:
    return [float(x) for x in ctx.rng.normal(size=16)]


@action(outputs=["fit"], determinism="seeded")
def work(data: list[float], *, C: float = 1.0, seconds: float = 1.0, busy: bool = False) -> float:
    deadline = time.perf_counter() + seconds
    if busy:
        spins = 0
        while time.perf_counter() < deadline:
            spins += 1
    else:
        time.sleep(seconds)
    return sum(data) * C


@action(outputs=["metrics"], determinism="pure")
def score(fit: float) -> dict[str, float]:
    return {"score": -abs(fit)}


slow = workflow("bench-slow", [make_data, work, score], outputs=["metrics"], metrics="metrics")


@action(outputs=["x"])
def start() -> int:
    return 0


@action(outputs=["x"])
def inc(x: int) -> int:
    return x + 1


trivial = workflow("bench-trivial", [start, inc], outputs=["x"])
