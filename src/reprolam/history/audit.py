"""Audit: check a recorded run, executing nothing, and measure it with the paper's metrics.

Six checks; every problem names the run, step and artifact concerned:

``completeness``
    Every executed action step (kind ``action``, status ``succeeded`` or ``failed``) records
    ``REQUIRED_FIELDS``: action version, code fingerprint, params (a JSON object; ``{}`` for an
    action without params), inputs (name -> digest; ``{}`` for an action without inputs),
    outputs (at least one unless the step failed), seed, environment (the snapshot of the run
    that executed the step is present and verifies) and timings (``started_at``, ``duration``).
    An interrupted run is one ``interrupted`` problem (not also an unfinished step); a run
    still marked running, one ``running`` problem.
``hash_chain``
    From ``verify_trace``: steps chain, their content matches their hash, no step row is
    missing. A deleted last step leaves no gap: the artifacts table, which still names it as
    the producer of an output the trace refers to, gives it away. Every run-state snapshot of the
    trace (``trace.snapshot``) is what its steps add up to (``history.snapshot_check``).
``artifacts``
    From ``verify_trace``: every referenced artifact is present and its bytes match its digest.
``lineage``
    Every step input was output by an earlier succeeded step of the trace (inherited fork steps
    included) or is an external input: an environment snapshot of the trace's runs, an input the
    step declared external when it was recorded (``trace.links``), or a digest given in
    ``external_inputs`` that no step in the store produced. Every run output is the
    output of a recorded step. Every reused step's source still holds its hash and output
    what was taken (``history.reuse_check``).
``failures``
    Every failed step records its error (type, message; a traceback for action failures),
    every rejection and failed run its reason; every ``recovers=k`` points at an earlier
    step ``k`` that failed.
``reproduction``
    The runs that verify this one, compared with it by ``compare_steps`` (kinds, actions,
    statuses, output digests: bitwise). A damaged reproduction record, or a latest
    reproduction that diverged, is a problem.

Metrics (``AuditReport.metrics``):

* ``trace_completeness`` = complete executed steps / (executed steps + missing step rows),
  1.0 when there is nothing to count;
* ``failure_visibility`` = failed steps with a complete error record / failed steps,
  1.0 when nothing failed;
* ``reproducibility``: ``reproduced`` (the latest finished, intact reproduction is bitwise
  identical), ``diverged`` (it is not) or ``not yet reproduced``.

"Metadata fields per recorded action" counts the ``RECORDED_FIELDS`` an executed action step
holds non-empty (``params``/``inputs`` not ``{}``; ``prev_hash`` is empty for step 0; ``error``
and ``recovers`` when they apply; ``environment`` when its run's snapshot verifies).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Collection, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

from reprolam.brief import problems_words
from reprolam.errors import (
    IntegrityError,
    NotFoundError,
    OptionStyle,
    ReprolamError,
    python_style,
    render_markup,
)
from reprolam.hashing import short
from reprolam.history.compare import Comparison, compare_steps
from reprolam.history.index_check import metrics_index_problem
from reprolam.history.kept_records import FileContents, kept_record_problems
from reprolam.history.observed import effect_findings
from reprolam.history.reuse_check import reuse_findings
from reprolam.history.snapshot_check import snapshot_findings
from reprolam.history.verify import Problem, header_note, verify_trace
from reprolam.trace.contract import Producer, TraceStore
from reprolam.trace.copy import COPY_AGAIN, is_stopped_copy
from reprolam.trace.links import step_external
from reprolam.trace.records import RunRecord, RunStatus, StepKind, StepRecord, StepStatus

_T = TypeVar("_T")
CHECKS = ("completeness", "hash_chain", "artifacts", "lineage", "failures", "reproduction")
REQUIRED_FIELDS: tuple[str, ...] = (
    *("action_version", "fingerprint", "params", "inputs", "outputs"),
    *("seed", "environment", "started_at", "duration"),
)
RECORDED_FIELDS: tuple[str, ...] = (
    *("action", "status", *REQUIRED_FIELDS),
    *("proposal", "error", "recovers", "prev_hash", "hash"),
)
# Failures the engine observes from outside the action (a timeout, a dead worker process,
# a Dask worker lost mid-step, an undeclared effect seen once the action had returned, e.g.
# the global RNG drawn from).
NO_TRACEBACK = frozenset({"ActionTimeout", "WorkerDied", "WorkerLost", "UndeclaredEffect"})
REPRODUCED, DIVERGED, NOT_REPRODUCED = "reproduced", "diverged", "not yet reproduced"

_KINDS = {  # check -> the problem kinds it reports (verify_trace's kinds included)
    "completeness": ("incomplete", "environment", "unfinished", "interrupted", "running"),
    "hash_chain": ("missing_step", "chain", "tampered", "damaged"),
    "artifacts": ("artifact",),
    "lineage": ("lineage", "outputs", "reused"),
    "failures": ("error_record", "recovery"),
    "reproduction": ("reproduction", "diverged"),
}
_CHECK_OF_KIND = {kind: check for check, kinds in _KINDS.items() for kind in kinds}
_EXECUTED = (StepStatus.SUCCEEDED, StepStatus.FAILED)
_UNFINISHED_RUN = (RunStatus.RUNNING, RunStatus.INTERRUPTED)


@dataclass(frozen=True, slots=True)
class AuditProblem:
    """One finding: which check, what kind, and the run, step and artifact concerned."""

    check: str
    kind: str
    message: str
    run: str | None = None  # the run whose record holds the step (for inherited: the parent)
    step: int | None = None
    artifact: str | None = None
    # ``message`` with its {option} markup, when it names an option (as ``Problem.markup``)
    markup: str | None = field(default=None, repr=False, compare=False)

    def text(self, style: OptionStyle = python_style) -> str:
        return self.message if self.markup is None else render_markup(self.markup, style)

    def to_dict(self, style: OptionStyle = python_style) -> dict[str, Any]:
        return {
            "check": self.check,
            "kind": self.kind,
            "message": self.text(style),
            "run": self.run,
            "step": self.step,
            "artifact": self.artifact,
        }


@dataclass(frozen=True, slots=True)
class StepFields:
    """What one executed action step recorded."""

    step: int
    run: str
    action: str
    fields: int  # RECORDED_FIELDS held non-empty
    missing: tuple[str, ...] = ()  # REQUIRED_FIELDS not recorded


@dataclass(frozen=True, slots=True)
class Completeness:
    executed: int
    complete: int
    missing_steps: int  # deleted step rows: their kind is unknown, they count as incomplete
    steps: list[StepFields] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        total = self.executed + self.missing_steps
        return 1.0 if total == 0 else self.complete / total

    @property
    def fields_per_action(self) -> tuple[int, float]:
        """(min, mean) RECORDED_FIELDS held per executed action step (the paper's "8+")."""
        counts = [s.fields for s in self.steps] or [0]
        return min(counts), sum(counts) / len(counts)


@dataclass(frozen=True, slots=True)
class LineageLink:
    """Where one step input came from: an earlier step, an external input, or nowhere known."""

    step: int
    input: str
    artifact: str
    source: str  # step | external | unexplained
    producer_run: str | None = None
    producer_step: int | None = None


@dataclass(frozen=True, slots=True)
class Failures:
    failed: int
    visible: int  # failed steps with a complete error record
    rejected: int
    recoveries: list[tuple[int, int]] = field(default_factory=list)  # (step, step it recovers)

    @property
    def ratio(self) -> float:
        return 1.0 if self.failed == 0 else self.visible / self.failed


@dataclass(frozen=True, slots=True)
class Reproduction:
    """One run that re-executed the audited run to verify it."""

    run: RunRecord
    comparison: Comparison | None  # None while the attempt is unfinished (running, interrupted)
    problems: list[Problem] = field(default_factory=list)  # in the attempt's own record

    @property
    def verdict(self) -> str:
        if self.comparison is None:
            return "unfinished"
        if self.problems:
            return "damaged"
        return REPRODUCED if self.comparison.bitwise else DIVERGED

    @property
    def where(self) -> str:
        return f"{self.run.id} on {self.run.host or '?'} at {_iso(self.run.created_at)}"

    def summary(self) -> str:
        comparison = self.comparison
        if comparison is None:
            return f"unfinished attempt ({self.run.status.value}), not counted"
        if self.problems:
            return f"record damaged, not counted: {self.problems[0].message}"
        if comparison.divergence is not None:
            return f"diverged at step {comparison.divergence.step}: {comparison.divergence.message}"
        return f"{comparison.identical}/{comparison.compared} steps bitwise identical"

    def to_dict(self) -> dict[str, Any]:
        c = self.comparison
        return {
            "run": self.run.id,
            "created_at": self.run.created_at,
            "when": _iso(self.run.created_at),
            "host": self.run.host,
            "status": self.run.status.value,
            "verdict": self.verdict,
            "compared": c.compared if c else None,
            "identical": c.identical if c else None,
            "divergence": c.divergence.to_dict() if c and c.divergence else None,
            "problems": [p.to_dict() for p in self.problems],
            "summary": self.summary(),
        }


@dataclass(frozen=True, slots=True)
class AuditReport:
    run: RunRecord
    steps: int  # steps in the trace, inherited ones included
    inherited: int
    artifacts: int  # distinct artifacts read and verified
    problems: list[AuditProblem]
    completeness: Completeness
    lineage: list[LineageLink]
    failures: Failures
    reproductions: list[Reproduction]  # newest first
    effects: list[dict[str, Any]] = field(default_factory=list)  # undeclared, by step
    pickles: int = 0  # artifacts stored as pickles (the run opted in; loading needs trust)

    def __repr__(self) -> str:
        verdict = "clean" if self.clean else problems_words(self.problems)
        return (
            f"<AuditReport {self.run.id} {self.run.workflow}: {verdict}; "
            f"reproducibility {self.reproducibility}>"
        )

    def __str__(self) -> str:
        verdict = "clean" if self.clean else problems_words(self.problems)
        lines = [f"audit of {self.run.id} {self.run.workflow}: {verdict}"]
        for name, check in self.checks().items():
            mark = "ok" if check["ok"] else f"{check['problems']} problem(s)"
            lines.append(f"  {name}: {mark}; {check['summary']}")
        lines.extend(f"  {p.kind}: {p.message}" for p in self.problems)
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        from reprolam.notebook import audit_html

        return audit_html(self)

    @property
    def clean(self) -> bool:
        return not self.problems

    @property
    def latest_reproduction(self) -> Reproduction | None:
        """The newest finished, intact reproduction: the one the status is about."""
        return _latest(self.reproductions)

    @property
    def reproducibility(self) -> str:
        latest = self.latest_reproduction
        return NOT_REPRODUCED if latest is None else latest.verdict

    @property
    def metrics(self) -> dict[str, Any]:
        return {
            "trace_completeness": self.completeness.ratio,
            "failure_visibility": self.failures.ratio,
            "reproducibility": self.reproducibility,
        }

    def checks(self) -> dict[str, dict[str, Any]]:
        """Each check: ok, how many problems, and one line on what was checked and found."""
        c, f, latest = self.completeness, self.failures, self.latest_reproduction
        least, mean = c.fields_per_action
        external = sum(link.source == "external" for link in self.lineage)
        by = f": latest {latest.where} ({latest.summary()})" if latest else ""
        summaries = {
            "completeness": f"{c.complete}/{c.executed + c.missing_steps} executed steps record "
            f"{', '.join(REQUIRED_FIELDS)}; {least}+ metadata fields per action (mean {mean:.1f})",
            "hash_chain": f"{self.steps} steps ({self.inherited} inherited) checked against "
            "their hashes and the chain"
            + (
                f"; {header_note(self.run)}"
                if header_note(self.run)
                else ", run record against its header hash and seal"
            ),
            "artifacts": f"{self.artifacts} artifacts present and matching their digests"
            + (f"; {self.pickles} are pickles (loading them needs trust)" if self.pickles else ""),
            "lineage": f"{len(self.lineage)} step inputs: {len(self.lineage) - external} "
            f"produced by earlier steps, {external} external; {len(self.run.outputs)} run outputs",
            "failures": f"{f.visible}/{f.failed} failed steps with a complete error record, "
            f"{len(f.recoveries)} recoveries, {f.rejected} rejections",
            "reproduction": f"{self.reproducibility}{by}; attempts: {len(self.reproductions)}",
        }
        counts = {name: sum(p.check == name for p in self.problems) for name in CHECKS}
        return {
            name: {"ok": counts[name] == 0, "problems": counts[name], "summary": summaries[name]}
            for name in CHECKS
        }

    def to_dict(self, style: OptionStyle = python_style) -> dict[str, Any]:
        c = self.completeness
        return {
            "run": self.run.id,
            "workflow": self.run.workflow,
            "status": self.run.status.value,
            "clean": self.clean,
            "metrics": self.metrics,
            "checks": self.checks(),
            "problems": [p.to_dict(style) for p in self.problems],
            "completeness": {
                **asdict(c),
                "ratio": c.ratio,
                "fields_per_action": dict(zip(("min", "mean"), c.fields_per_action, strict=True)),
                "required_fields": REQUIRED_FIELDS,
                "recorded_fields": RECORDED_FIELDS,
            },
            "lineage": [asdict(link) for link in self.lineage],
            "failures": {**asdict(self.failures), "ratio": self.failures.ratio},
            "reproductions": [r.to_dict() for r in self.reproductions],
            "effects": self.effects,
            "pickles": self.pickles,
        }


def audit(store: TraceStore, run_ref: str, *, external_inputs: Collection[str] = ()) -> AuditReport:
    """Check ``run_ref`` (a run id or unique prefix) without executing anything.

    ``external_inputs``: digests of artifacts that entered the run from outside (stored with no
    producing step); a step input among them satisfies lineage closure.
    """
    run = store.get_run(store.resolve_run_id(run_ref))
    unreadable: list[Problem] = []
    try:
        steps = store.steps(run.id)
    except ReprolamError as exc:  # e.g. a fork whose parent's record is gone
        steps = store.own_steps(run.id)
        unreadable.append(
            Problem(
                "damaged",
                f"the trace of run {run.id} cannot be read: {exc}; what depends on the steps "
                "it inherits (its header and seal, where their outputs went) is checked once "
                "they can be read",
            )
        )
    trace = _Trace(store, run, steps)
    if unreadable:
        trace.unread = run.fork_index or 0
    verified: set[str] = set()
    pickles: set[str] = set()
    files = FileContents()

    def seen(key: str, data: bytes, codec: str) -> None:
        verified.add(key)
        if codec == "pickle":
            pickles.add(key)
        files.note(key, data, codec)

    found = verify_trace(store, run, steps, on_artifact=seen)
    found += kept_record_problems(store, run, steps, files)
    found = unreadable + _interruption(run, steps, found)
    gaps = _gaps(steps)
    lost = _lost_steps(store, trace, gaps)
    found += lost
    missing_steps = sum(end - start for start, end in gaps) + len(lost)
    found = [p for p in found if not _follows_from_unread(store, trace, p)]
    for p in found:
        trace.add(p.kind, p.message, step=p.step, artifact=p.artifact, run=p.run, markup=p.markup)
    _, snapshot_problems = snapshot_findings(store, trace.regions, steps, _intact(found))
    for finding in snapshot_problems:
        trace.add(finding.kind, finding.message, run=finding.run)
    index_problem = metrics_index_problem(store, run)
    if index_problem is not None:
        trace.add("tampered", index_problem, run=run.id)
    environments = _environments(store, trace, verified)
    completeness = _completeness(trace, missing_steps, environments)
    # Inputs given with --input are recorded in the environment snapshots: external by record.
    lineage = _lineage(store, trace, set(external_inputs) | _recorded_inputs(store, trace))
    _guarded(trace, "lineage", _producers, store, trace)
    for reused in reuse_findings(store, steps):
        trace.add("reused", reused.message, step=reused.step, run=reused.run)
    failures = _failures(trace)
    reproductions = _guarded(trace, "reproduction", _reproductions, store, trace) or []
    order = {name: i for i, name in enumerate(CHECKS)}
    trace.problems.sort(key=lambda p: (order[p.check], math.inf if p.step is None else p.step))
    inherited = sum(s.run_id != run.id for s in steps)
    report = (completeness, lineage, failures, reproductions)
    return AuditReport(
        run,
        len(steps),
        inherited,
        len(verified),
        trace.problems,
        *report,
        effects=effect_findings(steps),
        pickles=len(pickles),
    )


def _follows_from_unread(store: TraceStore, trace: _Trace, problem: Problem) -> bool:
    """Whether ``problem`` is only what the unreadable inherited steps (a fork ancestor's
    record is gone: one ``damaged`` problem says so) make of the trace: their rows missing,
    the header and seal that cover them, a run output they produced."""
    if problem.step is not None and problem.step < trace.unread:
        return problem.kind == "missing_step"
    if problem.kind == "tampered" and problem.step is None:
        return trace.unread > 0  # the header and seal cannot be recomputed without them
    if problem.kind == "outputs" and problem.artifact is not None:
        return trace.produced_unread(store, problem.artifact)
    return False


def _intact(found: Sequence[Problem]) -> float:
    """How many leading steps verified (inf: all): snapshots past a broken step are not
    compared, as the broken step already fails the audit and every later snapshot with it."""
    broken = [p.step for p in found if _CHECK_OF_KIND.get(p.kind) == "hash_chain"]
    if not broken:
        return math.inf
    if None in broken:  # the run's record or seal: the trace is not what was sealed
        return 0
    return min(step for step in broken if step is not None)


def _recorded_inputs(store: TraceStore, trace: _Trace) -> set[str]:
    from reprolam.engine.inputs import recorded_inputs
    from reprolam.trace.stored_json import load_json

    found: set[str] = set()
    for run, _start, _end in trace.regions:
        try:
            found.update(i.digest for i in recorded_inputs(load_json(store, run.environment)))
        except Exception:  # a damaged snapshot is reported by the completeness check
            continue
    return found


class _Trace:
    """The audited trace, which run's record holds each step index (forks), and the findings."""

    def __init__(self, store: TraceStore, run: RunRecord, steps: Sequence[StepRecord]) -> None:
        self.run = run
        self.steps = list(steps)
        self.by_index = {s.index: s for s in steps}
        self.unread = 0  # steps before this one cannot be read (a fork ancestor is gone)
        self.problems: list[AuditProblem] = []
        # (run, first index, end index) of the audited run and of each fork ancestor
        self.regions: list[tuple[RunRecord, int, float]] = []
        current, end, seen = run, math.inf, set[str]()
        while current.id not in seen:  # a cycle of parents only exists in a damaged store
            seen.add(current.id)
            parent, fork_index = current.parent_id, current.fork_index
            if parent is None or fork_index is None:
                self.regions.append((current, 0, end))
                break
            self.regions.append((current, fork_index, end))
            end = min(end, fork_index)
            try:
                current = store.get_run(parent)
            except ReprolamError:
                break  # the parent's record is gone: reported as an unreadable trace

    def produced_unread(self, store: TraceStore, key: str) -> bool:
        """Whether the store names one of the unreadable steps as the producer of ``key``."""
        if not self.unread:
            return False
        producer = _producer(store, key)
        return producer is not None and producer.index < self.unread

    def owner(self, index: int | None) -> str:
        for run, start, end in self.regions:
            if index is not None and start <= index < end:
                return run.id
        return self.run.id

    def add(
        self,
        kind: str,
        message: str,
        *,
        step: int | None = None,
        artifact: str | None = None,
        run: str | None = None,
        markup: str | None = None,
    ) -> None:
        check = _CHECK_OF_KIND.get(kind, "hash_chain")  # a new verify_trace kind: the record
        self.problems.append(
            AuditProblem(check, kind, message, run or self.owner(step), step, artifact, markup)
        )


def _guarded(trace: _Trace, check: str, fn: Callable[..., _T], *args: Any) -> _T | None:
    """Run one check; a store error it meets is a problem of the audit, never its end."""
    try:
        return fn(*args)
    except ReprolamError as exc:
        trace.add("damaged", f"the {check} check could not complete: {exc}")
        return None


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC).isoformat(timespec="seconds")


