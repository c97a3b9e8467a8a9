"""Run-state snapshots: what a run's first ``steps`` steps add up to, persisted beside the trace.

A fork at step ``k`` and a resume need the state the run loop had after those steps: the
artifact each name points at (digest, codec, producing step), how often each action ran
(seeds derive from it), the planner-facing counters and the head of the hash chain. The
loop keeps one snapshot every ``CHECKPOINT_EVERY`` steps and one at the run's end, so a
fork or a resume reads the nearest snapshot and at most that many steps after it, whatever
the run's length.

Snapshots are derived data, never trusted blindly: one is used only if the step just
before it is in the trace with the hash it names (``head``), and ``history.audit`` checks
each one against the steps it summarizes. A store without snapshots (a run recorded before
them, a backend that keeps none, a damaged row) falls back to reading every step.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from reprolam.hashing import canonical_json
from reprolam.trace.records import StepKind, StepRecord, StepStatus

CHECKPOINT_EVERY = 64  # steps between snapshots: what a fork or resume reads at most after one
FORMAT = 1


@dataclass(slots=True)
class StateSnapshot:
    """The run state after the steps with index < ``steps`` of the run's whole trace."""

    run_id: str
    steps: int
    head: str = ""  # hash of step ``steps - 1``; "" at 0
    artifacts: dict[str, tuple[str, str, int]] = field(default_factory=dict)  # name -> digest,
    # codec ("" until looked up), producing step
    occurrences: dict[str, int] = field(default_factory=dict)  # action -> times it ran
    action_count: int = 0
    failure_count: int = 0
    consecutive_rejections: int = 0
    damaged: str | None = None  # set on read only: why the stored row could not be decoded

    def to_json(self) -> str:
        """The ``state`` text stored for it (run id, step count and head are columns)."""
        return canonical_json(
            {
                "format": FORMAT,
                "artifacts": {n: list(ref) for n, ref in self.artifacts.items()},
                "occurrences": self.occurrences,
                "counts": [self.action_count, self.failure_count, self.consecutive_rejections],
            }
        )

    @classmethod
    def from_row(cls, run_id: str, steps: Any, head: Any, state: Any) -> StateSnapshot:
        """Decode a stored snapshot; a damaged row gives one marked ``damaged`` (never used)."""
        try:
            fields = json.loads(state)
            if fields.get("format") != FORMAT or type(steps) is not int or type(head) is not str:
                raise ValueError("not a snapshot of this format")
            artifacts = {
                str(name): (str(d), str(c), int(i))
                for name, (d, c, i) in fields["artifacts"].items()
            }
            occurrences = {str(a): int(n) for a, n in fields["occurrences"].items()}
            actions, failures, rejections = (int(n) for n in fields["counts"])
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
            why = f"{type(exc).__name__}: {exc}"[:300]
            return cls(run_id, steps if type(steps) is int else -1, str(head), damaged=why)
        return cls(run_id, steps, head, artifacts, occurrences, actions, failures, rejections)

    def copy(self, run_id: str | None = None) -> StateSnapshot:
        return StateSnapshot(
            run_id or self.run_id,
            self.steps,
            self.head,
            dict(self.artifacts),
            dict(self.occurrences),
            self.action_count,
            self.failure_count,
            self.consecutive_rejections,
        )

    def advance(self, steps: Iterable[StepRecord]) -> StateSnapshot:
        """Apply the next steps in order, exactly as the run loop did (in place; returns self).

        Names bound by these steps get codec "" (the caller looks codecs up once, at the end).
        """
        for step in steps:
            if step.kind is StepKind.ACTION:
                self.action_count += 1
                self.consecutive_rejections = 0
                self.occurrences[step.action] = self.occurrences.get(step.action, 0) + 1
                if step.status is StepStatus.FAILED:
                    self.failure_count += 1
                elif step.status is StepStatus.SUCCEEDED:
                    for name, key in step.outputs.items():
                        self.artifacts[name] = (key, "", step.index)
            else:
                self.consecutive_rejections += 1
            self.head = step.hash or ""
            self.steps = step.index + 1  # a missing step row is audit's to report
        return self


def with_codecs(snapshot: StateSnapshot, codecs: Mapping[str, str]) -> StateSnapshot:
    """Fill in the codecs left "" by ``advance`` (``codecs``: digest -> codec)."""
    for name, (key, codec, index) in snapshot.artifacts.items():
        if not codec:
            snapshot.artifacts[name] = (key, codecs.get(key, ""), index)
    return snapshot
