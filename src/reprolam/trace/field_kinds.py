"""The kind of value each field of a run or step holds: what reprolam writes, checked where
records come from outside it (a crate's JSON, a store row edited by hand).

A row edited outside reprolam can hold anything its column takes: text where a number was,
a blob, NULL, a time of 1e300. Reading such a value as it is made commands fail far from the
row (a comparison, a date, a format): each is checked here instead, so the record is refused
(an import) or marked damaged with the field named (a store read, ``trace._rows``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

Check = tuple[Callable[[Any], bool], str]  # the test, and what it asks for in words
LATEST = 253402300800  # 10000-01-01: a timestamp a date can be made of
NUMBERS = (int, float)


def optional(check: Check) -> Check:
    test, words = check
    return (lambda v: v is None or test(v)), f"{words} or null"


TEXT: Check = (lambda v: type(v) is str, "text")
WHOLE: Check = (lambda v: type(v) is int, "a whole number")
INDEX: Check = (lambda v: type(v) is int and v >= 0, "a whole number, 0 or more")
NUMBER: Check = (lambda v: type(v) in NUMBERS and math.isfinite(v), "a finite number")
TIME: Check = (lambda v: type(v) in NUMBERS and 0 <= v < LATEST, "a Unix time")

# The scalar fields (the dict fields are checked where their JSON is decoded).
RUN_SCALARS: dict[str, Check] = {
    **dict.fromkeys(("id", "workflow", "host"), TEXT),
    **dict.fromkeys(("environment", "parent_id", "verifies", "error", "verdict"), optional(TEXT)),
    **dict.fromkeys(("header_hash", "seal"), optional(TEXT)),
    **dict.fromkeys(("seed", "pid"), WHOLE),
    "created_at": TIME,
    "finished_at": optional(TIME),
    "fork_index": optional(INDEX),
}
STEP_SCALARS: dict[str, Check] = {
    **dict.fromkeys(("run_id", "action", "action_version", "fingerprint", "prev_hash"), TEXT),
    "hash": optional(TEXT),
    "index": INDEX,
    "started_at": TIME,
    "duration": optional(NUMBER),
    "seed": optional(WHOLE),
    "recovers": optional(INDEX),
}


class WrongKind(ValueError):
    """A field holds a value of another kind than reprolam writes there."""

    def __init__(self, name: str, value: Any, words: str) -> None:
        super().__init__(f"{name} holds {shown(value)}, not {words}")
        self.name = name


def shown(value: Any) -> str:
    """A stored value as a message shows it: its repr, cut, and its kind when the repr
    does not say it (NULL, a blob)."""
    if value is None:
        return "NULL"
    if isinstance(value, bytes | bytearray | memoryview):
        return f"a blob of {len(value)} bytes"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check(name: str, value: Any, kind: Check) -> Any:
    """``value`` if it is of ``kind``, else ``WrongKind`` naming the field."""
    test, words = kind
    if not test(value):
        raise WrongKind(name, value, words)
    return value