def _interruption(
    run: RunRecord, steps: Sequence[StepRecord], found: list[Problem]
) -> list[Problem]:
    """An interrupted (or still running) run is one problem, not also an unfinished step."""
    if run.status not in _UNFINISHED_RUN:
        return found
    last = steps[-1] if steps else None
    trailing = last if last is not None and last.status is StepStatus.STARTED else None
    if trailing is not None:
        found = [p for p in found if not (p.kind == "unfinished" and p.step == trailing.index)]
        where = f"during step {trailing.index} ({trailing.action})"
    else:
        where = f"after step {last.index}" if last else "before its first step"
    step = trailing.index if trailing else None
    resume = len(steps) if step is None else step  # fork there: inherit what finished, go on
    if run.status is RunStatus.INTERRUPTED:
        # what the run's own reason says too (a dead process's, a Ctrl-C's); a reproduction
        # is not resumed (its verdict would compare a run finished another day)
        go_on = (
            f"reproduce run {run.verifies} again"  # (resume refuses a reproduction)
            if run.verifies
            else COPY_AGAIN  # (resume refuses it: the rest is recorded in its source)
            if is_stopped_copy(run)
            else f"continue it with `reprolam resume {run.id}`, or fork it at step {resume}"
        )
        message = (
            f"run {run.id} was interrupted {where} ({run.error or 'no reason recorded'}): the "
            f"rest never ran; {go_on}"
        )
        return [Problem("interrupted", message, step=step), *found]
    message = (
        f"run {run.id} has not finished (status running {where}, pid {run.pid} on "
        f"{run.host or '?'}): it is still executing, or its process died before recording the "
        "end; audit it once it has finished"
    )
    return [Problem("running", message, step=step), *found]


