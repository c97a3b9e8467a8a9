"""What planners see (``RunState``) and what they return (``Proposal`` or ``Done``).

Planners never execute anything: they read the run state and propose. The engine checks
every proposal against the policy, runs it, and records it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from reprolam._frozen import fast_init
from reprolam.trace.records import StepKind, StepRecord, StepStatus
from reprolam.trace.step_history import StepHistory

if TYPE_CHECKING:
    from reprolam.workflows.registry import Workflow


@fast_init  # built once per step by every planner
@dataclass(frozen=True, slots=True)
class Proposal:
    """The next action a planner wants: params, input bindings and why."""

    action: str
    params: Mapping[str, Any] = field(default_factory=dict)
    inputs: Mapping[str, str] = field(default_factory=dict)  # input -> artifact name or digest
    rationale: str = ""
    recovers: int | None = None  # index of the failed step this proposal recovers from
    decision: Mapping[str, Any] = field(default_factory=dict)  # planner-specific record
    seed: int | None = None  # a recorded seed to use again (reproduction); None: derived
    # Set when the planner's raw output could not be turned into a proposal (a reply with no
    # tool call, arguments that are not JSON): the policy rejects it with this reason first,
    # so malformed output is recorded as a rejection and fed back like any other.
    invalid_reason: str | None = None


@dataclass(frozen=True, slots=True)
class Done:
    """The planner considers the run finished (or gives up, with a reason)."""

    reason: str = ""


@dataclass(frozen=True, slots=True)
class NoProposal:
    """The planner was consulted but has nothing to propose this time (e.g. its LLM call failed).

    Recorded as a failed ``decision`` step with the reason, which is fed back next turn.
    """

    reason: str
    error_type: str = "PlannerError"
    decision: Mapping[str, Any] = field(default_factory=dict)


Decision = Proposal | Done | NoProposal


@dataclass(frozen=True, slots=True)
class ArtifactRef:
    """An artifact available to the run, by the output name that produced it."""

    name: str
    digest: str
    codec: str
    step: int  # index of the producing step


@dataclass(slots=True)
class RunState:
    """The planner-facing view of a run in progress."""

    workflow: Workflow
    run_id: str
    seed: int
    # The whole trace. A fork or a resumed run starts from recorded steps that are read from
    # the store only when a planner looks at them (a ``StepHistory``).
    steps: list[StepRecord] | StepHistory = field(default_factory=list)
    artifacts: dict[str, ArtifactRef] = field(default_factory=dict)  # latest artifact per name
    feedback: str | None = None  # why the last proposal failed or was rejected, for the planner
    # artifact digest -> one-line ``codecs.describe`` summary; filled only for planners that
    # are not ``instant`` (LLMs read them; describing costs time on the hot path)
    summaries: dict[str, str] = field(default_factory=dict)
    # step index -> the action's own ``summary`` of its outputs (same condition as above)
    step_summaries: dict[int, str] = field(default_factory=dict)
    action_count: int = 0  # executed (or attempted) actions, rejections excluded
    failure_count: int = 0  # failed actions
    consecutive_rejections: int = 0  # rejections and failed planner consultations in a row

    def add(self, step: StepRecord) -> None:
        """Append a finished step, keeping the counters budgets read (O(1) per step)."""
        self.steps.append(step)
        if step.status is StepStatus.FAILED and step.kind is StepKind.ACTION:
            self.failure_count += 1
        if step.kind is not StepKind.ACTION:  # a rejection or a failed planner consultation
            self.consecutive_rejections += 1
        else:
            self.action_count += 1
            self.consecutive_rejections = 0

    @property
    def last_step(self) -> StepRecord | None:
        return self.steps[-1] if self.steps else None

    def has(self, *names: str) -> bool:
        return all(n in self.artifacts for n in names)


@runtime_checkable
class Planner(Protocol):
    """Chooses the next action from the run state.

    ``instant`` planners decide in microseconds without I/O; for them the engine commits a
    step's completion together with the next step's start (one transaction per step).
    Slow planners (LLMs) get every completion committed before they are consulted.
    """

    name: str
    instant: bool

    def propose(self, state: RunState) -> Decision: ...

    def config(self) -> dict[str, Any]:
        """Settings recorded with the run (never secrets)."""
        ...


@runtime_checkable
class ReadyPlanner(Planner, Protocol):
    """A planner that can name several upcoming proposals at once (optional hook).

    ``propose_ready(state)`` returns the proposals it would make from now on, in order, if
    each one succeeded. The engine calls it right after ``propose`` returned the proposal
    about to run: a stateless planner's list starts with that proposal again, a planner that
    already handed it out (recorded decisions) starts after it. It must not change the
    planner's state. The engine may start the independent ones at once on a concurrent
    executor (``engine.concurrent``); it still consults ``propose`` before every step and
    records steps in that order, so the list is a forecast, never a commitment.
    """

    def propose_ready(self, state: RunState) -> list[Proposal]: ...


READY_HORIZON = 16  # proposals a planner forecasts at most (it is asked before every step)
