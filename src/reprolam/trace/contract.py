"""The store contract: a few primitives every backend implements, plus what derives from them.

Backends (memory, SQLite, later PostgreSQL) only add storage; everything built on the
primitives (fork inheritance, id prefixes) lives here once. A shared conformance suite
(`tests/conformance.py`) runs against every backend.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Self

from reprolam.errors import (
    AmbiguousIdError,
    ConfigError,
    IntegrityError,
    NotFoundError,
    ReprolamError,
)
from reprolam.hashing import canonical_json
from reprolam.hashing import digest as hash_bytes
from reprolam.trace.records import ArtifactRecord, RunRecord, StepKind, StepRecord, StepStatus
from reprolam.trace.snapshot import StateSnapshot

if TYPE_CHECKING:
    from collections.abc import Mapping

    from reprolam.trace.queries import Annotation, RunPage, RunQuery

SCHEMA_VERSION = 7


@dataclass(frozen=True, slots=True)
class Producer:
    """Data lineage: the step (and its output name) that first produced an artifact."""

    run_id: str
    index: int
    name: str


StepRow = tuple[Any, ...]
"""A step as stored: its row in ``trace._rows.STEP_COLUMNS`` order (the dict fields as the
very canonical JSON texts the step hash was composed from; see ``trace.row_hash``)."""


class ArtifactRead(NamedTuple):
    """One artifact of ``TraceStore.read_artifacts``: its bytes verified, or why not.

    ``codec`` and ``size`` are what the store records of it (None if it has no such
    artifact), kept even when its bytes do not match (a seal covers the recorded codec and
    size); ``data`` is set only when the bytes match the digest and the recorded size,
    else ``error`` says why.
    """

    digest: str
    codec: str | None
    size: int | None
    data: bytes | None
    error: ReprolamError | None


def cache_key(step: StepRecord) -> tuple[object, ...]:
    """What makes two action steps compute the same outputs (see ``find_cached_steps``)."""
    return (
        step.action,
        step.action_version,
        step.fingerprint,
        canonical_json(step.params),
        canonical_json(step.inputs),
        step.seed,
    )


def is_cacheable(step: StepRecord) -> bool:
    """Whether a recorded step may serve a cache hit: an action that succeeded."""
    return step.kind is StepKind.ACTION and step.status is StepStatus.SUCCEEDED


CACHED_PAGE_MAX = 64  # candidates a page of find_cached_steps reads at most


def cached_pages(
    fetch: Callable[[tuple[str, int], int], Sequence[StepRecord]],
) -> Iterator[StepRecord]:
    """``find_cached_steps`` from ``fetch(after, limit)``, which returns at most ``limit``
    candidates after the (run id, index) ``after``, in order: a first page of one (most
    callers take the first), then pages growing to ``CACHED_PAGE_MAX``."""
    after, limit = ("", -1), 1
    while True:
        page = fetch(after, limit)
        yield from page
        if len(page) < limit:
            return
        after, limit = (page[-1].run_id, page[-1].index), min(limit * 4, CACHED_PAGE_MAX)


class TraceStore(ABC):
    """Runs, steps and content-addressed artifacts, durably.

    ``record`` is the only write after ``create_run`` and is atomic: either every step,
    artifact and run update in the call is stored, or none is. Steps are upserted by
    ``(run_id, index)`` so a started step is completed by recording it again.
    Artifact bytes are written before the records that reference them, so no committed
    step ever references a missing artifact.
    """

    location: str

    # -- primitives ---------------------------------------------------------------------------

    @abstractmethod
    def create_run(self, run: RunRecord) -> None:
        """Store a new run. Raises ``StoreError`` if the id exists."""

    @abstractmethod
    def record(
        self,
        *,
        steps: Sequence[StepRecord] = (),
        artifacts: Sequence[tuple[ArtifactRecord, bytes]] = (),
        run: RunRecord | None = None,
    ) -> None:
        """Atomically upsert steps, insert missing artifacts and replace the run record."""

    def extend_run(
        self,
        run_id: str,
        length: int,
        *,
        steps: Sequence[StepRecord],
        artifacts: Sequence[tuple[ArtifactRecord, bytes]] = (),
        run: RunRecord | None = None,
    ) -> None:
        """``record`` the next steps of a run built by hand (``ManualRun``), from step
        ``length`` on, only if the run has no step ``length`` yet: another process (or
        object) that extended the run since the caller read it would have its steps
        replaced. Raises ``ConfigError`` (``stale_extension_error``), writing nothing.

        This default checks, then records: enough for a store one process uses (memory).
        """
        if self.own_step_rows(run_id, length, length + 1):
            raise stale_extension_error(run_id, length)
        self.record(steps=steps, artifacts=artifacts, run=run)

    @abstractmethod
    def get_run(self, run_id: str) -> RunRecord:
        """The run with exactly this id; ``NotFoundError`` otherwise."""

    @abstractmethod
    def find_run_ids(self, prefix: str, *, limit: int = 2) -> list[str]:
        """Ids starting with ``prefix``, sorted, at most ``limit``."""

    @abstractmethod
    def list_runs(
        self, *, limit: int | None = None, verifies: str | None = None
    ) -> list[RunRecord]:
        """Runs, newest first; with ``verifies``, only the reproductions of that run."""

    @abstractmethod
    def own_steps(self, run_id: str) -> list[StepRecord]:
        """Steps recorded in this run itself (not inherited), by index."""

    def own_step(self, run_id: str, index: int) -> StepRecord:
        """One step recorded in this run itself; backends override this with a direct lookup."""
        for step in self.own_steps(run_id):
            if step.index == index:
                return step
        raise NotFoundError(f"run {run_id!r} has no step {index} of its own in {self.location}")

    @abstractmethod
    def get_artifact(self, digest: str) -> tuple[ArtifactRecord, bytes]:
        """Record and bytes, verified against the digest (``IntegrityError`` on mismatch)."""

    @abstractmethod
    def get_artifact_record(self, digest: str) -> ArtifactRecord:
        """Record only, without reading or verifying the bytes."""

    def artifact_records(self, digests: Sequence[str]) -> dict[str, ArtifactRecord]:
        """Records of those artifacts the store has (absent ones are left out), at once.

        For a run's seal at its end; SQL backends read them in a few queries.
        """
        found: dict[str, ArtifactRecord] = {}
        for key in digests:
            try:
                found[key] = self.get_artifact_record(key)
            except NotFoundError:
                continue
        return found

    def read_artifacts(self, digests: Sequence[str]) -> Iterator[ArtifactRead]:
        """Each of ``digests``, in order, read and verified as ``get_artifact`` does, but
        one that is missing, damaged or unreadable is yielded with its error, not raised.

        For verifying a whole trace: SQL backends read a page of digests per query (large
        artifacts, kept as blob files, one at a time as they are yielded).
        """
        for key in digests:
            try:
                record, data = self.get_artifact(key)
            except NotFoundError as exc:
                yield ArtifactRead(key, None, None, None, exc)
            except ReprolamError as exc:
                try:
                    found = self.get_artifact_record(key)
                except NotFoundError:
                    yield ArtifactRead(key, None, None, None, exc)
                else:
                    yield ArtifactRead(key, found.codec, found.size, None, exc)
            else:
                yield ArtifactRead(key, record.codec, record.size, data, None)

    @abstractmethod
    def has_artifact(self, digest: str) -> bool: ...

    def has_artifact_bytes(self, digest: str) -> bool:
        """``has_artifact``, and its bytes are there too (a blob file not deleted); unverified.
        Backends that keep bytes beside their rows override this."""
        return self.has_artifact(digest)

    @abstractmethod
    def artifact_producer(self, digest: str) -> Producer | None:
        """The first step recorded with this artifact among its outputs; None for external inputs.

        The producer is set when the artifact is first stored by a ``record`` call that also
        holds a step outputting it, or later by the first such call if it was stored alone.
        """

    @abstractmethod
    def close(self) -> None: ...

    # -- beside the trace: runs lists, annotations, the headline-metric index ------------------
    # None of these touch a run's record or steps: they change no hash.

    @abstractmethod
    def query_runs(self, query: RunQuery) -> RunPage:
        """One page of the runs matching ``query``, in its order, with the total count."""

    @abstractmethod
    def add_annotations(self, annotations: Sequence[Annotation]) -> None:
        """Store tags and notes (a tag a run already has is kept once); ``NotFoundError`` for
        an unknown run, and then nothing is stored."""

    @abstractmethod
    def annotations(self, run_id: str) -> list[Annotation]:
        """The run's tags and notes, oldest first."""

    @abstractmethod
    def put_metrics(self, run_id: str, metrics: Mapping[str, float]) -> None:
        """Index the run's numeric headline metrics (replacing what was indexed)."""

    @abstractmethod
    def runs_without_metrics(self, *, limit: int) -> list[str]:
        """Finished runs (succeeded or failed) whose metrics are not indexed yet, newest
        first. A run's index goes when its record changes (``record(run=...)``)."""

    def lease(self, run_id: str) -> AbstractContextManager[None]:
        """Held by the process executing ``run_id``; lets other openers tell a dead run.

        Backends without a way to tell (memory) hold nothing.
        """
        return nullcontext()

    def put_file(
        self, path: str | os.PathLike[str], *, codec: str, prefix: bytes = b""
    ) -> ArtifactRecord:
        """Store ``prefix`` + the file's bytes as one artifact (no producer) and return its record.

        Backends with a blob directory stream it (bounded memory); this default reads it.
        """
        data = prefix + Path(path).read_bytes()
        record = ArtifactRecord(hash_bytes(data), codec, len(data))
        self.record(artifacts=[(record, data)])
        return record

    def artifact_chunks(self, digest: str) -> Iterator[bytes]:
        """An artifact's bytes in chunks, checked against its digest once the last has gone.

        ``IntegrityError`` is raised after the last chunk if the bytes do not match: write
        them somewhere temporary and keep the result only if the iteration ends cleanly.
        """
        yield self.get_artifact(digest)[1]

    def artifact_to_file(
        self, digest: str, target: str | os.PathLike[str], *, skip: int = 0
    ) -> None:
        """Write an artifact's bytes from offset ``skip`` on to a new file ``target``, verified.

        ``IntegrityError`` (and no ``target``) if the bytes do not match the digest.
        """
        try:
            with open(target, "xb") as out:
                for chunk in self.artifact_chunks(digest):
                    cut = min(skip, len(chunk))
                    out.write(chunk[cut:])
                    skip -= cut
        except BaseException:
            Path(target).unlink(missing_ok=True)
            raise

    def find_cached_steps(self, probe: StepRecord) -> Iterator[StepRecord]:
        """Every recorded step anywhere in the store that ``probe`` would repeat, in order.

        Those are the succeeded action steps with the same cache key: action, action version,
        code fingerprint, params, input digests and seed. The order is (run id, index): run
        ids (uuid7) sort by creation, so the step that originally computed the outputs comes
        first, then later runs that computed them again (a file it read had changed) and
        steps that reused them. The candidates are read lazily, a page at a time (the first
        page holds one), so a caller content with the first pays one lookup. Backends
        override this with an indexed lookup (``cached_pages``); this fallback scans.
        """
        wanted = cache_key(probe)
        for run in sorted(self.list_runs(), key=lambda r: r.id):
            for step in self.own_steps(run.id):
                if is_cacheable(step) and cache_key(step) == wanted:
                    yield step

    def find_cached_step(self, probe: StepRecord) -> StepRecord | None:
        """The first of ``find_cached_steps``: the original computation, or None."""
        return next(iter(self.find_cached_steps(probe)), None)

    # -- run-state snapshots: derived data beside the trace (see ``trace.snapshot``) ---------
    # Backends that keep none inherit these defaults: forks and resumes then read every step.

    def put_snapshots(self, snapshots: Sequence[StateSnapshot]) -> None:  # noqa: B027
        """Keep these snapshots (one already kept at the same run and step count is replaced).

        Call only once the steps they cover are recorded (``record``): a snapshot must never
        be durable before its steps are.
        """

    def snapshot_at(self, run_id: str, *, at_most: int | None = None) -> StateSnapshot | None:
        """The run's own snapshot covering the most steps, at most ``at_most``; None if none.

        A damaged stored row gives a snapshot marked ``damaged`` (not to be used).
        """
        return None

    def snapshots(self, run_id: str) -> list[StateSnapshot]:
        """Every snapshot kept for the run itself, by step count (damaged ones marked)."""
        return []

    def own_steps_between(self, run_id: str, start: int, stop: int | None) -> list[StepRecord]:
        """The run's own steps with ``start <= index < stop`` (no end if None), by index.

        Backends override this with a range read.
        """
        return [
            s
            for s in self.own_steps(run_id)
            if s.index >= start and (stop is None or s.index < stop)
        ]

    def own_step_rows(self, run_id: str, start: int, stop: int | None) -> list[StepRow]:
        """The stored rows of the run's own steps ``start <= index < stop`` (no end if None),
        by index, undecoded: for verifying step hashes from the stored texts themselves.

        Backends override this with a range read handing back their rows as stored; this
        fallback renders the decoded records again (canonical texts, so equally hashable).
        """
        from reprolam.trace._rows import step_to_row  # _rows imports this module

        return [step_to_row(s) for s in self.own_steps_between(run_id, start, stop)]

    def flush(self) -> None:  # noqa: B027 - optional hook, a no-op for most backends
        """Make everything recorded so far visible to other processes (for group commit)."""

    # -- derived ------------------------------------------------------------------------------

    def steps(self, run_id: str) -> list[StepRecord]:
        """The run's whole trace: steps inherited from its fork parents, then its own.

        Inherited steps are read from the parent by reference; nothing is copied.
        """
        line = [self.get_run(run_id)]  # the run, its parent, ..., the oldest ancestor
        seen = {run_id}
        while line[-1].parent_id is not None and line[-1].fork_index is not None:
            line.append(self._fork_parent(line[-1], seen))
        steps = self.own_steps(line[-1].id)
        for run in reversed(line[:-1]):
            assert run.fork_index is not None
            steps = [s for s in steps if s.index < run.fork_index] + self.own_steps(run.id)
        return steps

    def steps_between(self, run_id: str, start: int, stop: int | None = None) -> list[StepRecord]:
        """Steps ``start <= index < stop`` of the whole trace (inherited or its own), by index."""
        start, stop = _in_range(start, stop)
        return [
            step
            for owner, first, end in self._segments(run_id, start, stop)
            for step in self.own_steps_between(owner, first, end)
        ]

    def step_rows_between(self, run_id: str, start: int, stop: int | None = None) -> list[StepRow]:
        """``steps_between`` as stored rows (``own_step_rows``), inherited ones included."""
        start, stop = _in_range(start, stop)
        return [
            row
            for owner, first, end in self._segments(run_id, start, stop)
            for row in self.own_step_rows(owner, first, end)
        ]

    def _segments(
        self, run_id: str, start: int, stop: int | None
    ) -> list[tuple[str, int, int | None]]:
        """Which run owns which part of steps ``start..stop`` of ``run_id``'s trace: the
        ``(run, start, stop)`` ranges of own steps, the oldest ancestor's first."""
        run = self.get_run(run_id)
        segments: list[tuple[str, int, int | None]] = []
        seen = {run.id}
        while run.parent_id is not None and run.fork_index is not None and start < run.fork_index:
            if stop is None or run.fork_index < stop:
                segments.append((run.id, run.fork_index, stop))
            stop = run.fork_index if stop is None else min(stop, run.fork_index)
            run = self._fork_parent(run, seen)
        if stop is None or start < stop:
            segments.append((run.id, start, stop))
        return segments[::-1]

    def step_at(self, run_id: str, index: int) -> StepRecord:
        """Step ``index`` of the whole trace (inherited or its own), without reading the rest."""
        if not 0 <= index <= MAX_INDEX:  # past what a database integer holds: no such step
            raise NotFoundError(f"run {run_id} has no step {index}")
        run = self.get_run(run_id)
        seen = {run.id}
        while run.fork_index is not None and run.parent_id is not None and index < run.fork_index:
            run = self._fork_parent(run, seen)
        return self.own_step(run.id, index)

    def _fork_parent(self, run: RunRecord, seen: set[str]) -> RunRecord:
        """The run ``run`` was forked from; ``IntegrityError`` if the store no longer holds it
        (not ``NotFoundError``: the run asked for is there, its inherited steps are not), or
        if it is one of the runs ``seen`` on the way up (a cycle of parents, which only an edit
        makes; ``seen`` gets the parent)."""
        assert run.parent_id is not None
        if run.parent_id in seen:
            raise IntegrityError(
                f"run {run.id} is a fork of run {run.parent_id}, which is itself descended from "
                f"run {run.id}: a cycle of forks, so the steps they inherit cannot be read; the "
                "store was edited outside reprolam (a run's parent_id): restore it from a backup"
            )
        try:
            parent = self.get_run(run.parent_id)
        except NotFoundError:
            raise IntegrityError(
                f"run {run.id} is a fork of run {run.parent_id}, which is not in "
                f"{self.location}: the {run.fork_index} step(s) it inherits from it cannot be "
                "read; the store was edited or damaged (a run was deleted): restore it from a "
                "backup"
            ) from None
        seen.add(parent.id)
        return parent

    def resolve_run_id(self, ref: str) -> str:
        """A full id from a full id or a unique prefix (a UUID typed in capitals too)."""
        ref = ref.strip()
        if not ref:
            raise NotFoundError("empty run id: pass a run id or prefix (see `reprolam runs`)")
        matches = self.find_run_ids(ref, limit=2)
        if not matches and ref != ref.lower():  # reprolam's ids are lowercase UUIDs
            ref = ref.lower()
            matches = self.find_run_ids(ref, limit=2)
        if not matches:
            raise NotFoundError(
                f"no run with id or prefix {ref!r} in {self.location}: "
                "list runs with `reprolam runs`"
            )
        if len(matches) > 1 and ref not in matches:
            raise AmbiguousIdError(
                f"run id prefix {ref!r} matches several runs ({', '.join(matches)}, ...): "
                "give more characters"
            )
        return ref if ref in matches else matches[0]

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


MAX_INDEX = (1 << 63) - 1  # the largest step index a database integer holds


def _in_range(start: int, stop: int | None) -> tuple[int, int | None]:
    """A range of step indexes clamped to what a database integer holds."""
    return min(max(start, 0), MAX_INDEX), None if stop is None else min(max(stop, 0), MAX_INDEX)


def stale_extension_error(run_id: str, index: int) -> ConfigError:
    """A hand-built run extended elsewhere since the caller read it (``extend_run``)."""
    return ConfigError(
        f"run {run_id} already has a step {index}, which this object does not know: another "
        "process or object (ManualRun.open, ExecutionTrace.open) has extended the run since it "
        "was read, and a step recorded here would replace one; open the run again and record "
        "through the new object"
    )
