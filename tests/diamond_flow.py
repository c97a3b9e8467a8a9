"""A diamond workflow for concurrency inside a run: ``source`` feeds ``left`` and ``right``
(independent: they may run at once), which ``join`` combines. ``delay`` makes each branch
last that long; ``fail`` makes ``left`` fail."""

import time

from reprolam import ActionContext, action, workflow


@action(outputs=["data"], determinism="seeded")
def source(*, n: int = 8, ctx: ActionContext) -> list[float]:
    return [float(x) for x in ctx.rng.normal(size=n)]


@action(outputs=["low"], determinism="seeded")
def left(data: list[float], *, delay: float = 0.0, fail: bool = False, ctx: ActionContext) -> float:
    time.sleep(delay)
    if fail:
        raise ValueError("left was told to fail")
    return min(data) + float(ctx.rng.uniform())


@action(outputs=["high"], determinism="seeded")
def right(data: list[float], *, delay: float = 0.0, ctx: ActionContext) -> float:
    time.sleep(delay)
    return max(data) + float(ctx.rng.uniform())


@action(outputs=["metrics"], determinism="pure")
def join(low: float, high: float) -> dict[str, float]:
    return {"spread": high - low}


flow = workflow("diamond", [source, left, right, join], outputs=["metrics"], metrics="metrics")