def _gaps(steps: Sequence[StepRecord]) -> list[tuple[int, int]]:
    """The ``(first, end)`` ranges of step indices missing between the trace's steps."""
    found, expected = [], 0
    for step in steps:
        if expected < step.index:
            found.append((expected, step.index))
        expected = max(expected, step.index + 1)
    return found


def _lost_steps(store: TraceStore, trace: _Trace, gaps: list[tuple[int, int]]) -> list[Problem]:
    """Missing steps the gap check cannot see (a deleted last step), found through lineage:
    the artifacts table still names them as the producer of an artifact the trace refers to."""
    seen = {key: f"run output {name!r}" for name, key in trace.run.outputs.items()}
    for step in trace.steps:
        for role, named in (("input", step.inputs), ("output", step.outputs)):
            for name, key in named.items():
                seen.setdefault(key, f"{role} {name!r} of step {step.index}")
    lost: dict[int, Problem] = {}
    for key, where in seen.items():
        producer = _producer(store, key)
        if producer is None or trace.owner(producer.index) != producer.run_id:
            continue
        if producer.index in trace.by_index or producer.index in lost:
            continue
        if any(first <= producer.index < end for first, end in gaps):
            continue
        lost[producer.index] = Problem(
            "missing_step",
            f"step {producer.index} of run {producer.run_id} is missing from the trace: the "
            f"artifacts table records it as the producer of {producer.name}={short(key)} "
            f"({where}), but its step row is gone; restore the store from a copy",
            step=producer.index,
            artifact=key,
        )
    return [lost[i] for i in sorted(lost)]


