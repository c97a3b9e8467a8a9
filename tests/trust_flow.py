"""Actions that leave by every exit an action has (for tests/test_trust*.py).

Module level, so the process executor's worker can import them. ``MODE`` is read from the
environment at call time, so one workflow can behave differently from run to resume.
"""

from __future__ import annotations

import os
import signal
import sys
import time

from reprolam import ActionContext, action, workflow


class Custom(BaseException):
    """A BaseException that is not Exception, SystemExit or KeyboardInterrupt."""


class BrokenStr(Exception):
    def __str__(self) -> str:
        raise RuntimeError("__str__ itself fails")


@action(outputs=["data"], determinism="seeded")
def start(*, n: int = 3, ctx: ActionContext) -> list[float]:
    return [ctx.random.random() for _ in range(n)]


@action(outputs=["total"])
def finish(data: list[float]) -> float:
    mode = os.environ.get("TRUST_MODE", "ok")
    if mode == "exit0":
        sys.exit(0)
    if mode == "exit3":
        raise SystemExit(3)
    if mode == "base":
        raise Custom("escaped the Exception hierarchy")
    if mode == "broken_str":
        raise BrokenStr()
    if mode == "huge":
        raise ValueError("x" * 5_000_000)
    if mode == "interrupt":
        raise KeyboardInterrupt
    if mode == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if mode == "sleep":
        time.sleep(float(os.environ.get("TRUST_SLEEP", "30")))
    return sum(data)


@action(outputs=["total"])
def noop(data: list[float]) -> float:
    return 0.0


flow = workflow("trust", [start, finish], outputs=["total"])
quick = workflow("trust-quick", [start, noop], outputs=["total"])


class Opaque:
    """A value only pickle stores (no canonical codec takes it)."""

    def __init__(self, total: float) -> None:
        self.total = total

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Opaque) and other.total == self.total

    __hash__ = None  # type: ignore[assignment]


@action(outputs=["opaque"])
def wrap(data: list[float]) -> Opaque:
    return Opaque(sum(data))


opaque = workflow("trust-opaque", [start, wrap], outputs=["opaque"])
