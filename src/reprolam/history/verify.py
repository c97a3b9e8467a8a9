"""Verify a recorded trace without executing anything: hash chain, step hashes, artifact bytes.

Shared by replay, reproduce (which refuses to re-execute a damaged original) and audit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from reprolam.errors import IntegrityError, NotFoundError, ReprolamError
from reprolam.hashing import short
from reprolam.trace.anchor import seal_of
from reprolam.trace.contract import TraceStore
from reprolam.trace.records import (
    RunRecord,
    RunStatus,
    StepKind,
    StepRecord,
    StepStatus,
    run_header_hash,
    step_hash,
)


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a recorded run, precise enough to act on."""

    # missing_step | unfinished | chain | tampered | damaged | artifact | outputs | environment
    kind: str
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

    owners = _owners(store, run, steps, problems)
    prev_hash, prev_run = "", None
    for expected, step in enumerate(_with_gaps(steps, problems, run.id)):
        if step is None:
            prev_hash = "?"  # the chain cannot be checked across a missing step
            continue
        owner = owners.get(step.run_id)
        if step.run_id != prev_run and owner is not None:
            # The first own step of a run chains to the run's header (schema 3 on); runs
            # recorded before chain to the previous step ("" for step 0).
            prev_hash = owner.header_hash or prev_hash
            if owner.header_hash is None and prev_hash not in ("?", step.prev_hash):
                problems.append(_no_header_problem(owner))
                prev_hash = step.prev_hash  # said once, not again as a broken chain
        prev_run = step.run_id
        if step.damaged is not None:
            problems.append(
                Problem(
                    "damaged",
                    f"the stored record of step {expected} of run {step.run_id} is damaged "
                    f"({step.damaged}): it was edited outside reprolam",
                    step=expected,
                )
            )
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
    problems.extend(_seal_problems(store, run, steps))
    return problems


def _owners(
    store: TraceStore, run: RunRecord, steps: Sequence[StepRecord], problems: list[Problem]
) -> dict[str, RunRecord]:
    """The runs whose records hold the trace's steps, each checked against its header hash."""
    owners = {run.id: run}
    for step in steps:
        if step.run_id not in owners:
            try:
                owners[step.run_id] = store.get_run(step.run_id)
            except ReprolamError:
                continue  # reported by the chain check (a step of an unknown run)
    by_index = {s.index: s for s in steps}
    for owner in owners.values():
        if owner.damaged is not None:
            problems.append(
                Problem(
                    "damaged",
                    f"the stored record of run {owner.id} is damaged ({owner.damaged}): it was "
                    "edited outside reprolam",
                )
            )
        if owner.header_hash is None:
            continue
        head = ""
        if owner.fork_index:
            before = by_index.get(owner.fork_index - 1)
            head = (before.hash or "") if before is not None else "?"
        if run_header_hash(owner, head) != owner.header_hash:
            problems.append(
                Problem(
                    "tampered",
                    f"the record of run {owner.id} was changed after it was created: its seed, "
                    "workflow, planner, policy, overrides, environment, fork point, creation "
                    "time or header hash no longer match each other",
                )
            )
    return owners


def _no_header_problem(run: RunRecord) -> Problem:
    return Problem(
        "tampered",
        f"run {run.id} has no header hash, but its first step chains to one: the header hash "
        "was removed from its record",
    )


def _seal_problems(store: TraceStore, run: RunRecord, steps: Sequence[StepRecord]) -> list[Problem]:
    """A finished run's seal against its record, trace head and artifact metadata."""
    if run.seal is None:
        if run.header_hash is not None and run.status in (RunStatus.SUCCEEDED, RunStatus.FAILED):
            message = f"run {run.id} is {run.status.value} but unsealed: its seal was removed"
            return [Problem("tampered", message)]
        return []
    if run.header_hash is None:
        message = f"run {run.id} is sealed but has no header hash: its header hash was removed"
        return [Problem("tampered", message)]
    if seal_of(store, run, steps) == run.seal:
        return []
    last = steps[-1].index if steps else None
    return [
        Problem(
            "tampered",
            f"run {run.id} does not match its seal: its status, end time, outputs, error, host, "
            f"verdict, the number of its steps ({len(steps)}, last {last}) or the codec or "
            "size of an artifact it refers to was changed, or trailing steps were deleted",
        )
    ]


def header_note(run: RunRecord) -> str | None:
    """Said of a run recorded before runs had header hashes (its record is covered less)."""
    if run.header_hash is not None:
        return None
    return (
        "recorded before header hashing: its run record (seed, policy, outputs, ...) is "
        "not covered by a hash; its steps and artifacts are"
    )


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
