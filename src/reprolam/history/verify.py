"""Verify a recorded trace without executing anything: hash chain, step hashes, artifact bytes.

Shared by replay, reproduce (which refuses to re-execute a damaged original) and audit.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from reprolam._collector import collector_paused
from reprolam.errors import OptionStyle, ReprolamError, python_style, render_markup
from reprolam.hashing import short
from reprolam.history.artifact_pages import ArtifactCheck, ArtifactPages, Failure
from reprolam.history.stored_steps import STREAM_PAGE, TraceStep, from_record, stream_trace
from reprolam.trace.anchor import ENVIRONMENT
from reprolam.trace.contract import TraceStore
from reprolam.trace.records import (
    RunRecord,
    RunStatus,
    StepKind,
    StepRecord,
    StepStatus,
    run_header_hash,
    run_seal_hash,
    seal_version,
)

YOUNG = 50_000  # objects allocated between collections of the young generation, at most

__all__ = [
    "ArtifactCheck",
    "PageCheck",
    "Problem",
    "header_note",
    "stream_trace",
    "verify_trace",
]


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a recorded run, precise enough to act on."""

    # missing_step | unfinished | chain | tampered | damaged | artifact | outputs | environment
    kind: str
    message: str
    step: int | None = None
    artifact: str | None = None
    run: str | None = None  # the run whose own record is at fault, when not the one verified
    # The message with its {option} markup (see reprolam.errors), when it names an option:
    # ``message`` names it as Python does, ``text(style)`` as a front end does (the CLI's flag).
    markup: str | None = field(default=None, repr=False, compare=False)

    def text(self, style: OptionStyle = python_style) -> str:
        return self.message if self.markup is None else render_markup(self.markup, style)

    def to_dict(self, style: OptionStyle = python_style) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "message": self.text(style),
            "step": self.step,
            "artifact": self.artifact,
            "run": self.run,
        }


# More problems with a page of steps (see ``verify_trace``).
PageCheck = Callable[[Sequence[StepRecord | TraceStep]], list[Problem]]


def verify_trace(
    store: TraceStore,
    run: RunRecord,
    steps: Iterable[StepRecord | TraceStep],
    *,
    on_artifact: ArtifactCheck | None = None,
    on_page: PageCheck | None = None,
) -> list[Problem]:
    """Every problem with the run's recorded trace, in step order.

    ``steps`` is read once, in index order: a list of records, or a stream
    (``stream_trace``: stored rows verified as stored, bounded memory whatever the run's
    length). The artifacts a page of steps refers to are read together and each is
    re-hashed (``store.read_artifacts``); ``on_artifact`` sees the verified bytes, e.g. to
    decode them. ``on_page`` then sees the page's steps and may find more problems with
    them (e.g. with the contents of the files they wrote), each said after its step's own.
    """
    sealed = run.seal if isinstance(run.seal, str) and run.header_hash is not None else None
    artifacts = ArtifactPages(store, on_artifact, seal_version(sealed) if sealed else None)
    # Decoded values may hold cycles, so while the collector is paused the young generation
    # is still collected, every ``YOUNG`` new objects (see ``_verify``).
    try:
        with collector_paused():
            return _verify(store, run, steps, artifacts, on_page)
    finally:
        artifacts.metadata.close()


def _verify(
    store: TraceStore,
    run: RunRecord,
    steps: Iterable[StepRecord | TraceStep],
    artifacts: ArtifactPages,
    on_page: PageCheck | None,
) -> list[Problem]:
    problems: list[Problem] = []
    owners = _Owners(store, run)
    produced: dict[str, str] = {}
    count, last = 0, None
    prev_hash, prev_run = "", None
    expected = 0
    refer = artifacts.refer_step
    stream = iter(steps)
    while page := list(islice(stream, STREAM_PAGE)):
        # Each step's own problems, then those of the artifacts it is first to refer to
        # (read once the whole page has been seen): the same order as one step at a time.
        found: list[tuple[int, list[Problem], list[str]]] = []
        for item in page:
            step = item if type(item) is TraceStep else from_record(item)  # type: ignore[arg-type]
            # One unpacking rather than a dozen attribute reads (this loop runs per step).
            run_id, index, kind, _, status, inputs, outputs, chained, hashed, damaged, content = (
                step
            )
            own: list[Problem] = []
            if expected < index:  # deleted step rows (or an index edited past them)
                own.append(_gap_problem(run.id, expected, index))
                prev_hash = "?"  # the chain cannot be checked across a missing step
                expected = index
            if run_id not in owners.runs or index in owners.wanted:
                owners.see(step)
            if run_id != prev_run:
                owner = owners.get(run_id)
                if owner is not None:
                    # The first own step of a run chains to the run's header (schema 3 on);
                    # runs recorded before chain to the previous step ("" for step 0).
                    prev_hash = owner.header_hash or prev_hash
                    if owner.header_hash is None and prev_hash not in ("?", chained):
                        own.append(_no_header_problem(owner))
                        prev_hash = chained  # said once, not again as a broken chain
                prev_run = run_id
            if (
                content is None
                or content != hashed
                or damaged is not None
                or prev_hash not in (chained, "?")
            ):
                _check_step(step, expected, prev_hash, own)
            first = refer(expected, inputs, outputs)
            if own or first:
                found.append((expected, own, first or []))
            if kind is _ACTION and status is _SUCCEEDED:
                produced.update(outputs)
            prev_hash = hashed or ""
            count, last = count + 1, step
            expected = index + 1
        failed = artifacts.check()
        more = _by_step(on_page(page)) if on_page is not None else None
        if gc.get_count()[0] > YOUNG:
            gc.collect(0)
        for index, own, first in found:
            problems += own
            if failed:
                problems += [_artifact_problem(k, failed[k]) for k in first if k in failed]
            if more:
                problems += more.pop(index, [])
        if more:  # of steps with nothing else to say
            problems += [p for _, said in sorted(more.items()) for p in said]
    _check_run_outputs(run, produced, problems, artifacts)
    problems.extend(_seal_problems(run, _Counted(count, last), artifacts))
    return owners.problems() + problems


