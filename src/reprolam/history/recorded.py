"""A planner that proposes what a recorded trace decided, step by step, without any LLM call."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reprolam.planning.base import (
    READY_HORIZON,
    Decision,
    Done,
    NoProposal,
    Planner,
    Proposal,
    RunState,
)
from reprolam.trace.records import StepKind, StepRecord
from reprolam.trace.step_history import StepHistory


class RecordedDecisions:
    """Re-proposes recorded steps in order: same action, params, input bindings, seed.

    Rejected proposals and failed planner consultations are replayed too, so a reproduction
    has the same shape as the original. When a recorded decision is no longer valid (its
    proposal is now rejected while it once ran) or the record is exhausted, ``then`` takes
    over if given (a fork continuing with a live planner); otherwise the run stops there.
    """

    name = "recorded"
    instant = True

    def __init__(
        self, steps: Sequence[StepRecord], *, source_run: str, then: Planner | None = None
    ) -> None:
        self.steps = steps if isinstance(steps, StepHistory) else list(steps)
        self.source_run = source_run
        self.then = then
        self.position = 0
        self.handed_over: str | None = None  # why ``then`` took over, once it has

    def propose(self, state: RunState) -> Decision:
        if self.handed_over is None:
            broken = self._broken(state)
            if broken is None and self.position < len(self.steps):
                step = self.steps[self.position]
                self.position += 1
                return self._replay(step)
            self.handed_over = broken or "all recorded decisions replayed"
            if self.then is None:
                return Done(self.handed_over if broken else "")
        assert self.then is not None
        return self.then.propose(state)

    def propose_ready(self, state: RunState) -> list[Proposal]:
        """The recorded proposals still to come, up to the first that is not an action."""
        if self.handed_over is not None or self._broken(state) is not None:
            return []
        ready: list[Proposal] = []
        for step in self.steps[self.position : self.position + READY_HORIZON]:
            decision = self._replay(step)
            if not isinstance(decision, Proposal) or decision.invalid_reason is not None:
                break
            ready.append(decision)
        return ready

    def _broken(self, state: RunState) -> str | None:
        """Why the last replayed decision did not hold (it once ran, now it was rejected)."""
        if self.position == 0 or state.last_step is None:
            return None
        recorded = self.steps[self.position - 1]
        now = state.last_step
        if recorded.kind is StepKind.ACTION and now.kind is StepKind.REJECTION:
            reason = now.error.message if now.error else "rejected"
            return f"recorded decision for step {recorded.index} is no longer valid: {reason}"
        return None

    def _replay(self, step: StepRecord) -> Decision:
        origin = {"replayed_from": [step.run_id, step.index]}
        if step.kind is StepKind.DECISION:
            error = step.error
            return NoProposal(
                reason=error.message if error else "recorded planner failure",
                error_type=error.type if error else "PlannerError",
                decision=origin,
            )
        malformed = step.kind is StepKind.REJECTION and step.proposal.get("check") == "well_formed"
        return Proposal(
            step.action,
            params=dict(step.params),
            inputs=dict(step.proposal.get("inputs", {})),
            rationale=f"recorded step {step.index} of {step.run_id}",
            recovers=step.recovers,
            decision=origin,
            seed=step.seed,
            invalid_reason=(step.error.message if step.error else "malformed")
            if malformed
            else None,
        )

    @classmethod
    def from_config(cls, config: Mapping[str, Any], **context: Any) -> Planner:
        """A run that replayed decisions continues like the live planner it handed over to."""
        from reprolam.planning.registry import planner_from_config

        then = config.get("then")
        return planner_from_config(then if isinstance(then, Mapping) else {}, **context)

    def config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "from": self.source_run,
            "steps": len(self.steps),
            "then": self.then.config() if self.then is not None else None,
        }
