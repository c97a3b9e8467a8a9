"""Reused steps against the steps they took their outputs from (for ``audit``).

A reused step (``--reuse``, a carried step of a hand-built fork) records the outputs of
another recorded step instead of executing: its own record is hashed when it is taken, so
its run verifies whatever those outputs were. What makes them right is the source step: it
must still hold its hash, have output exactly what was taken, and have been computed from
what the reusing step records (its cache key: action, code, params, inputs, seed). A
source edited before the reuse (its outputs pointed at other bytes) would otherwise be
laundered into a run that audits clean. A source whose whole run is not in the store (a
crate of the reusing run alone) is not a finding: there is nothing to compare.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from reprolam.errors import NotFoundError, ReprolamError
from reprolam.hashing import canonical_json
from reprolam.trace.contract import TraceStore, cache_key
from reprolam.trace.records import StepRecord, hash_holds


@dataclass(frozen=True, slots=True)
class ReuseFinding:
    step: int
    run: str  # the run whose record holds the reusing step
    message: str


def reuse_findings(store: TraceStore, steps: Iterable[StepRecord]) -> list[ReuseFinding]:
    """Every reused step whose source is gone, edited, or output something else."""
    found: list[ReuseFinding] = []
    for step in steps:
        source = _source(step)
        if source is None:
            continue
        why = _why_not(store, step, *source)
        if why is not None:
            where = f"step {source[1]} of run {source[0]}"
            found.append(
                ReuseFinding(
                    step.index,
                    step.run_id,
                    f"step {step.index} ({step.action}) of run {step.run_id} reused the outputs "
                    f"of {where}, {why}: the reused outputs are not known to be what that "
                    "step produced; re-execute it (reprolam reproduce) to know",
                )
            )
    return found


def _source(step: StepRecord) -> tuple[str, int] | None:
    if step.damaged is not None:
        return None
    cache = step.proposal.get("cache")
    if not isinstance(cache, dict) or cache.get("reused") is not True:
        return None
    where = cache.get("counterpart")
    if (
        isinstance(where, list)
        and len(where) == 2
        and isinstance(where[0], str)
        and type(where[1]) is int
    ):
        return where[0], where[1]
    return ("?", -1)


def _why_not(store: TraceStore, step: StepRecord, run_id: str, index: int) -> str | None:
    if index < 0:
        return "which its record does not name"
    try:
        store.get_run(run_id)
    except NotFoundError:
        return None  # a run imported without the run it reused from: nothing to compare
    except ReprolamError:
        return "whose run record cannot be read"
    try:
        source = store.own_step(run_id, index)
    except ReprolamError:
        return "which is missing from that run's trace"
    if source.damaged is not None or not hash_holds(source) or source.hash is None:
        return "whose record was edited after it was recorded (its hash no longer holds)"
    if source.outputs != step.outputs:
        return "which output other artifacts"
    differs = _key_differences(source, step)
    if differs:
        return f"which was computed from other {', '.join(differs)}"
    return None


_KEY_FIELDS = (
    ("action", "action"),
    ("action_version", "action version"),
    ("fingerprint", "code"),
    ("params", "params"),
    ("inputs", "inputs"),
    ("seed", "seed"),
)


def _key_differences(source: StepRecord, step: StepRecord) -> list[str]:
    """What of the cache key (``cache_key``: action, version, code, params, inputs, seed)
    the reusing step records otherwise than its source: outputs taken across such a
    difference (True for 1 before 4c7e1fb) are not what the step's own record computes."""
    if cache_key(source) == cache_key(step):
        return []
    return [
        label
        for name, label in _KEY_FIELDS
        if canonical_json(getattr(source, name)) != canonical_json(getattr(step, name))
    ]
