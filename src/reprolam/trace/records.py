"""The records a trace store keeps: runs, steps and artifacts. Plain frozen data, no behaviour."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple

from reprolam.brief import run_words
from reprolam.hashing import canonical_json, canonical_json_bytes, digest


class RunStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


# Runs whose record changes no more (an interrupted one may be resumed): their metrics are indexed.
FINISHED = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED})


class StepKind(StrEnum):
    ACTION = "action"  # an executed (or executing) action
    REJECTION = "rejection"  # a proposal the policy refused; never executed
    DECISION = "decision"  # a planner consultation that produced no proposal (e.g. LLM call failed)


class StepStatus(StrEnum):
    STARTED = "started"  # recorded before execution; still so after a crash
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REJECTED = "rejected"


def storable_text(text: str) -> str:
    """``text`` as a store can hold it: valid Unicode. A lone surrogate (a file name that is
    not UTF-8, decoded with ``surrogateescape``; a ``\\ud800`` escape in a model's JSON) is
    written as its escape (``\\udce9``); any other text is returned as it is."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def storable_name(name: str) -> str:
    """A name from outside (an action a planner proposed) as every store's text column can
    hold it: ``storable_text``, and a NUL, which PostgreSQL text cannot hold, as its escape."""
    return storable_text(name).replace("\x00", "\\x00")


def storable(value: Any) -> Any:
    """``storable_text`` of every string in a JSON value (keys included)."""
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, dict):
        return {storable(k): storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [storable(v) for v in value]
    return value


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

    def __repr__(self) -> str:
        return f"<RunRecord {run_words(self)}>"

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
    # The store row the engine rendered this record to (``trace._rows.render_step``): the
    # store writes the very JSON text that was hashed. Not part of the record's content.
    rendered: tuple[Any, ...] | None = field(default=None, init=False, repr=False, compare=False)

    def __repr__(self) -> str:
        return f"<StepRecord {self.run_id} step {self.index} {self.action} {self.status.value}>"

    def to_dict(self) -> dict[str, Any]:
        fields = asdict(self)
        del fields["rendered"]
        return _without_damage(fields)

    @property
    def finished(self) -> bool:
        return self.status is not StepStatus.STARTED

    @property
    def reused(self) -> bool:
        """Its outputs were taken from a recorded step (a cache hit), not computed."""
        cache = self.proposal.get("cache")
        return isinstance(cache, dict) and cache.get("reused") is True


def _without_damage(fields: dict[str, Any]) -> dict[str, Any]:
    if fields.get("damaged") is None:
        fields.pop("damaged", None)
    return fields


@dataclass(frozen=True, slots=True)
class ArtifactRecord:
    digest: str  # BLAKE3 of the canonical bytes
    codec: str  # codec tag: json, npy, frame, model, pickle, ...
    size: int


class StepTexts(NamedTuple):
    """The canonical JSON of a step's structured fields, each serialized once per step:
    the step hash is composed from them and the store row holds them."""

    params: str
    inputs: str
    outputs: str
    error: str | None
    proposal: str


def json_field(value: Any) -> str:
    """A dict field's canonical JSON (the common empty dict without calling the encoder)."""
    return "{}" if value == _EMPTY else canonical_json(value)


_EMPTY: dict[str, Any] = {}


def error_text(error: ErrorInfo) -> str:
    fields = {"type": error.type, "message": error.message, "traceback": error.traceback}
    return canonical_json(fields)


def step_texts(step: StepRecord) -> StepTexts:
    error = step.error
    return StepTexts(
        json_field(step.params),
        json_field(step.inputs),
        json_field(step.outputs),
        None if error is None else error_text(error),
        json_field(step.proposal),
    )


def step_hash(step: StepRecord, texts: StepTexts | None = None) -> str:
    """Hash of a finished step's content, chained to the previous step's hash.

    Every field that states what happened is covered, so editing any of them in the store
    breaks the chain (tamper evidence). The hashed bytes are the canonical JSON of the list
    ``[prev_hash, run_id, index, kind, action, status, action_version, fingerprint, params,
    inputs, outputs, seed, started_at, duration, error, proposal, recovers]``, composed from
    the fields' texts (a JSON list is its items' texts joined by commas).
    """
    t = step_texts(step) if texts is None else texts
    head = canonical_json(
        [
            step.prev_hash,
            step.run_id,
            step.index,
            step.kind.value,
            step.action,
            step.status.value,
            step.action_version,
            step.fingerprint,
        ]
    )
    middle = canonical_json([step.seed, step.started_at, step.duration])
    recovers = "null" if step.recovers is None else canonical_json(step.recovers)
    text = (
        f"{head[:-1]},{t.params},{t.inputs},{t.outputs},{middle[1:-1]},"
        f"{'null' if t.error is None else t.error},{t.proposal},{recovers}]"
    )
    return digest(text.encode("utf-8", "surrogatepass"))


def hash_holds(step: StepRecord) -> bool:
    """Whether a step's recorded hash is still its content's (a started step has none; a
    damaged record, whose fields cannot be hashed, does not hold)."""
    if step.hash is None:
        return True
    try:
        return step_hash(step) == step.hash
    except (TypeError, ValueError):
        return False


def seal(step: StepRecord, texts: StepTexts | None = None) -> StepRecord:
    """Set a finished step's chained hash, in place.

    Only for a record its builder has not shared yet (the engine's own, freshly built):
    frozen to everyone else, sealed without a copy because this is the hot path.
    """
    object.__setattr__(step, "hash", step_hash(step, texts))
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


SEAL_VERSION = 2  # the seal definition new runs follow (``trace.anchor`` describes both)
_SEAL_PREFIX = "v2:"  # a version-2 seal's text; a version-1 seal is a bare hex digest


def run_seal_hash(
    run: RunRecord, steps: Sequence[StepRecord], artifacts: str, *, version: int = 1
) -> str:
    """Hash anchoring a finished run: its header, how it ended, and the head of its chain.

    Covers the step count and the last step's hash (deleting trailing steps is evident),
    the end fields (status, outputs, error, ...) and ``artifacts``, the hash of the
    metadata (digest, codec, size) of the artifacts the trace refers to (codec and size are
    not part of a digest), as seal ``version`` defines it (see ``trace.anchor``).
    """
    last = steps[-1].hash if steps else ""
    return seal_over(run, len(steps), last, artifacts, version=version)


def seal_over(
    run: RunRecord, count: int, last_hash: str | None, artifacts: str, *, version: int
) -> str:
    """``run_seal_hash`` of a trace of ``count`` steps whose last hash is ``last_hash``: the
    seal as stored, which names its version (a bare digest is version 1, ``v2:...`` 2)."""
    if version not in (1, 2):
        raise ValueError(f"no seal version {version}: known versions are 1 and 2")
    content = [
        f"reprolam-run-seal-{version}",
        run.header_hash,
        run.status.value,
        run.finished_at,
        run.outputs,
        run.error,
        run.host,
        run.pid,
        run.verdict,
        count,
        last_hash,
        artifacts,
    ]
    hashed = digest(canonical_json_bytes(content))
    return hashed if version == 1 else _SEAL_PREFIX + hashed


def seal_version(seal: str) -> int | None:
    """The definition a stored seal follows: 1 or 2; None for a text no version writes."""
    if seal.startswith(_SEAL_PREFIX):
        return 2 if _is_hex_digest(seal[len(_SEAL_PREFIX) :]) else None
    return 1 if _is_hex_digest(seal) else None


def _is_hex_digest(text: str) -> bool:
    return len(text) == 64 and all(c in "0123456789abcdef" for c in text)