def _producer(store: TraceStore, key: str) -> Producer | None:
    """The recorded producer of an artifact; None if unknown or the artifact row is missing
    (that is reported by the artifacts check)."""
    try:
        return store.artifact_producer(key)
    except ReprolamError:
        return None


def _producers(store: TraceStore, trace: _Trace) -> None:
    """Every artifact the trace outputs names a producer that really output it.

    The producer columns are not covered by a digest: a producer that does not output the
    artifact, or that is not the earliest output of it in its own run, was edited.
    """
    first: dict[tuple[str, str], int] = {}  # (run, digest) -> earliest step outputting it
    for step in trace.steps:
        if step.damaged is None:
            for key in step.outputs.values():
                first.setdefault((step.run_id, key), step.index)
    for run, _start, _end in trace.regions:
        if run.environment:  # an external input: no producer, or one that really output it
            _producer_claim(store, trace, run.environment, f"environment snapshot of {run.id}")
    for (run_id, key), index in sorted(first.items(), key=lambda item: item[1]):
        try:
            producer = store.artifact_producer(key)
        except NotFoundError:
            continue  # a missing artifact row: reported by the artifacts check
        except IntegrityError as exc:
            trace.add("lineage", str(exc), step=index, artifact=key, run=run_id)
            continue
        if producer is None:
            why = "the store records no producer for it"
        elif producer.run_id == run_id and producer.index != index:
            why = f"the store names step {producer.index} as its first producer"
        elif _outputs(store, producer) != key:
            why = (
                f"the store names output {producer.name!r} of step {producer.index} of run "
                f"{producer.run_id}, which did not output it"
            )
        else:
            continue
        trace.add(
            "lineage",
            f"artifact {short(key)}, first output by step {index} of run {run_id}: {why}; "
            "the artifact's producer was edited outside reprolam",
            step=index,
            artifact=key,
            run=run_id,
        )


