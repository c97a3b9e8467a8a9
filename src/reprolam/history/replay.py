"""Replay: rebuild a run's outputs from the store, verifying everything, executing nothing.

Replay never imports the workflow, never calls an action, a planner or an LLM: it reads
recorded steps and content-addressed bytes, checks every hash, and decodes the values;
the contents of the files and directories steps wrote are re-hashed too (the bytes ``get``
writes out), a page of steps at a time.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

from reprolam.brief import problems_words
from reprolam.codecs import Serializer, default_serializer, describe
from reprolam.codecs._files import MANIFEST_CODECS
from reprolam.errors import IntegrityError, NotFoundError, OptionStyle, python_style
from reprolam.history.kept_records import FileContents
from reprolam.history.stored_steps import TraceStep, stream_pages
from reprolam.history.verify import Problem, verify_trace
from reprolam.trace.contract import TraceStore
from reprolam.trace.records import RunRecord, RunStatus, StepKind, StepRecord, StepStatus

_ACTION, _STARTED = StepKind.ACTION, StepStatus.STARTED


@dataclass(frozen=True, slots=True)
class ReplayResult:
    run: RunRecord
    steps_replayed: int
    outputs: dict[str, Any]  # final outputs, or the chosen step's outputs
    digests: dict[str, str]
    problems: list[Problem] = field(default_factory=list)
    step: int | None = None
    seconds: float = 0.0
    chosen: StepRecord | None = None  # the record of step ``step``, when one was asked for

    def __repr__(self) -> str:
        what = f"step {self.step} of " if self.step is not None else ""
        verdict = "verified" if self.verified else problems_words(self.problems)
        return (
            f"<ReplayResult {what}{self.run.id} {self.run.workflow}: "
            f"{self.steps_replayed} steps replayed, {verdict}>"
        )

    @property
    def verified(self) -> bool:
        return not self.problems

    @property
    def first_problem(self) -> Problem | None:
        return self.problems[0] if self.problems else None

    def to_dict(self, style: OptionStyle = python_style) -> dict[str, Any]:
        """``style`` names options in problems' messages (the CLI's: its flags)."""
        first = self.first_problem
        return {
            "run": self.run.id,
            "step": self.step,
            "steps_replayed": self.steps_replayed,
            "verified": self.verified,
            "first_problem": first.to_dict(style) if first else None,
            "problems": [p.to_dict(style) for p in self.problems],
            "outputs": {
                name: {"digest": self.digests[name], "summary": describe(value)}
                for name, value in self.outputs.items()
            },
            "seconds": self.seconds,
            # what the run (or the step) ended as: a failed one has no outputs to rebuild
            "status": (self.chosen or self.run).status.value,
            "error": self.error,
        }

    @property
    def error(self) -> str | None:
        """Why the replayed step (or run) failed or was rejected, as recorded; else None."""
        if self.chosen is None:
            return self.run.error if self.run.status is not RunStatus.SUCCEEDED else None
        failure = self.chosen.error
        return None if failure is None else f"{failure.type}: {failure.message}"


def replay(
    store: TraceStore,
    run_ref: str,
    *,
    step: int | None = None,
    serializer: Serializer | None = None,
) -> ReplayResult:
    """Rebuild ``run_ref``'s final outputs (or step ``step``'s) from the store alone."""
    started = time.perf_counter()
    serializer = serializer or default_serializer()
    run = store.get_run(store.resolve_run_id(run_ref))
    chosen = None
    if step is None:
        wanted = dict(run.outputs)
    else:
        try:
            chosen = store.step_at(run.id, step)
        except NotFoundError:
            length = len(store.steps(run.id))
            raise NotFoundError(
                f"run {run.id} has no step {step}: its steps are 0..{length - 1} "
                "(see `reprolam show`)"
            ) from None
        wanted = dict(chosen.outputs)
    values: dict[str, Any] = {}
    wanted_keys = set(wanted.values())
    files = FileContents()

    def decode(key: str, data: bytes, codec: str) -> None:
        value = serializer.loads_typed(codec, data)  # proves every artifact still decodes
        if key in wanted_keys:
            values[key] = value
        if codec in MANIFEST_CODECS:
            files.note_manifest(key, value)

    replayed = 0

    def counted(pages: Iterable[list[TraceStep]]) -> Iterator[list[TraceStep]]:
        nonlocal replayed
        for steps in pages:
            replayed += len([s for s in steps if s.kind is _ACTION and s.status is not _STARTED])
            yield steps

    # Streamed from the stored rows, verified as stored: memory stays bounded by a page of
    # steps whatever the run's length.
    stream = chain.from_iterable(counted(stream_pages(store, run.id)))
    try:
        problems = verify_trace(
            store, run, stream, on_artifact=decode, on_page=lambda page: files.check(store, page)
        )
    except IntegrityError as exc:  # a fork ancestor's record is gone: its steps are unreadable
        problems = [Problem("damaged", f"the trace of run {run.id} cannot be read: {exc}")]
    outputs = {name: values[key] for name, key in wanted.items() if key in values}
    return ReplayResult(
        run=run,
        steps_replayed=replayed,
        outputs=outputs,
        digests={name: key for name, key in wanted.items() if key in values},
        problems=problems,
        step=step,
        seconds=time.perf_counter() - started,
        chosen=chosen,
    )
