"""Fault injection for tests and the experiment harness: a fault plan ``ACTION:RATE``.

A fault plan is part of the run's policy, so it is recorded with the run and a reproduction
injects the very same faults. Whether a given execution fails is drawn from the run seed,
the action and how many times it ran before: deterministic, and independent of timing.
An injected fault stops the action before it runs and is recorded as a failed step whose
error type is ``InjectedFault``.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterable, Mapping

from reprolam.actions import ActionSpace
from reprolam.context import SEED_BITS, derive_seed
from reprolam.errors import ConfigError
from reprolam.trace.records import ErrorInfo

ANY_ACTION = "*"


class InjectedFault(Exception):
    """A failure injected by the run's fault plan, not raised by the action itself."""


def strikes(faults: Mapping[str, float], run_seed: int, action: str, occurrence: int) -> bool:
    rate = faults.get(action, faults.get(ANY_ACTION, 0.0))
    if rate <= 0:
        return False
    draw = derive_seed(run_seed, "fault", action, occurrence) / 2**SEED_BITS
    return bool(draw < rate)


def injected_error(action: str, rate: float, occurrence: int) -> ErrorInfo:
    try:
        raise InjectedFault(
            f"fault injected into {action} (execution {occurrence}, rate {rate}) by the fault plan"
        )
    except InjectedFault as exc:
        return ErrorInfo(type="InjectedFault", message=str(exc), traceback=traceback.format_exc())


def validate_faults(space: ActionSpace, faults: Mapping[str, float]) -> None:
    """A fault plan may only name actions the workflow has (or ``*``): a typo injects nothing."""
    for action, rate in faults.items():
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 1:
            raise ConfigError(
                f"{{faults}} {action}:{rate!r}: a fault rate is a number between 0 and 1",
                hint="e.g. {faults=train_model:0.3}",
            )
        if action != ANY_ACTION and action not in space:
            raise ConfigError(
                f"{{faults={action}:{rate}}}: the workflow has no action "
                f"{action!r} (its actions: {', '.join(space.names)}; or * for every action)"
            )


def parse_faults(texts: Iterable[str]) -> dict[str, float]:
    """Several ``ACTION:RATE`` texts as one plan; an action given twice is refused, since
    one of its rates would be dropped without a word."""
    plan: dict[str, float] = {}
    for text in texts:
        action, rate = parse_fault(text)
        if action in plan:
            raise ConfigError(
                f"{{faults}} names {action!r} twice ({action}:{plan[action]:g} and "
                f"{action}:{rate:g}): give one rate per action, e.g. "
                f"{{faults={action}:{rate:g}}}"
            )
        plan[action] = rate
    return plan


def parse_fault(text: str) -> tuple[str, float]:
    """``'train_model:0.3'`` -> ``('train_model', 0.3)``; ``'*:0.1'`` applies to every action."""
    action, sep, raw = text.rpartition(":")
    try:
        rate = float(raw)
    except ValueError:
        rate = -1.0
    if not sep or not action or not 0.0 <= rate <= 1.0:
        raise ConfigError(
            f"{{faults}} {text!r}: expected ACTION:RATE with RATE between 0 and 1, "
            "e.g. {faults=train_model:0.3} (or *:0.1 for every action)"
        )
    return action, rate
