"""``copy_store``: every run of one trace store into another (SQLite ⇄ PostgreSQL, ...).

A copy is faithful: runs, their own steps (forks keep inheriting by reference, so a fork's
parent is copied before it, as is the run a reproduction verifies), every artifact the
runs reference (environment snapshots included, large ones through the destination's blob
directory) and data lineage (an artifact's producer is the same step in both stores).
Every artifact's bytes are re-hashed on the way; a corrupted one stops the copy.

Runs still running in the source are not copied (nor runs forked from or verifying one):
their records are not complete yet. Copy again once they have finished.

It is safe to repeat. A run already in the destination with identical content is skipped
(missing artifacts are filled in); one an interrupted copy left with a prefix of its steps
is completed, as is one copied unfinished (interrupted) and resumed in the source since:
only its header must be the same. The other way round, an interrupted run whose
destination copy was resumed since (its steps and more) is skipped: there is nothing to
add. A run that exists there with different content is a conflict: the copy refuses
before writing anything. Artifacts are written before the
records that reference them, and a run is created unfinished and given its final record
after its steps, so an interrupted copy never leaves a record pointing at a missing
artifact, nor a finished run missing steps (it leaves an interrupted one).

Artifacts that no run references (none are, through reprolam) are not copied: the store
contract cannot list them. A file or directory artifact is a manifest naming its contents
(``codecs._files``): those go along, before the manifest, large ones streamed.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from reprolam.codecs._bytes import MAGIC as BYTES_MAGIC
from reprolam.codecs._files import contents_of
from reprolam.errors import IntegrityError, NotFoundError, StoreError
from reprolam.hashing import canonical_json, digest
from reprolam.trace._rows import ONLY_COPY
from reprolam.trace.contract import Producer, TraceStore
from reprolam.trace.records import ArtifactRecord, RunRecord, RunStatus, StepRecord, StepStatus

MAX_BATCH_STEPS = 256  # steps per record() call: bounds transaction size and memory
MAX_BATCH_BYTES = 64 << 20  # artifact bytes per record() call, likewise
STREAM_BYTES = 8 << 20  # file contents larger than this are streamed through a temp file

RunCallback = Callable[[str, RunRecord], None]  # (what happened: copied|completed|skipped, run)


@dataclass
class CopyReport:
    """What a copy did. ``completed``: runs a previous, interrupted copy had left partial."""

    source: str
    destination: str
    copied: list[str] = field(default_factory=list)
    completed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    steps: int = 0  # steps written
    artifacts: int = 0  # artifacts written (each counted once)
    bytes: int = 0  # their size
    # Artifacts the runs this copy wrote reference that the destination already held with
    # other bytes than their digest (damaged there): digest -> why. Those the source's bytes
    # repaired (a damaged blob file is replaced) are in ``repaired`` instead; what is left
    # here (a damaged row in the database) was kept as it was. Those only runs already there
    # (skipped) reference are not read again, only looked at (a blob file of the wrong size
    # or kind is stored again): the copy wrote nothing that relies on them.
    damaged: dict[str, str] = field(default_factory=dict)
    repaired: list[str] = field(default_factory=list)
    # Runs still running in the source, and runs forked from or verifying one: not copied
    # (a copy would say "running" forever, and conflict with the finished run later).
    running: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def copy_store(
    src: TraceStore, dst: TraceStore, *, on_run: RunCallback | None = None
) -> CopyReport:
    """Copy every run of ``src`` (with steps and artifacts) into ``dst``; see the module doc.

    Raises ``StoreError`` naming the conflicting runs, before writing anything, if ``dst``
    holds any of them with different content; ``IntegrityError`` for a corrupted artifact.
    """
    report = CopyReport(src.location, dst.location)
    runs: list[RunRecord] = []
    running: set[str] = set()
    for run in parents_first(src.list_runs()):
        if run.status is RunStatus.RUNNING or {run.parent_id, run.verifies} & running:
            running.add(run.id)
            report.running.append(run.id)  # its record is not complete yet: not copied
            if on_run is not None:
                on_run("running", run)
        else:
            runs.append(run)
    plans = [(run, _plan(src, dst, run)) for run in runs]
    conflicts = [(run, plan) for run, plan in plans if isinstance(plan, str)]
    if conflicts:
        run, why = conflicts[0]
        more = f" (and {len(conflicts) - 1} more: {_ids(conflicts[1:])})" if conflicts[1:] else ""
        raise StoreError(
            f"refusing to copy into {dst.location}: run {run.id} is there with different "
            f"content ({why}){more}; nothing was copied: copy into another store, or remove "
            "the conflicting runs from the destination first"
        )
    copier = _Copier(src, dst, report)
    for run, start in plans:
        assert not isinstance(start, str)
        if start is not NEW and start < 0:  # identical: make sure its artifacts are all there
            copier.ensure([*_run_refs(run), *_code_refs(src, run.environment)], relied=False)
            copier.ensure((d for s in src.own_steps(run.id) for d in _step_refs(s)), relied=False)
            what = "skipped"
            report.skipped.append(run.id)
        else:
            try:
                copier.copy_run(run, start)
            except StoreError as exc:
                if type(exc) is not StoreError:  # an integrity refusal names its record
                    raise
                raise _stopped_at(run, dst, report, exc) from exc
            what = "copied" if start is NEW else "completed"
            (report.copied if start is NEW else report.completed).append(run.id)
        _copy_annotations(src, dst, run.id)
        if on_run is not None:
            on_run(what, run)
    copier.check_found()
    return report


def _stopped_at(run: RunRecord, dst: TraceStore, report: CopyReport, exc: StoreError) -> StoreError:
    """The destination refused a run's records (a server gone, text it cannot hold): which
    run, and what the copy left."""
    done = len(report.copied) + len(report.completed)
    return StoreError(
        f"{exc}; the copy stopped at run {run.id}, which {dst.location} keeps as interrupted "
        f"(copy in progress) until a copy completes it ({done} run(s) before it were copied)"
    )


def _copy_annotations(src: TraceStore, dst: TraceStore, run_id: str) -> None:
    """Tags and notes go along (beside the trace, so after it); ones already there are kept."""
    there = {(a.kind, a.value, a.created_at) for a in dst.annotations(run_id)}
    new = [a for a in src.annotations(run_id) if (a.kind, a.value, a.created_at) not in there]
    if new:
        dst.add_annotations(new)


def parents_first(runs: Sequence[RunRecord]) -> list[RunRecord]:
    """Runs oldest first, each after the runs it depends on (fork parent, verified run)."""
    by_id = {run.id: run for run in runs}
    placed: set[str] = set()
    ordered: list[RunRecord] = []
    for run in sorted(runs, key=lambda r: (r.created_at, r.id)):
        stack, seen = [run], {run.id}
        while stack:
            top = stack[-1]
            deps = [
                by_id[d]
                for d in (top.parent_id, top.verifies)
                if d is not None and d in by_id and d not in placed and d not in seen
            ]
            if deps:
                stack.extend(deps)
                seen.update(d.id for d in deps)
                continue
            stack.pop()
            if top.id not in placed:
                placed.add(top.id)
                ordered.append(top)
    return ordered


# -- planning -------------------------------------------------------------------------------------


NEW = None  # _plan: the run is not in the destination
# What a run's record still changes after it is created: how, when and where it ended (a
# resume sets them again). The rest is its header, fixed at creation (``run_header_hash``).
END_FIELDS = frozenset(
    {"status", "finished_at", "outputs", "error", "host", "pid", "seal", "verdict"}
)
_UNFINISHED = (RunStatus.RUNNING, RunStatus.INTERRUPTED)


def _plan(src: TraceStore, dst: TraceStore, run: RunRecord) -> int | str | None:
    """``NEW``: copy it; -1: identical, skip; k >= 0: it is there unfinished or with a prefix
    of its steps (an interrupted copy, or a run resumed in the source since it was copied):
    write its steps from k, then its record; a string: why the destination's run conflicts."""
    try:
        there = dst.get_run(run.id)
    except NotFoundError:
        return NEW
    if run.status is RunStatus.INTERRUPTED and _further_along(src, dst, run, there):
        return -1  # an older copy of what is there: resumed since, it holds all of it and more
    grows = there.status in _UNFINISHED  # its end is still to come: only its header must hold
    why = _difference(_fields(there, grows), _fields(run, grows))
    if why:
        return why
    have, want = dst.own_steps(run.id), src.own_steps(run.id)
    for a, b in zip(have, want, strict=False):
        why = _difference(a.to_dict(), b.to_dict())
        if why and grows and a is have[-1] and a.status is StepStatus.STARTED:
            return a.index  # the step its run was stopped in, finished by a resume since
        if why:
            return f"step {a.index}: {why}"
    if len(have) > len(want):
        return f"it has {len(have)} steps of its own, the source {len(want)}"
    if len(have) == len(want) and not _difference(there.to_dict(), run.to_dict()):
        return -1
    return len(have)


