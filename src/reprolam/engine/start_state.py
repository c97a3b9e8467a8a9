"""Where a fork or a resumed run starts: the state after some steps, read in constant time.

A run loop keeps a snapshot of its state (``trace.snapshot``) every ``CHECKPOINT_EVERY``
steps and at its end. A fork at ``k`` (or a resume) takes the nearest snapshot at or
before ``k`` of the run or of its fork ancestors, checks it against the trace (the step
just before it must be recorded with the hash it names), and applies the few steps after
it. Without a usable snapshot it starts from nothing and reads every step, as before.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from reprolam.errors import IntegrityError, NotFoundError, ReprolamError
from reprolam.planning.base import ArtifactRef
from reprolam.trace.contract import TraceStore
from reprolam.trace.records import RunRecord, StepRecord, StepStatus, hash_holds
from reprolam.trace.snapshot import CHECKPOINT_EVERY, StateSnapshot, with_codecs
from reprolam.trace.step_history import StepHistory

if TYPE_CHECKING:
    from reprolam.engine.loop import RunLoop

PERSIST_EVERY = 4  # snapshots kept in memory before they are written (one write per 256 steps)


@dataclass(slots=True)
class StartState:
    """The state after the first ``snapshot.steps`` steps of ``run_id``'s trace."""

    run_id: str
    snapshot: StateSnapshot
    unfinished: list[StepRecord] = field(default_factory=list)  # resume: steps still running


def state_at(
    store: TraceStore, run: RunRecord, k: int | None = None, *, skip_unfinished: bool = False
) -> StartState:
    """The state after steps ``< k`` of ``run``'s whole trace (all of them if None).

    ``skip_unfinished`` (resume): steps still ``started`` are not applied but returned.
    """
    base = _checkpoint(store, run, k)
    start = base.copy(run.id)
    after = store.steps_between(run.id, start.steps, k)
    _no_gap(run, start.steps, after)
    unfinished = [s for s in after if s.status is StepStatus.STARTED] if skip_unfinished else []
    start.advance(s for s in after if not (skip_unfinished and s.status is StepStatus.STARTED))
    missing = sorted({key for key, codec, _ in start.artifacts.values() if not codec})
    if missing:
        records = store.artifact_records(missing)
        codecs = {key: records[key].codec for key in records}
        for key in missing:
            if key not in codecs:  # as a walk over every step said it: no such artifact
                codecs[key] = store.get_artifact_record(key).codec
        with_codecs(start, codecs)
    return StartState(run.id, start, unfinished)


def _no_gap(run: RunRecord, first: int, steps: Sequence[StepRecord]) -> None:
    """The steps a start state adds up are every one from ``first`` on: with a row missing,
    the state is not the one the run had, and the next step would take a wrong index."""
    for expected, step in enumerate(steps, start=first):
        if step.index != expected:
            raise IntegrityError(
                f"step {expected} of run {run.id}'s trace is missing (the next recorded step "
                f"is {step.index}): its row was deleted or its index edited outside reprolam, "
                "so the state after it cannot be rebuilt and nothing can start from it: "
                f"restore the store from a backup (`reprolam audit {run.id}` says what else "
                "is wrong)"
            )


def trace_length(store: TraceStore, run: RunRecord, *, gapless: bool = False) -> int:
    """How many steps ``run``'s whole trace has (the last index + 1), reading few of them.

    ``gapless`` (resume, which continues from all of them): ``IntegrityError`` if a row is
    missing among the steps read (those after the latest snapshot)."""
    base = _checkpoint(store, run, None)
    after = store.steps_between(run.id, base.steps)
    if gapless:
        _no_gap(run, base.steps, after)
    return after[-1].index + 1 if after else base.steps


def _checkpoint(store: TraceStore, run: RunRecord, k: int | None) -> StateSnapshot:
    """The newest usable snapshot covering at most ``k`` steps, from the run or its ancestors."""
    current, limit = run, k
    seen = {run.id}
    while True:
        try:
            found = store.snapshot_at(current.id, at_most=limit)
        except ReprolamError:  # a damaged row: not used (audit reports it)
            found = None
        if found is not None and found.damaged is None and _holds(store, run.id, found):
            return found
        if current.parent_id is None or current.fork_index is None or current.parent_id in seen:
            return StateSnapshot(run.id, 0)  # (a cycle of parents: reading the steps says so)
        seen.add(current.parent_id)
        limit = current.fork_index if limit is None else min(limit, current.fork_index)
        try:
            current = store.get_run(current.parent_id)
        except ReprolamError:
            return StateSnapshot(run.id, 0)


