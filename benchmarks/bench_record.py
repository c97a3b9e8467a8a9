"""Per-step recording overhead on a synthetic chain of trivial actions.

Measured in one process, same machine, same run:

* plain function calls (the floor),
* ``rlam`` 0.1.0: ``Action(...)`` + ``execute_action`` + ``ExecutionTrace.add_result``
  (in memory, nothing durable),
* reprolam on the in-memory store and on SQLite (durable: every step committed), through
  ``Client.run`` of a chain whose values are new to the store (``_scenario.record_chain``),
* the same rlam code on ``reprolam.compat.rlam`` (each ``add_result`` a recorded step).

Each figure is the median over ``--repeats`` chains of ``--steps`` steps.

    python benchmarks/bench_record.py            # full
    python benchmarks/bench_record.py --quick    # a few seconds
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import reprolam
from _report import figure, us
from _scenario import CHAIN, ChainPlanner, inc, per_step_plain, per_step_recording
from _timing import interleaved, timed
from reprolam.trace.memory import MemoryStore
from reprolam.trace.sqlite import SQLiteStore

__all__ = ["CHAIN", "ChainPlanner", "main", "rlam_chain"]


def rlam_chain(steps: int, pkg: Any = None, store: Any = None) -> Any:
    """The same chain through rlam 0.1.0: Action + execute_action + ExecutionTrace.add_result.

    ``pkg``: another module with rlam's API (``reprolam.compat.rlam``), recording into ``store``.
    """
    if pkg is None:
        import rlam as pkg
    Action, ExecutionTrace, execute_action = pkg.Action, pkg.ExecutionTrace, pkg.execute_action

    trace = ExecutionTrace() if store is None else ExecutionTrace(store=store)
    x, parent = 0, None
    for i in range(steps):
        act = Action(
            action_id=f"A{i}",
            action_type="inc",
            inputs={"x": x},
            parameters={},
            environment_hash="e",
        )
        result = execute_action(act, inc)
        trace.add_result(result, parents=[parent] if parent else None)
        x, parent = result.output, act.action_id
    return trace


def per_step_rlam(steps: int) -> float | None:
    try:
        return timed(lambda: rlam_chain(steps)) / steps
    except ImportError:
        return None


def per_step_compat(make_store: Callable[[str], Any], steps: int) -> float:
    from reprolam.compat import rlam as compat

    with tempfile.TemporaryDirectory() as tmp:
        store = make_store(tmp)

        def chain_and_apply() -> None:
            rlam_chain(steps, compat, store)
            store.flush()  # every step applied to trace.db, not just journaled

        elapsed = timed(chain_and_apply)
        store.close()
    return elapsed / steps


def per_step_client(location: str, steps: int) -> float:
    """The scenario of issue 21 through the public API: ``Client.run`` of a ``steps``-step
    chain with values new to the store, every step applied to ``trace.db``."""
    with (
        tempfile.TemporaryDirectory() as tmp,
        reprolam.open(tmp if location == "sqlite" else "memory:") as client,
    ):
        return per_step_recording(client, steps)


def main(argv: list[str] | None = None) -> dict[str, float | None]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="1,000 steps x 3 repeats")
    args = parser.parse_args(argv)
    steps, repeats = (1000, 3) if args.quick else (args.steps, args.repeats)

    has_rlam = per_step_rlam(1) is not None
    per_step_client("memory", 10)  # warm: the process's first run reads what cannot change
    per_step_client("sqlite", 10)
    contenders: dict[str, Callable[[int], float]] = {
        "plain": lambda i: per_step_plain(steps),
        "memory": lambda i: per_step_client("memory", steps),
        "sqlite": lambda i: per_step_client("sqlite", steps),
        "compat_memory": lambda i: per_step_compat(lambda _: MemoryStore(), steps),
        "compat_sqlite": lambda i: per_step_compat(SQLiteStore, steps),
    }
    if has_rlam:
        contenders["rlam"] = lambda i: per_step_rlam(steps) or 0.0
    runs = interleaved(contenders, repeats)
    plain, memory, sqlite = (runs.median(n) for n in ("plain", "memory", "sqlite"))
    compat_memory, compat_sqlite = runs.median("compat_memory"), runs.median("compat_sqlite")
    rlam = runs.median("rlam") if has_rlam else None
    # overhead = a round's chain minus the same round's plain calls, median over rounds
    overhead = statistics.median(
        a - b for a, b in zip(runs.samples["sqlite"], runs.samples["plain"], strict=True)
    )

    print(
        f"recording overhead per step: chain of {steps} trivial steps, "
        f"{repeats} interleaved rounds (medians)"
    )
    print(f"{'':28} {'us/step':>10} {'overhead us':>12} {'steps/s':>10} {'vs rlam':>9}")

    def row(label: str, per_step: float | None, durable: str) -> None:
        if per_step is None:
            print(f"{label:28} {'(not installed: pip install rlam==0.1.0)':>44}")
            return
        ratio = f"{per_step / rlam:.2f}x" if rlam else "-"
        print(
            f"{label:28} {per_step * 1e6:10.2f} {(per_step - plain) * 1e6:12.2f} "
            f"{1 / per_step:10.0f} {ratio:>9}  {durable}"
        )

    row("plain function call", plain, "")
    row("rlam 0.1.0 (in memory)", rlam, "not durable")
    row("reprolam memory store", memory, "not durable")
    row("reprolam SQLite store", sqlite, "durable: each step journaled before the next")
    row("rlam API on reprolam, memory", compat_memory, "not durable")
    row("rlam API on reprolam, SQLite", compat_sqlite, "durable: each add_result journaled")
    rlam_text = f"; `rlam` 0.1.0 in memory {us(rlam)} (not durable)" if rlam else ""
    figure(
        f"recording overhead per step, SQLite default durability, {steps:,}-step chain",
        f"{us(overhead)} ({1 / sqlite:,.0f} durable steps/s)",
        target="≤ 25 µs",
        baseline=f"plain call {us(plain)}; memory store {us(memory - plain)}{rlam_text}",
        met=overhead <= 25e-6,
        reproduce="python benchmarks/bench_record.py",
        issue21=True,
    )
    return {
        "plain": plain,
        "rlam": rlam,
        "memory": memory,
        "sqlite": sqlite,
        "sqlite_overhead": overhead,
        "compat_memory": compat_memory,
        "compat_sqlite": compat_sqlite,
    }


if __name__ == "__main__":
    main()