def _further_along(src: TraceStore, dst: TraceStore, run: RunRecord, there: RunRecord) -> bool:
    """Whether ``there`` is ``run`` (interrupted in ``src``) resumed since: the same header,
    its steps and more (finished, or more of them), the step ``run`` was stopped in finished."""
    if _difference(_fields(there, True), _fields(run, True)):
        return False
    have, want = dst.own_steps(run.id), src.own_steps(run.id)
    if len(have) < len(want) or (len(have) == len(want) and there.status in _UNFINISHED):
        return False
    for a, b in zip(want, have, strict=False):
        stopped_in = a is want[-1] and a.status is StepStatus.STARTED and a.index == b.index
        if _difference(b.to_dict(), a.to_dict()) and not stopped_in:
            return False
    return True


def _fields(run: RunRecord, header_only: bool) -> dict[str, Any]:
    fields = run.to_dict()
    return {k: v for k, v in fields.items() if k not in END_FIELDS} if header_only else fields


# The reason a copy's run holds until its steps are there (a stopped copy leaves it so).
COPY_IN_PROGRESS = "copy in progress (or stopped): copy again to complete it"


# What completes it: the steps it lacks are recorded in the store it is copied from.
COPY_AGAIN = (
    "copy it again from the store it was copied from (`reprolam store copy`), or import its "
    "crate again, to complete it"
)