def _holds(store: TraceStore, run_id: str, snapshot: StateSnapshot) -> bool:
    """Whether the trace holds what a snapshot says, as far as a few reads can tell: the
    step it ends with, with the hash it names, and for each artifact name the step it says
    produced it, intact and with that output (one read per name, whatever the run's length;
    audit recomputes the whole snapshot from the steps)."""
    if snapshot.steps == 0:
        return True
    try:
        last = store.step_at(run_id, snapshot.steps - 1)
        if last.hash is None or last.hash != snapshot.head or not hash_holds(last):
            return False
        read = {last.index: last}  # a step that produced several names is read once
        for name, (key, _, index) in snapshot.artifacts.items():
            producer = read.get(index)
            if producer is None:
                producer = read[index] = store.step_at(run_id, index)
                if not hash_holds(producer):
                    return False
            if producer.outputs.get(name) != key:
                return False
    except (NotFoundError, TypeError, ValueError):  # an index edited out of range or type
        return False
    return True


def start_loop(loop: RunLoop, start: StartState, *, steps_of: str) -> None:
    """Put ``loop`` in ``start``'s state; recorded steps stay in the store (``StepHistory``).

    ``steps_of``: the run whose trace holds them (a fork's parent, or the resumed run).
    """
    snapshot = start.snapshot
    state = loop.state
    for name, (key, codec, index) in snapshot.artifacts.items():
        state.artifacts[name] = ArtifactRef(name, key, codec, index)
    state.action_count = snapshot.action_count
    state.failure_count = snapshot.failure_count
    state.consecutive_rejections = snapshot.consecutive_rejections
    store = loop.store
    state.steps = StepHistory(lambda a, b: store.steps_between(steps_of, a, b), snapshot.steps)
    loop.occurrences = Counter(snapshot.occurrences)
    loop.prev_hash = snapshot.head
    inherited = (loop.run.fork_index or 0) if loop.run.parent_id else 0
    if loop.run.header_hash and snapshot.steps <= inherited:
        loop.prev_hash = loop.run.header_hash  # no own step yet: the genesis of its own chain
    loop.checkpoints = Checkpoints(snapshot.steps, snapshot.head)


class Checkpoints:
    """The snapshots a run loop keeps as it goes (``CHECKPOINT_EVERY`` steps apart)."""

    def __init__(self, recorded: int = 0, head: str = "") -> None:
        self.recorded = recorded  # steps the run started from (a fork's prefix, a resume's)
        self.head = head  # the hash of the last of them
        self.next = (recorded // CHECKPOINT_EVERY + 1) * CHECKPOINT_EVERY
        self.pending: list[StateSnapshot] = []

    def take(self, loop: RunLoop) -> None:
        """Keep the loop's state now (call where it is consistent: between two steps)."""
        count = len(loop.state.steps)
        self.next = (count // CHECKPOINT_EVERY + 1) * CHECKPOINT_EVERY
        state = loop.state
        self.pending.append(
            StateSnapshot(
                loop.run.id,
                count,
                loop.prev_hash if count > self.recorded else self.head,
                {n: (r.digest, r.codec, r.step) for n, r in state.artifacts.items() if r.step >= 0},
                dict(loop.occurrences),
                state.action_count,
                state.failure_count,
                state.consecutive_rejections,
            )
        )
        if len(self.pending) >= PERSIST_EVERY:
            self.persist(loop)

    def persist(self, loop: RunLoop) -> None:
        """Write the kept snapshots, after the steps they cover.

        Snapshots are derived data: failing to write them never fails the run (forks and
        resumes then read the steps instead).
        """
        if not self.pending:
            return
        pending, self.pending = self.pending, []
        try:
            loop._flush()
            loop.store.put_snapshots(pending)
        except ReprolamError:
            pass
