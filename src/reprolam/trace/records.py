"""The records a trace store keeps: runs, steps and artifacts. Plain frozen data, no behaviour."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from reprolam.hashing import canonical_json_bytes, digest


class RunStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


class StepKind(StrEnum):
    ACTION = "action"  # an executed (or executing) action
    REJECTION = "rejection"  # a proposal the policy refused; never executed
    DECISION = "decision"  # a planner consultation that produced no proposal (e.g. LLM call failed)


class StepStatus(StrEnum):
    STARTED = "started"  # recorded before execution; still so after a crash
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    type: str
    message: str
    traceback: str = ""


@dataclass(frozen=True, slots=True)
class RunRecord:
    id: str
    workflow: str
    seed: int
    created_at: float
    planner: dict[str, Any] = field(default_factory=dict)
    policy: dict[str, Any] = field(default_factory=dict)
    environment: str | None = None  # digest of the environment snapshot artifact (json)
    status: RunStatus = RunStatus.RUNNING
    finished_at: float | None = None
    parent_id: str | None = None  # fork: the run this one branches from
    fork_index: int | None = None  # fork: steps with index < fork_index are the parent's
    verifies: str | None = None  # reproduction: the run this one re-executes to verify
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)  # final named outputs -> digest
    error: str | None = None
    host: str = ""
    pid: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class StepRecord:
    run_id: str
    index: int
    kind: StepKind
    action: str
    status: StepStatus
    started_at: float
    action_version: str = ""
    fingerprint: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, str] = field(default_factory=dict)  # input name -> artifact digest
    outputs: dict[str, str] = field(default_factory=dict)  # output name -> artifact digest
    seed: int | None = None
    duration: float | None = None  # seconds; None while started
    error: ErrorInfo | None = None
    proposal: dict[str, Any] = field(default_factory=dict)  # planner, rationale, raw decision
    recovers: int | None = None  # index of the failed step this one recovers from
    prev_hash: str = ""
    hash: str | None = None  # None while started

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def finished(self) -> bool:
        return self.status is not StepStatus.STARTED


@dataclass(frozen=True, slots=True)
class ArtifactRecord:
    digest: str  # BLAKE3 of the canonical bytes
    codec: str  # codec tag: json, npy, frame, model, pickle, ...
    size: int


def step_hash(step: StepRecord) -> str:
    """Hash of a finished step's content, chained to the previous step's hash.

    Every field that states what happened is covered, so editing any of them in the store
    breaks the chain (tamper evidence).
    """
    error = asdict(step.error) if step.error else None
    content = [
        step.prev_hash,
        step.run_id,
        step.index,
        step.kind.value,
        step.action,
        step.status.value,
        step.action_version,
        step.fingerprint,
        step.params,
        step.inputs,
        step.outputs,
        step.seed,
        step.started_at,
        step.duration,
        error,
        step.proposal,
        step.recovers,
    ]
    return digest(canonical_json_bytes(content))


def seal(step: StepRecord) -> StepRecord:
    """Set a finished step's chained hash, in place.

    Only for a record its builder has not shared yet (the engine's own, freshly built):
    frozen to everyone else, sealed without a copy because this is the hot path.
    """
    object.__setattr__(step, "hash", step_hash(step))
    return step