def _producer_claim(store: TraceStore, trace: _Trace, key: str, what: str) -> None:
    try:
        producer = store.artifact_producer(key)
    except NotFoundError:
        return
    except IntegrityError as exc:
        trace.add("lineage", f"{what}: {exc}", artifact=key)
        return
    if producer is not None and _outputs(store, producer) != key:
        trace.add(
            "lineage",
            f"{what} {short(key)}: the store names output {producer.name!r} of step "
            f"{producer.index} of run {producer.run_id} as its producer, which did not output "
            "it; the artifact's producer was edited outside reprolam",
            artifact=key,
        )


def _outputs(store: TraceStore, producer: Producer) -> str | None:
    """The digest the named producer step output under the named output, if it exists."""
    try:
        step = store.own_step(producer.run_id, producer.index)
    except ReprolamError:
        return None
    value = step.outputs.get(producer.name)
    return value if isinstance(value, str) else None


def _environments(store: TraceStore, trace: _Trace, verified: set[str]) -> set[str]:
    """The runs of the trace (the audited run, fork ancestors) whose snapshot verifies."""
    found: set[str] = set()
    for run, _start, _end in trace.regions:
        key = run.environment
        if run.id == trace.run.id:  # verify_trace checked (and reported) its snapshot
            if key and key in verified:
                found.add(run.id)
        elif not key:
            trace.add("environment", f"fork ancestor run {run.id} has no snapshot", run=run.id)
        else:
            try:
                store.get_artifact(key)
                found.add(run.id)
            except ReprolamError as exc:
                message = f"environment snapshot of fork ancestor run {run.id}: {exc}"
                trace.add("artifact", message, run=run.id, artifact=key)
    return found