_ACTION, _SUCCEEDED = StepKind.ACTION, StepStatus.SUCCEEDED


def _by_step(problems: list[Problem]) -> dict[int, list[Problem]] | None:
    if not problems:
        return None
    found: dict[int, list[Problem]] = {}
    for problem in problems:
        found.setdefault(-1 if problem.step is None else problem.step, []).append(problem)
    return found


def _check_step(step: TraceStep, expected: int, prev_hash: str, problems: list[Problem]) -> None:
    """A step's own record: damaged, unfinished, chained to the previous one, hash intact."""
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
        return
    if prev_hash not in ("?", step.prev_hash):
        problems.append(
            Problem(
                "chain",
                f"step {expected} ({step.action}) does not chain to step {expected - 1}: "
                f"prev_hash {short(step.prev_hash)} != {short(prev_hash)}",
                step=expected,
            )
        )
    actual = step.content_hash
    if actual != step.hash:
        problems.append(
            Problem(
                "tampered",
                f"step {expected} ({step.action}) was changed after it was recorded: "
                f"its content hashes to {short(actual)}, recorded {short(step.hash)}",
                step=expected,
            )
        )


def _gap_problem(run_id: str, first: int, end: int) -> Problem:
    """Steps ``first`` to ``end - 1`` are not in the trace: one problem, however many (an
    index edited to 2**62 makes a gap no list of problems could hold)."""
    if end - first == 1:
        what = f"step {first} of run {run_id} is missing"
    else:
        what = f"steps {first} to {end - 1} ({end - first}) of run {run_id} are missing"
    return Problem(
        "missing_step",
        f"{what} from the trace (the next recorded step is {end})",
        step=first,
    )


def _artifact_problem(key: str, failure: Failure) -> Problem:
    where = f"step {failure.step}" if failure.step is not None else "the run"
    markup = None if failure.markup is None else f"{failure.role} of {where}: {failure.markup}"
    return Problem(
        "artifact",
        f"{failure.role} of {where}: {failure.why}",
        step=failure.step,
        artifact=key,
        markup=markup,
    )


class _Owners:
    """The runs whose records hold the trace's steps, each checked against its header hash.

    A fork's header covers the hash of the step before its fork point; those few hashes are
    kept as the steps stream by.
    """

    def __init__(self, store: TraceStore, run: RunRecord) -> None:
        self.store = store
        self.runs: dict[str, RunRecord | None] = {run.id: run}  # None: not in the store
        self.heads: dict[int, str] = {}  # index -> hash, for the fork points of known runs
        self.wanted: set[int] = set()
        current: RunRecord | None = run
        seen: set[str] = set()
        while current is not None and current.id not in seen:
            seen.add(current.id)
            if current.fork_index:
                self.wanted.add(current.fork_index - 1)
            try:
                parent = current.parent_id
                current = store.get_run(parent) if parent else None
            except ReprolamError:
                current = None

    def see(self, step: TraceStep) -> None:
        if step.index in self.wanted:
            self.heads[step.index] = step.hash or ""
        if step.run_id not in self.runs:
            try:
                self.runs[step.run_id] = self.store.get_run(step.run_id)
            except ReprolamError:
                self.runs[step.run_id] = None  # reported by the chain check

    def get(self, run_id: str) -> RunRecord | None:
        return self.runs.get(run_id)

    def problems(self) -> list[Problem]:
        problems: list[Problem] = []
        for owner in self.runs.values():
            if owner is None:
                continue
            if owner.damaged is not None:
                problems.append(
                    Problem(
                        "damaged",
                        f"the stored record of run {owner.id} is damaged ({owner.damaged}): it "
                        "was edited outside reprolam",
                        run=owner.id,
                    )
                )
            if owner.header_hash is None:
                continue
            head = ""
            if owner.fork_index:
                head = self.heads.get(owner.fork_index - 1, "?")
            if run_header_hash(owner, head) != owner.header_hash:
                problems.append(
                    Problem(
                        "tampered",
                        f"the record of run {owner.id} was changed after it was created: its "
                        "seed, workflow, planner, policy, overrides, environment, fork point, "
                        "creation time or header hash no longer match each other",
                        run=owner.id,
                    )
                )
        return problems


