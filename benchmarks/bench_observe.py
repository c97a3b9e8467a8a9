"""What observing an action costs when it does nothing observable, and what capturing the
environment and the code costs per run.

* per step: ``LocalExecutor.execute`` of a trivial ``pure`` action (watch on: stdout/stderr/
  warnings capture, RNG marks, clock probes, audit hook armed) against the same call with
  the watch taken out, interleaved A/B, medians;
* per run: ``capture_environment`` and ``capture_code`` of the Breast Cancer workflow (after
  the process's first call, which reads what cannot change while it lives).

    python benchmarks/bench_observe.py            # full
    python benchmarks/bench_observe.py --quick
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from _timing import interleaved
from reprolam import action
from reprolam.actions import spec_of
from reprolam.context import ActionContext
from reprolam.engine import executors
from reprolam.engine.code_capture import capture_code
from reprolam.engine.environment import capture_environment
from reprolam.workflows.registry import load_workflow


@action(outputs=["x"])
def inc(x: int) -> int:
    """A trivial step."""
    return x + 1


class _Unwatched:
    """Stands in for ``ActionWatch``: the executor's code path without any observation."""

    def __init__(self, **_: Any) -> None:
        pass

    def start(self) -> _Unwatched:
        return self

    def stop(self) -> None:
        return None


def per_call(calls: int, *, watched: bool) -> tuple[float, float]:
    """Wall and CPU seconds per call (CPU time is what a machine shared with other work
    disturbs least)."""
    spec = spec_of(inc)
    local = executors.LocalExecutor()
    ctx = ActionContext(seed=0)
    real = executors.ActionWatch
    if not watched:
        executors.ActionWatch = _Unwatched  # type: ignore[assignment,misc]
    try:
        t0, c0 = time.perf_counter(), time.process_time()
        for i in range(calls):
            local.execute(spec, [i], {}, ctx)
        return (time.perf_counter() - t0) / calls, (time.process_time() - c0) / calls
    finally:
        executors.ActionWatch = real  # type: ignore[misc]


def per_run(fn: Any, repeats: int) -> float:
    fn()  # the first call reads what cannot change while the process lives
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--quick", action="store_true", help="2,000 calls x 5 repeats")
    args = parser.parse_args(argv)
    calls, repeats = (2_000, 5) if args.quick else (args.calls, args.repeats)
    cpu: dict[str, list[float]] = {"bare": [], "watched": []}

    def measure(watched: bool) -> Callable[[int], float]:
        def one(i: int) -> float:
            wall, used = per_call(calls, watched=watched)
            cpu["watched" if watched else "bare"].append(used)
            return wall

        return one

    # interleaved, so load changes hit both alike
    runs = interleaved({"bare": measure(False), "watched": measure(True)}, repeats)
    print(f"observing a trivial pure action: {repeats} interleaved rounds x {calls} calls")
    for label, samples in (("wall", runs.samples), ("CPU", cpu)):
        added = statistics.median(
            (w - b) * 1e6 for w, b in zip(samples["watched"], samples["bare"], strict=True)
        )
        b = statistics.median(samples["bare"]) * 1e6
        w = statistics.median(samples["watched"]) * 1e6
        print(
            f"  {label:>4}: without the watch {b:7.2f} us, with it {w:7.2f} us, "
            f"added per step {added:6.2f} us (median of per-round differences; target <= 5 us)"
        )

    import numpy  # noqa: F401  (as in a real run: a BLAS is loaded, threadpoolctl reports it)

    flow = load_workflow("breast-cancer")
    code = capture_code(flow)
    env = per_run(
        lambda: capture_environment(flow, fingerprints=code.fingerprints, code="x"), repeats
    )
    src = per_run(lambda: capture_code(flow), repeats)
    print(f"per run (breast-cancer): environment {env * 1e3:.2f} ms, code {src * 1e3:.2f} ms")
    print("  target: environment capture adds <= 20 ms to a run")


if __name__ == "__main__":
    main()