def _fields(step: StepRecord, environment: bool) -> StepFields:
    """How many RECORDED_FIELDS an executed step holds, and which REQUIRED_FIELDS it lacks."""
    outputs = bool(step.outputs) or step.status is StepStatus.FAILED
    recorded = {
        "action_version": bool(step.action_version),
        "fingerprint": bool(step.fingerprint),
        "params": isinstance(step.params, dict),  # {}: the action has no params
        "inputs": isinstance(step.inputs, dict) and all(step.inputs.values()),
        "outputs": isinstance(step.outputs, dict) and all(step.outputs.values()) and outputs,
        "seed": step.seed is not None,
        "environment": environment,
        "started_at": isinstance(step.started_at, int | float) and step.started_at > 0,
        "duration": isinstance(step.duration, int | float) and step.duration >= 0,
    }
    missing = tuple(name for name in REQUIRED_FIELDS if not recorded[name])
    texts: tuple[object, ...] = (step.action, step.status, step.action_version, step.fingerprint)
    texts += (step.params, step.inputs, step.outputs, step.proposal, step.prev_hash, step.hash)
    values = (step.seed, step.started_at, step.duration, step.error, step.recovers)
    held = sum(map(bool, texts)) + sum(v is not None for v in values) + environment
    return StepFields(step.index, step.run_id, step.action, held, missing)