class _Counted(Sequence[StepRecord]):
    """What a seal covers of a trace read as a stream: its length and its last step (whose
    ``index`` and ``hash`` are all ``run_seal_hash`` reads of it)."""

    def __init__(self, length: int, last: TraceStep | None) -> None:
        self.length = length
        self.last = last

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: Any) -> Any:
        if self.last is not None and index in (-1, self.length - 1):
            return self.last
        raise IndexError("only the last step of a streamed trace is kept")


def _no_header_problem(run: RunRecord) -> Problem:
    return Problem(
        "tampered",
        f"run {run.id} has no header hash, but its first step chains to one: the header hash "
        "was removed from its record",
    )


def _seal_problems(
    run: RunRecord, steps: Sequence[StepRecord], artifacts: ArtifactPages
) -> list[Problem]:
    """A finished run's seal against its record, trace head and artifact metadata."""
    if run.seal is None:
        if run.header_hash is not None and run.status in (RunStatus.SUCCEEDED, RunStatus.FAILED):
            message = f"run {run.id} is {run.status.value} but unsealed: its seal was removed"
            return [Problem("tampered", message)]
        return []
    if run.header_hash is None:
        message = f"run {run.id} is sealed but has no header hash: its header hash was removed"
        return [Problem("tampered", message)]
    version = seal_version(run.seal) if isinstance(run.seal, str) else None
    if version is None:
        message = (
            f"run {run.id} has a seal of no known form ({str(run.seal)[:16]!r}...): it was "
            "edited, or written by a newer reprolam"
        )
        return [Problem("tampered", message)]
    # The lines of every artifact the trace referred to (``trace.anchor``), as ``version``
    # lists them: in reference order (2), or each once, sorted (1).
    stream = artifacts.stream
    lines = stream.hexdigest() if stream is not None else artifacts.metadata.hexdigest()
    if run_seal_hash(run, steps, lines, version=version) == run.seal:
        return []
    last = steps[-1].index if steps else None
    return [
        Problem(
            "tampered",
            f"run {run.id} does not match its seal: its status, end time, outputs, error, host, "
            f"verdict, the number of its steps ({len(steps)}, last {last}), the codec or "
            f"size of an artifact it refers to{_REFERENCES[version]} was changed, or trailing "
            "steps were deleted",
        )
    ]


_REFERENCES = {1: "", 2: " or which artifacts its steps refer to"}  # what a seal also covers


def header_note(run: RunRecord) -> str | None:
    """Said of a run recorded before runs had header hashes (its record is covered less)."""
    if run.header_hash is not None:
        return None
    return (
        "recorded before header hashing: its run record (seed, policy, outputs, ...) is "
        "not covered by a hash; its steps and artifacts are"
    )


def _check_run_outputs(
    run: RunRecord, produced: dict[str, str], problems: list[Problem], artifacts: ArtifactPages
) -> None:
    """Every run output is the last output of that name of a succeeded action step; then the
    environment snapshot. Each is said before the problem with its artifact, if any."""
    found: list[tuple[list[Problem], list[str]]] = []
    artifacts.listed(run.outputs)
    for name, key in run.outputs.items():
        own: list[Problem] = []
        if produced.get(name) != key:
            own.append(
                Problem(
                    "outputs",
                    f"run output {name}={short(key)} is not the output {name!r} of any recorded "
                    f"step (last recorded: {short(produced.get(name))})",
                    artifact=key,
                )
            )
        found.append((own, [key] if artifacts.refer(key, None, "final output", name) else []))
    if run.environment:
        artifacts.listed({ENVIRONMENT: run.environment})
        new = artifacts.refer(run.environment, None, "environment snapshot")
        found.append(([], [run.environment] if new else []))
    else:
        found.append(([Problem("environment", f"run {run.id} has no environment snapshot")], []))
    failed = artifacts.check()
    for own, first in found:
        problems += own
        problems += [_artifact_problem(key, failed[key]) for key in first if key in failed]