def is_stopped_copy(run: RunRecord) -> bool:
    """Whether ``run`` is a copy's unfinished run: its missing steps are in the store it is
    copied from, recorded there; executing them here (a resume) would record others."""
    return run.status is RunStatus.INTERRUPTED and run.error == COPY_IN_PROGRESS


def _unfinished(run: RunRecord) -> RunRecord:
    """The record a copy creates first: its header, interrupted until its steps are there."""
    return replace(
        run,
        status=RunStatus.INTERRUPTED,
        finished_at=None,
        outputs={},
        error=COPY_IN_PROGRESS,
        seal=None,
        verdict=None,
    )


def _difference(there: dict[str, Any], here: dict[str, Any]) -> str:
    """The first field that differs, as text; '' if none. Compared as canonical JSON, so
    NaN equals NaN and 1 differs from 1.0, as hashes see them."""
    for key, value in here.items():
        a, b = canonical_json(there.get(key)), canonical_json(value)
        if a != b:
            return f"{key} is {_short(a)} there, {_short(b)} in the source"
    return ""


def _short(text: str, n: int = 40) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _ids(items: Sequence[tuple[RunRecord, Any]], n: int = 3) -> str:
    ids = [run.id for run, _ in items]
    return ", ".join(ids[:n]) + (", ..." if len(ids) > n else "")


def _run_refs(run: RunRecord) -> list[str]:
    return [d for d in (run.environment, *run.outputs.values()) if d]


def _step_refs(step: StepRecord) -> list[str]:
    refs = [*step.inputs.values(), *step.outputs.values()]
    observed = step.proposal.get("observed")  # captured output (engine.observe)
    if isinstance(observed, dict) and isinstance(observed.get("output"), str):
        refs.append(observed["output"])
    return refs


def _code_refs(src: TraceStore, environment: str | None) -> list[str]:
    """The code manifest a run's environment names, and the sources and git diff it names
    (the layout written by ``engine.code_capture``)."""
    code = _json_artifact(src, environment).get("code")
    manifest = _json_artifact(src, code)
    refs: list[str] = []
    if manifest and isinstance(code, str):
        refs.append(code)
        for module in manifest.get("modules", {}).values():
            refs += [d for d in module.get("sources", {}).values() if isinstance(d, str)]
        diff = manifest.get("git", {}).get("diff")
        if isinstance(diff, str):
            refs.append(diff)
    return refs


def with_contents(src: TraceStore, refs: Sequence[str]) -> list[str]:
    """``refs`` and, after each file or directory manifest among them, the contents it names
    that ``src`` holds (an input recorded without a copy names content it never held)."""
    records = src.artifact_records(refs)
    found: list[str] = []
    for d in refs:
        found.append(d)
        record = records.get(d)
        if record is not None and record.codec in ("file", "dir"):
            _, data = src.get_artifact(d)
            found += [c for c in contents_of(record.codec, data) if src.has_artifact(c)]
    return list(dict.fromkeys(found))