def _completeness(trace: _Trace, missing_steps: int, environments: set[str]) -> Completeness:
    steps: list[StepFields] = []
    for step in trace.steps:
        if step.kind is not StepKind.ACTION or step.status not in _EXECUTED:
            continue
        fields = _fields(step, step.run_id in environments)
        steps.append(fields)
        if fields.missing:
            trace.add(
                "incomplete",
                f"step {step.index} ({step.action}) of run {step.run_id} does not record "
                f"{', '.join(fields.missing)}: its execution cannot be fully accounted for",
                step=step.index,
            )
    complete = sum(not s.missing for s in steps)
    return Completeness(len(steps), complete, missing_steps, steps)


def _lineage(store: TraceStore, trace: _Trace, external: set[str]) -> list[LineageLink]:
    """Where every step input came from; unexplained inputs are problems.

    Environment snapshots count as external inputs whether or not they verify (that is
    checked, and reported, by the completeness and artifacts checks).
    """
    snapshots = {run.environment for run, _start, _end in trace.regions if run.environment}
    produced: dict[str, StepRecord] = {}  # digest -> the earliest step of the trace outputting it
    links: list[LineageLink] = []
    for step in trace.steps:
        declared = step_external(step)  # covered by the step hash, like the inputs themselves
        for name, key in step.inputs.items():
            source = produced.get(key)
            if source is not None:
                links.append(
                    LineageLink(step.index, name, key, "step", source.run_id, source.index)
                )
                continue
            producer = _producer(store, key)
            if key in snapshots or name in declared or (key in external and producer is None):
                links.append(LineageLink(step.index, name, key, "external"))
                continue
            links.append(LineageLink(step.index, name, key, "unexplained"))
            if producer is not None and producer.index < trace.unread:
                continue  # an output of a step that cannot be read: said once, as damage
            known = "the artifact is not in the store at all"
            if producer is not None:
                known = f"the store names run {producer.run_id} step {producer.index} as its "
                known += "producer, which is not an earlier step of this trace"
            elif store.has_artifact(key):
                known = "no step in the store produced it (if it entered the run from outside, "
                known += "declare it: audit(..., external_inputs=[digest]))"
            trace.add(
                "lineage",
                f"step {step.index} ({step.action}) input {name!r} = {short(key)} was not "
                f"produced by an earlier step of run {trace.run.id}'s trace: {known}; a step's "
                "inputs or outputs were edited, or a step was deleted",
                step=step.index,
                artifact=key,
            )
        if step.kind is StepKind.ACTION and step.status is StepStatus.SUCCEEDED:
            for key in step.outputs.values():
                produced.setdefault(key, step)
    return links


