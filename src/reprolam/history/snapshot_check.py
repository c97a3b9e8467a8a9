"""Audit's check of run-state snapshots: each must be what its steps add up to.

Forks and resumes start from a snapshot (``trace.snapshot``) instead of reading every step,
so a snapshot edited outside reprolam would make them start from a state the trace never
had. Snapshots are not hashed into the trace; audit recomputes each one from the steps.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from reprolam.errors import ReprolamError
from reprolam.hashing import short
from reprolam.trace.contract import TraceStore
from reprolam.trace.records import RunRecord, StepRecord, StepStatus
from reprolam.trace.snapshot import StateSnapshot


@dataclass(frozen=True, slots=True)
class SnapshotFinding:
    run: str  # whose snapshot
    kind: str  # tampered | damaged
    message: str


def snapshot_findings(
    store: TraceStore,
    regions: Sequence[tuple[RunRecord, int, float]],
    steps: Sequence[StepRecord],
    intact: float = math.inf,
) -> tuple[int, list[SnapshotFinding]]:
    """Check the snapshots of the audited run and of its fork ancestors that describe a prefix
    of this trace (``regions``: run, first index, end index), those covering at most
    ``intact`` steps (the steps that verified). Returns how many were checked."""
    wanted: dict[int, list[StateSnapshot]] = {}
    findings: list[SnapshotFinding] = []
    # A step read unfinished may have finished since (a running run): a snapshot past it
    # describes a later trace than the one read, not a different one.
    read = min((s.index for s in steps if s.status is StepStatus.STARTED), default=math.inf)
    intact = min(intact, read)
    for run, _start, end in regions:
        try:
            kept = store.snapshots(run.id)
        except ReprolamError as exc:
            findings.append(
                SnapshotFinding(run.id, "damaged", f"a run-state snapshot of run {run.id}: {exc}")
            )
            continue
        for snapshot in kept:
            if snapshot.damaged is not None:
                message = (
                    f"the run-state snapshot of run {run.id} after {snapshot.steps} steps is "
                    f"damaged ({snapshot.damaged}): it was edited outside reprolam (forks and "
                    "resumes read the steps instead)"
                )
                findings.append(SnapshotFinding(run.id, "damaged", message))
            elif snapshot.steps <= min(end, intact):
                wanted.setdefault(snapshot.steps, []).append(snapshot)
    if not wanted:
        return 0, findings
    codecs = _codecs(store, wanted)
    state = StateSnapshot("", 0)
    ordered = sorted(steps, key=lambda s: s.index)
    position = 0
    for count in sorted(wanted):
        while position < len(ordered) and ordered[position].index < count:
            state.advance([ordered[position]])
            position += 1
        for snapshot in wanted[count]:
            problem = _difference(state, snapshot, codecs)
            if problem:
                findings.append(
                    SnapshotFinding(
                        snapshot.run_id,
                        "tampered",
                        f"the run-state snapshot of run {snapshot.run_id} after {count} steps "
                        f"does not match its steps ({problem}): it was edited outside reprolam; "
                        "forks and resumes from it would start from a state the trace never had",
                    )
                )
    return sum(len(v) for v in wanted.values()), findings


def _codecs(store: TraceStore, wanted: dict[int, list[StateSnapshot]]) -> dict[str, str]:
    digests = sorted(
        {ref[0] for kept in wanted.values() for s in kept for ref in s.artifacts.values()}
    )
    try:
        return {key: record.codec for key, record in store.artifact_records(digests).items()}
    except ReprolamError:
        return {}


def _difference(state: StateSnapshot, snapshot: StateSnapshot, codecs: dict[str, str]) -> str:
    """What differs between the recomputed state and the stored snapshot ("" if nothing)."""
    if state.steps != snapshot.steps:
        return f"the trace has {state.steps} steps there"
    if state.head != snapshot.head:
        return (
            f"step {state.steps - 1} hashes to {short(state.head)}, it says {short(snapshot.head)}"
        )
    recorded = {name: (key, index) for name, (key, _codec, index) in snapshot.artifacts.items()}
    computed = {name: (key, index) for name, (key, _codec, index) in state.artifacts.items()}
    if recorded != computed:
        names = sorted(
            n for n in recorded.keys() | computed.keys() if recorded.get(n) != computed.get(n)
        )
        return f"artifact names {', '.join(names)} point elsewhere"
    for name, (key, codec, _index) in snapshot.artifacts.items():
        if key in codecs and codecs[key] != codec:
            return f"artifact {name!r} has codec {codecs[key]}, it says {codec}"
    if state.occurrences != snapshot.occurrences:
        return "the action counts differ"
    counts = (state.action_count, state.failure_count, state.consecutive_rejections)
    if counts != (snapshot.action_count, snapshot.failure_count, snapshot.consecutive_rejections):
        return "the step counters differ"
    return ""