def _json_artifact(src: TraceStore, key: Any) -> dict[str, Any]:
    if not isinstance(key, str) or not src.has_artifact(key):
        return {}
    record, data = src.get_artifact(key)
    if record.codec != "json":
        return {}
    from reprolam.codecs import default_serializer

    value = default_serializer().loads_typed(record.codec, data)
    return value if isinstance(value, dict) else {}


# -- copying --------------------------------------------------------------------------------------


def _damaged_error(
    src: TraceStore, run: RunRecord, record: RunRecord | StepRecord
) -> IntegrityError:
    """A damaged row (edited outside reprolam) is read with what could not be decoded
    replaced: copying that would write other values than the source holds, silently."""
    what = (
        f"step {record.index} of run {run.id}"
        if isinstance(record, StepRecord)
        else f"run {run.id}"
    )
    return IntegrityError(
        f"the stored record of {what} in {src.location} is damaged ({record.damaged}): it "
        "cannot be copied as it is, so nothing more was copied; restore the source from a "
        "backup (`reprolam audit` names every damaged record)"
    )


class _Copier:
    """Moves runs' artifacts and records, remembering what the destination already holds."""

    def __init__(self, src: TraceStore, dst: TraceStore, report: CopyReport) -> None:
        self.src = src
        self.dst = dst
        self.report = report
        # digest -> whether the destination knows its producer (None: not asked yet)
        self.in_dst: dict[str, bool | None] = {}
        self.producers: dict[str, Producer | None] = {}  # digest -> producer in the source
        self.counted: set[str] = set()
        # Referenced artifacts the destination already held -> whether a record this copy
        # writes relies on them (those are verified by ``check_found``).
        self.held: dict[str, bool] = {}

    def copy_run(self, run: RunRecord, start: int | None) -> None:
        """Copy ``run``'s steps from ``start`` (``NEW``: all, creating it), then its record.

        A new run is created unfinished (interrupted, unsealed) and given its record once
        its steps are there: a copy stopped midway leaves what a stopped run leaves, which
        the next copy completes, never a finished run missing steps its seal counts.
        """
        steps = self.src.own_steps(run.id)[start or 0 :]
        records: list[RunRecord | StepRecord] = [run, *steps]
        for record in records:
            if record.damaged is not None:
                raise _damaged_error(self.src, run, record)
        # The run record names its environment and final outputs: they go first.
        self.ensure([*_run_refs(run), *_code_refs(self.src, run.environment)])
        if start is NEW:
            self._create(run)
        batch: list[StepRecord] = []
        produced: dict[str, tuple[ArtifactRecord, bytes]] = {}
        size = 0
        for step in steps:
            mine = self._produced_by(step)
            self.ensure(d for d in _step_refs(step) if d not in mine and d not in produced)
            for d in mine:
                if d not in produced and not self._producer_known(d):
                    produced[d] = self.read(d)
                    size += len(produced[d][1])
            batch.append(step)
            if len(batch) >= MAX_BATCH_STEPS or size >= MAX_BATCH_BYTES:
                self._write(batch, produced)
                batch, produced, size = [], {}, 0
        if batch:
            self._write(batch, produced)
        self.dst.record(run=run)  # its end (or its status now), sealed, once its steps are in

    def _create(self, run: RunRecord) -> None:
        try:
            self.dst.create_run(_unfinished(run))
        except StoreError as exc:
            try:
                self.dst.get_run(run.id)
            except NotFoundError:
                raise exc from None
            raise StoreError(
                f"run {run.id} appeared in {self.dst.location} while this copy was about to "
                "create it (another copy into the same store at the same time?): copy again "
                "once that one has finished; runs already there with identical content are "
                "skipped"
            ) from exc

    def _write(
        self, steps: list[StepRecord], produced: dict[str, tuple[ArtifactRecord, bytes]]
    ) -> None:
        self.dst.record(steps=steps, artifacts=list(produced.values()))
        self.in_dst.update(dict.fromkeys(produced, True))
        self.report.steps += len(steps)

    def _produced_by(self, step: StepRecord) -> set[str]:
        """The outputs of ``step`` whose producer, in the source, is this very step."""
        mine = set()
        for d in step.outputs.values():
            if d not in self.producers:
                self.producers[d] = self.src.artifact_producer(d)
            producer = self.producers[d]
            if producer is not None and (producer.run_id, producer.index) == (
                step.run_id,
                step.index,
            ):
                mine.add(d)
        return mine

    def _has(self, d: str, relied: bool = True) -> bool:
        """Whether the destination holds ``d``; ``relied``: a record this copy writes
        refers to it (not so for the runs it skips)."""
        if d in self.in_dst:
            if relied and d in self.held:
                self.held[d] = True
            return True
        if self.dst.has_artifact_bytes(d):  # a row whose blob file went is filled in again
            self.in_dst[d] = None
            self.held[d] = relied
            return True
        return False

    def check_found(self) -> None:
        """Verify the bytes of the artifacts the destination already held that the records
        this copy wrote rely on (the copy skips them): a damaged one is stored again from the
        source, which replaces a damaged blob file (``repaired``); one still damaged after
        that (a row in the database, which content-addressed writes keep) is reported."""
        relied = [d for d, used in self.held.items() if used]
        damaged = {r.digest: str(r.error) for r in self.dst.read_artifacts(relied) if r.error}
        for d in damaged:
            self.dst.record(artifacts=[self.read(d)])
        for read in self.dst.read_artifacts(list(damaged)):
            if read.error is None:
                self.report.repaired.append(read.digest)
            else:
                self.report.damaged[read.digest] = damaged[read.digest]

    def _producer_known(self, d: str) -> bool:
        if not self._has(d):
            return False
        known = self.in_dst[d]
        if known is None:
            known = self.in_dst[d] = self.dst.artifact_producer(d) is not None
        return known

    def ensure(self, digests: Iterable[str], *, relied: bool = True) -> None:
        """Store the artifacts the destination lacks, without a producer, in bounded calls
        (``relied``: see ``_has``)."""
        batch: list[tuple[ArtifactRecord, bytes]] = []
        size = 0
        for d in dict.fromkeys(digests):
            if self._has(d, relied):
                continue
            batch.append(self.read(d))
            size += len(batch[-1][1])
            self.in_dst[d] = False
            if size >= MAX_BATCH_BYTES:
                self.dst.record(artifacts=batch)
                batch, size = [], 0
        if batch:
            self.dst.record(artifacts=batch)

    def read(self, d: str) -> tuple[ArtifactRecord, bytes]:
        """An artifact from the source, its bytes re-hashed here whatever the backend did;
        a file or directory manifest's contents are copied first."""
        record, data = self.src.get_artifact(d)
        actual = digest(data)
        if actual != d or record.digest != d or record.size != len(data):
            why = f"its {len(data)} bytes hash to {actual}, recorded size {record.size}"
            raise _corrupted(self.src, d, why)
        self._count(d, len(data))
        for content in contents_of(record.codec, data):
            self._ensure_content(content)
        return record, data

    def _count(self, d: str, size: int) -> None:
        if d not in self.counted:
            self.counted.add(d)
            self.report.artifacts += 1
            self.report.bytes += size

    def _ensure_content(self, d: str) -> None:
        """A file's content, streamed through a temporary file when large (never whole in
        memory); the destination hashes it again as it stores it. An input recorded without
        a copy (``--no-copy``) names content the source never held: there is none to copy."""
        if self._has(d) or not self.src.has_artifact(d):
            return
        size = self.src.get_artifact_record(d).size
        if size <= STREAM_BYTES:
            self.dst.record(artifacts=[self.read(d)])
        else:
            with tempfile.TemporaryDirectory(prefix="reprolam-copy-") as scratch:
                name = os.path.join(scratch, "content")
                self.src.artifact_to_file(d, name, skip=len(BYTES_MAGIC))  # verified
                stored = self.dst.put_file(name, codec="bytes", prefix=BYTES_MAGIC).digest
            if stored != d:
                raise _corrupted(self.src, d, f"its content hashes to {stored}")
            self._count(d, size)
        self.in_dst[d] = False


def _corrupted(src: TraceStore, d: str, why: str) -> IntegrityError:
    return IntegrityError(
        f"artifact {d} in {src.location} is corrupted ({why}): nothing more was copied; "
        f"restore the source from a backup ({ONLY_COPY})"
    )