def _error_gaps(step: StepRecord) -> list[str]:
    """What a failed or rejected step's error record lacks (a traceback: action failures)."""
    action_failure = step.kind is StepKind.ACTION and step.status is StepStatus.FAILED
    if step.error is not None and step.error.type in NO_TRACEBACK:
        action_failure = False  # stopped from outside: there is no Python traceback to keep
    # An action's exception may have no message (``assert``, ``raise ValueError``): its type
    # and traceback then say all there is to say.
    needed = ["type", "traceback"] if action_failure else ["type", "message"]
    error = step.error
    return ["error"] if error is None else [n for n in needed if not getattr(error, n).strip()]


def _failures(trace: _Trace) -> Failures:
    failed = visible = rejected = 0
    recoveries: list[tuple[int, int]] = []
    for step in trace.steps:
        what = f"step {step.index} ({step.action or step.kind.value})"
        if step.status in (StepStatus.FAILED, StepStatus.REJECTED):
            gaps = _error_gaps(step)
            if step.status is StepStatus.FAILED:
                failed += 1
                visible += not gaps
            else:
                rejected += 1
            if gaps:
                trace.add(
                    "error_record",
                    f"{what} {step.status.value} without a complete error record (no "
                    f"{', '.join(gaps)}): the failure is not visible in the trace",
                    step=step.index,
                )
        if step.recovers is None:
            continue
        target = trace.by_index.get(step.recovers)
        if step.recovers >= step.index or target is None:
            why = "not an earlier step" if step.recovers >= step.index else "not in the trace"
        elif target.status is not StepStatus.FAILED:
            why = f"step {target.index} ({target.action or target.kind.value}) {target.status}"
        else:
            recoveries.append((step.index, step.recovers))
            continue
        trace.add(
            "recovery",
            f"{what} says it recovers from step {step.recovers}, but that is {why}: a recovery "
            "must point at an earlier step that failed",
            step=step.index,
        )
    run = trace.run
    if run.status is RunStatus.FAILED and not (run.error or "").strip():
        trace.add("error_record", f"run {run.id} failed without recording why", run=run.id)
    return Failures(failed, visible, rejected, recoveries)


def _reproductions(store: TraceStore, trace: _Trace) -> list[Reproduction]:
    """The runs that verify the audited one, newest first, each compared with it."""
    attempts: list[Reproduction] = []
    for rerun in store.list_runs(verifies=trace.run.id):
        if rerun.status in _UNFINISHED_RUN:
            attempts.append(Reproduction(rerun, None))
            continue
        steps = store.steps(rerun.id)
        damaged = verify_trace(store, rerun, steps)
        attempts.append(Reproduction(rerun, compare_steps(trace.steps, steps), damaged))
        if damaged:
            trace.add(
                "reproduction",
                f"the record of reproduction {rerun.id} is damaged ({len(damaged)} problems, "
                f"first: {damaged[0].message}), so it is not counted; see "
                f"`reprolam audit {rerun.id}`",
                run=rerun.id,
                step=damaged[0].step,
                artifact=damaged[0].artifact,
            )
    latest = _latest(attempts)
    divergence = latest.comparison.divergence if latest and latest.comparison else None
    if latest is not None and divergence is not None:
        trace.add(
            "diverged",
            f"the latest reproduction, {latest.where}, diverged at step {divergence.step}: "
            f"{divergence.message}; see `reprolam diff {trace.run.id} {latest.run.id}`",
            step=divergence.step,
            artifact=divergence.expected,
        )
    return attempts


def _latest(attempts: Sequence[Reproduction]) -> Reproduction | None:
    return next((a for a in attempts if a.verdict in (REPRODUCED, DIVERGED)), None)
