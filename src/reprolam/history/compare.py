"""Compare a re-execution with its record, step by step: the first divergence, precisely.

Used by ``reproduce`` and by ``audit`` (which must not import the engine to do it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from reprolam.codecs import Serializer, default_serializer
from reprolam.errors import ReprolamError
from reprolam.hashing import short
from reprolam.history.tolerance import values_close
from reprolam.trace.contract import TraceStore
from reprolam.trace.records import StepRecord


@dataclass(frozen=True, slots=True)
class Divergence:
    """The first place where the re-execution did not give what was recorded."""

    step: int
    action: str | None
    what: str  # output | status | action | missing | extra
    message: str
    output: str | None = None
    expected: str | None = None
    actual: str | None = None
    fingerprint: tuple[str, str] | None = None  # (recorded, now) when the action's code changed

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Comparison:
    """A re-execution compared with its record, step by step, up to the first divergence."""

    compared: int  # steps compared (through the divergent one, if any)
    identical: int  # steps whose outputs are bitwise identical
    within_tolerance: int = 0  # steps whose outputs are only equal within ``rtol``
    divergence: Divergence | None = None

    @property
    def bitwise(self) -> bool:
        return self.divergence is None and self.identical == self.compared


def compare_steps(
    recorded: Sequence[StepRecord],
    rerun: Sequence[StepRecord],
    *,
    rtol: float | None = None,
    store: TraceStore | None = None,
    serializer: Serializer | None = None,
) -> Comparison:
    """Compare a re-execution's steps with the recorded ones: kind, action, status, outputs.

    Stops at the first divergence. Outputs are compared by digest; with ``rtol``, differing
    outputs are decoded from ``store`` and accepted when equal within that relative tolerance
    (counted in ``within_tolerance``, never as identical). Used by ``reproduce`` and ``audit``.
    """
    if rtol is not None and store is None:
        raise ValueError(f"compare_steps(rtol={rtol}) decodes outputs: pass store= as well")
    identical = close = 0
    for index in range(max(len(recorded), len(rerun))):
        old = recorded[index] if index < len(recorded) else None
        new = rerun[index] if index < len(rerun) else None
        divergence = _step_divergence(index, old, new)
        if divergence is None and old is not None and new is not None:
            divergence, within = _outputs_divergence(old, new, rtol, serializer, store)
            if divergence is None:
                close += within
                identical += not within
                continue
        return Comparison(index + 1, identical, close, divergence)
    return Comparison(len(recorded), identical, close, None)


def _step_divergence(
    index: int, old: StepRecord | None, new: StepRecord | None
) -> Divergence | None:
    if old is None:
        assert new is not None
        return Divergence(
            index, new.action, "extra", f"the re-execution ran an extra step ({new.action})"
        )
    if new is None:
        return Divergence(
            index,
            old.action,
            "missing",
            f"the re-execution stopped before step {index} ({old.action})",
        )
    fingerprint, code = _code_change(old, new)
    if (old.kind, old.action) != (new.kind, new.action):
        return Divergence(
            index,
            old.action,
            "action",
            f"recorded {old.kind.value} {old.action!r}, re-execution gave "
            f"{new.kind.value} {new.action!r}" + (f" ({new.error.message})" if new.error else ""),
            fingerprint=fingerprint,
        )
    if old.status is not new.status:
        why = f": {new.error.type}: {new.error.message}" if new.error else ""
        return Divergence(
            index,
            old.action,
            "status",
            f"{old.action} {old.status.value} when recorded, {new.status.value} now{why}{code}",
            fingerprint=fingerprint,
        )
    return None


def _outputs_divergence(
    old: StepRecord,
    new: StepRecord,
    rtol: float | None,
    serializer: Serializer | None,
    store: TraceStore | None,
) -> tuple[Divergence | None, bool]:
    """(divergence, equal-only-within-tolerance) for one step's outputs."""
    fingerprint, code = _code_change(old, new)
    within = False
    for name in sorted(old.outputs.keys() | new.outputs.keys()):
        expected, actual = old.outputs.get(name), new.outputs.get(name)
        if expected == actual:
            continue
        if (
            rtol is not None
            and store is not None
            and expected
            and actual
            and _close(store, serializer or default_serializer(), expected, actual, rtol)
        ):
            within = True
            continue
        renamed = _script_renamed(store, serializer, expected, actual) if store else ""
        return (
            Divergence(
                old.index,
                old.action,
                "output",
                f"{old.action} output {name!r}: expected {short(expected)}, "
                f"got {short(actual)}{code}{renamed}",
                output=name,
                expected=expected,
                actual=actual,
                fingerprint=fingerprint,
            ),
            False,
        )
    return None, within


def _code_change(old: StepRecord, new: StepRecord) -> tuple[tuple[str, str] | None, str]:
    """The action's code fingerprint change, if any, and a clause naming it."""
    if old.fingerprint == new.fingerprint:
        return None, ""
    clause = (
        f"; code fingerprint of {old.action} changed: "
        f"{short(old.fingerprint)} -> {short(new.fingerprint)}"
    )
    return (old.fingerprint, new.fingerprint), clause


_MAIN = ("__main__", "__mp_main__")


def _script_renamed(
    store: TraceStore, serializer: Serializer | None, expected: str | None, actual: str | None
) -> str:
    """A clause for two artifacts (pickles, models, trees) that name the same class or
    function of the script under two modules: ``__main__`` in a run recorded by running the
    script, the module the file is loaded as by path in a reproduction (or the other way
    round); "" for any others."""
    if not expected or not actual:
        return ""
    from reprolam.engine.named_code import NAMING_CODECS, named_in

    try:
        (record_a, data_a), (record_b, data_b) = map(store.get_artifact, (expected, actual))
    except ReprolamError:
        return ""
    codec = record_a.codec
    if codec != record_b.codec or codec not in NAMING_CODECS:
        return ""
    names_a, names_b = named_in(codec, data_a), named_in(codec, data_b)
    pairs = [
        (a, b)
        for a in names_a
        for b in names_b
        if a != b
        and a.partition(":")[2] == b.partition(":")[2]
        and (a.partition(":")[0] in _MAIN) != (b.partition(":")[0] in _MAIN)
    ]
    if not pairs:
        return ""
    then, now = pairs[0]
    qualname = then.partition(":")[2]
    same = "its bytes differ by that name at least"
    try:
        again = (serializer or default_serializer()).dumps_typed(
            (serializer or default_serializer()).loads_typed(codec, data_a)
        )
    except ReprolamError:  # a pickle, untrusted: not loaded
        again = None
    if again == (codec, data_b):
        same = "the same value, stored under the other module name"
    return (
        f"; the {codec} names the script's {qualname} as {then.replace(':', '.')} when "
        f"recorded and as {now.replace(':', '.')} now (a script run as `python SCRIPT.py` "
        f"defines its code in __main__, and a reproduction loads the file by path): {same}; "
        f"define {qualname} in a module the script imports to have it stored under one name"
    )


def _close(store: TraceStore, serializer: Serializer, a: str, b: str, rtol: float) -> bool:
    record_a, data_a = store.get_artifact(a)
    record_b, data_b = store.get_artifact(b)
    value_a = serializer.loads_typed(record_a.codec, data_a)
    value_b = serializer.loads_typed(record_b.codec, data_b)
    return values_close(value_a, value_b, rtol)
