"""Verify a recorded trace without executing anything: hash chain, step hashes, artifact bytes.

Shared by replay, reproduce (which refuses to re-execute a damaged original) and audit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from reprolam.errors import IntegrityError, NotFoundError
from reprolam.hashing import short
from reprolam.trace.contract import TraceStore
from reprolam.trace.records import RunRecord, StepKind, StepRecord, StepStatus, step_hash


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a recorded run, precise enough to act on."""

    kind: str  # missing_step | unfinished | chain | tampered | artifact | outputs | environment
    message: str
    step: int | None = None
    artifact: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


ArtifactCheck = Callable[[str, bytes, str], None]  # (digest, bytes, codec) -> raises if unusable


def verify_trace(
    store: TraceStore,
    run: RunRecord,
    steps: Sequence[StepRecord],
    *,
    on_artifact: ArtifactCheck | None = None,
) -> list[Problem]:
    """Every problem with the run's recorded trace, in step order.

    Each artifact is read and re-hashed once (``store.get_artifact`` verifies the bytes);
    ``on_artifact`` sees the verified bytes, e.g. to decode them.
    """
    problems: list[Problem] = []
    checked: dict[str, bool] = {}

    def check_artifact(key: str, step: int | None, role: str) -> None:
        if key not in checked:
            checked[key] = _artifact_ok(store, key, on_artifact, problems, step, role)

    prev_hash = ""
    for expected, step in enumerate(_with_gaps(steps, problems, run.id)):
        if step is None:
            prev_hash = "?"  # the chain cannot be checked across a missing step
            continue
        if step.status is StepStatus.STARTED:
            problems.append(
                Problem(
                    "unfinished",
                    f"step {expected} ({step.action}) started but never finished: the run "
                    "was interrupted while it was executing",
                    step=expected,
                )
            )
        else:
            if prev_hash not in ("?", step.prev_hash):
                problems.append(
                    Problem(
                        "chain",
                        f"step {expected} ({step.action}) does not chain to step {expected - 1}: "
                        f"prev_hash {short(step.prev_hash)} != {short(prev_hash)}",
                        step=expected,
                    )
                )
            actual = step_hash(step)
            if actual != step.hash:
                problems.append(
                    Problem(
                        "tampered",
                        f"step {expected} ({step.action}) was changed after it was recorded: "
                        f"its content hashes to {short(actual)}, recorded {short(step.hash)}",
                        step=expected,
                    )
                )
        for name, key in step.inputs.items():
            check_artifact(key, expected, f"input {name!r}")
        for name, key in step.outputs.items():
            check_artifact(key, expected, f"output {name!r}")
        prev_hash = step.hash or ""
    _check_run_outputs(run, steps, problems, check_artifact)
    if run.environment:
        check_artifact(run.environment, None, "environment snapshot")
    else:
        problems.append(Problem("environment", f"run {run.id} has no environment snapshot"))
    return problems


def _with_gaps(
    steps: Sequence[StepRecord], problems: list[Problem], run_id: str
) -> list[StepRecord | None]:
    """Steps by index, with None where an index is missing (a deleted step row)."""
    by_index: list[StepRecord | None] = []
    for step in steps:
        while len(by_index) < step.index:
            missing = len(by_index)
            problems.append(
                Problem(
                    "missing_step",
                    f"step {missing} of run {run_id} is missing from the trace "
                    f"(the next recorded step is {step.index})",
                    step=missing,
                )
            )
            by_index.append(None)
        by_index.append(step)
    return by_index


def _artifact_ok(
    store: TraceStore,
    key: str,
    on_artifact: ArtifactCheck | None,
    problems: list[Problem],
    step: int | None,
    role: str,
) -> bool:
    where = f"step {step}" if step is not None else "the run"
    try:
        record, data = store.get_artifact(key)
        if on_artifact is not None:
            on_artifact(key, data, record.codec)
    except (IntegrityError, NotFoundError) as exc:
        problems.append(Problem("artifact", f"{role} of {where}: {exc}", step=step, artifact=key))
        return False
    except Exception as exc:  # a codec could not decode verified bytes
        problems.append(
            Problem(
                "artifact",
                f"{role} of {where}: artifact {key} cannot be loaded: {type(exc).__name__}: {exc}",
                step=step,
                artifact=key,
            )
        )
        return False
    return True


def _check_run_outputs(
    run: RunRecord,
    steps: Sequence[StepRecord],
    problems: list[Problem],
    check_artifact: Callable[[str, int | None, str], None],
) -> None:
    produced: dict[str, str] = {}
    for step in steps:
        if step.kind is StepKind.ACTION and step.status is StepStatus.SUCCEEDED:
            produced.update(step.outputs)
    for name, key in run.outputs.items():
        if produced.get(name) != key:
            problems.append(
                Problem(
                    "outputs",
                    f"run output {name}={short(key)} is not the output {name!r} of any recorded "
                    f"step (last recorded: {short(produced.get(name))})",
                    artifact=key,
                )
            )
        check_artifact(key, None, f"final output {name!r}")
