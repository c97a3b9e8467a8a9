"""The records a trace store keeps: runs, steps and artifacts. Plain frozen data, no behaviour."""

from __future__ import annotations

from collections.abc import Sequence
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
    # Tamper evidence (see ``run_header_hash`` and ``run_seal_hash``); None in runs recorded
    # before the header was hashed (schema 2), and ``seal`` while the run is unfinished.
    header_hash: str | None = None
    seal: str | None = None
    verdict: str | None = None  # reproduction: identical | within-tolerance | diverged
    damaged: str | None = None  # set on read only: why the stored row could not be decoded

    def to_dict(self) -> dict[str, Any]:
        return _without_damage(asdict(self))


class Verdict(StrEnum):
    """What a reproduction found, recorded on the reproducing run."""

    IDENTICAL = "identical"
    WITHIN_TOLERANCE = "within-tolerance"
    DIVERGED = "diverged"


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
    damaged: str | None = None  # set on read only: why the stored row could not be decoded

    def to_dict(self) -> dict[str, Any]:
        return _without_damage(asdict(self))

    @property
    def finished(self) -> bool:
        return self.status is not StepStatus.STARTED


def _without_damage(fields: dict[str, Any]) -> dict[str, Any]:
    if fields.get("damaged") is None:
        fields.pop("damaged", None)
    return fields


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


def run_header_hash(run: RunRecord, inherited_head: str = "") -> str:
    """Hash of everything that determines or describes what a run executes.

    It is the genesis of the run's own hash chain (the ``prev_hash`` of its first own step),
    so editing any of these fields in the store breaks the chain. ``inherited_head`` is the
    hash of a fork's last inherited step: a fork's chain continues its parent's.
    """
    content = [
        "reprolam-run-header-1",
        run.id,
        run.workflow,
        run.seed,
        run.created_at,
        run.planner,
        run.policy,
        run.environment,
        run.parent_id,
        run.fork_index,
        run.verifies,
        run.overrides,
        inherited_head,
    ]
    return digest(canonical_json_bytes(content))


def run_seal_hash(run: RunRecord, steps: Sequence[StepRecord], artifacts: str) -> str:
    """Hash anchoring a finished run: its header, how it ended, and the head of its chain.

    Covers the step count and the last step's hash (deleting trailing steps is evident),
    the end fields (status, outputs, error, ...) and ``artifacts``, the hash of the
    metadata (digest, codec, size) of every artifact the trace refers to (codec and size are
    not part of a digest; see ``trace.anchor``).
    """
    content = [
        "reprolam-run-seal-1",
        run.header_hash,
        run.status.value,
        run.finished_at,
        run.outputs,
        run.error,
        run.host,
        run.pid,
        run.verdict,
        len(steps),
        steps[-1].hash if steps else "",
        artifacts,
    ]
    return digest(canonical_json_bytes(content))
