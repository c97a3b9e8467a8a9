"""A small three-action workflow for sweep, cache and Dask tests (fast; ``delay`` makes the
``fit`` step last that many seconds, for concurrency and worker-loss tests)."""

import time

from reprolam import ActionContext, action, workflow


@action(outputs=["data"], determinism="seeded")
def make_data(*, n: int = 40, ctx: ActionContext) -> list[float]:
    return [float(x) for x in ctx.rng.normal(size=n)]


@action(outputs=["fit"], determinism="seeded")
def fit(data: list[float], *, C: float = 1.0, delay: float = 0.0, ctx: ActionContext) -> float:
    if C < 0:
        raise ValueError(f"C must be positive, got {C}")
    if delay:
        time.sleep(delay)
    return sum(data) * C + float(ctx.rng.uniform())


@action(outputs=["metrics"], determinism="pure")
def score(fit: float) -> dict[str, float]:
    return {"score": -abs(fit - 1.0), "value": fit}


flow = workflow("sweep-toy", [make_data, fit, score], outputs=["fit", "metrics"], metrics="metrics")
