"""One run in progress: the loop that asks the planner, checks, executes and records.

See ``engine.engine`` for the recording discipline this loop implements.
"""

from __future__ import annotations

import copy
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from reprolam import files
from reprolam._frozen import builder
from reprolam.brief import run_words, trace_text
from reprolam.codecs import Serializer, describe
from reprolam.codecs._files import DirManifest, FileManifest
from reprolam.context import ActionContext, seed_after, seed_prefix
from reprolam.engine.cache import StepCache
from reprolam.engine.executors import Executor, Outcome, describe_exception, error_info
from reprolam.engine.faults import ANY_ACTION, injected_error, strikes
from reprolam.engine.observe import hold_routes, refusal, release_routes
from reprolam.engine.outputs import keep_outputs, load_file, note_returned_paths, workdir_root
from reprolam.engine.policy import CheckedProposal, Overrides, Policy
from reprolam.engine.start_state import Checkpoints
from reprolam.errors import ConfigError, PolicyViolation, StoreError
from reprolam.hashing import canonical_json, digest
from reprolam.planning.base import (
    ArtifactRef,
    Decision,
    Done,
    NoProposal,
    Planner,
    Proposal,
    RunState,
)
from reprolam.trace._rows import render_step
from reprolam.trace.anchor import sealed
from reprolam.trace.contract import TraceStore
from reprolam.trace.records import (
    ArtifactRecord,
    ErrorInfo,
    RunRecord,
    RunStatus,
    StepKind,
    StepRecord,
    StepStatus,
    storable,
    storable_name,
    storable_text,
)
from reprolam.trace.step_frame import StepFrame
from reprolam.trace.step_history import StepHistory
from reprolam.workflows.registry import Workflow

if TYPE_CHECKING:
    from reprolam.actions import ActionSpec
    from reprolam.engine.concurrent import Lookahead
    from reprolam.history.audit import AuditReport
    from reprolam.history.replay import ReplayResult
    from reprolam.history.reproduce import ReproduceResult

StepCallback = Callable[[StepRecord], None]
# The engine's own clock reads, unwrapped: they happen between actions, where the effects
# watch's clock probe (engine.observe) only costs a call.
_wall_clock_ns = getattr(time.time_ns, "__wrapped__", time.time_ns)
# built once per step each: without the frozen __init__ (see reprolam._frozen)
_artifact_ref = builder(ArtifactRef)
_artifact_record = builder(ArtifactRecord)


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a new run comes from: a fork of a parent at a step, or a reproduction of a run."""

    parent: RunRecord | None = None
    fork_index: int | None = None
    inherited: Sequence[StepRecord] = ()  # the parent's steps before fork_index, by reference
    verifies: str | None = None


@dataclass(frozen=True, slots=True)
class RunResult:
    """A finished run: its record, its whole trace, and its final output values.

    Results handed out by a client (``reprolam.open``) are bound to it, so the next verb
    reads naturally in a notebook: ``rl.run(...).fork(at="train_model", set={...})``.
    """

    run: RunRecord
    steps: Sequence[StepRecord]  # a fork's inherited steps are read from the store when used
    outputs: dict[str, Any]
    metrics: dict[str, Any] | None = None  # the workflow's headline metrics, when declared
    client: Any = field(default=None, repr=False, compare=False)  # a reprolam.Client

    @property
    def id(self) -> str:
        return self.run.id

    @property
    def status(self) -> RunStatus:
        return self.run.status

    @property
    def succeeded(self) -> bool:
        return self.run.status is RunStatus.SUCCEEDED

    def fork(self, *, at: int | str, **options: Any) -> RunResult:
        """Fork this run (see ``Client.fork``)."""
        return self._client().fork(self.id, at=at, **options)  # type: ignore[no-any-return]

    def reproduce(self, **options: Any) -> ReproduceResult:
        """Re-execute this run and compare (see ``Client.reproduce``)."""
        return self._client().reproduce(self.id, **options)  # type: ignore[no-any-return]

    def replay(self, **options: Any) -> ReplayResult:
        """Verify this run's record, executing nothing (see ``Client.replay``)."""
        return self._client().replay(self.id, **options)  # type: ignore[no-any-return]

    def audit(self) -> AuditReport:
        """Audit this run (see ``Client.audit``)."""
        return self._client().audit(self.id)  # type: ignore[no-any-return]

    def _client(self) -> Any:
        if self.client is None:
            raise ConfigError(
                f"run {self.id} was not returned by a client",
                hint="open one with reprolam.open(store) and call its verbs with this run's id",
            )
        return self.client

    def __repr__(self) -> str:
        return f"<RunResult {run_words(self.run)}, {len(self.steps)} steps>"

    def __str__(self) -> str:
        return trace_text(self.run, self.steps, self.metrics)

    def _repr_html_(self) -> str:
        from reprolam.notebook import run_result_html

        return run_result_html(self)


_PLAIN_SCALARS = frozenset({int, float, str, bool, type(None)})


class RunLoop:
    """The state of one run in progress; lives only as long as ``Engine.run``."""

    def __init__(
        self,
        store: TraceStore,
        executor: Executor,
        serializer: Serializer,
        *,
        workflow: Workflow,
        run: RunRecord,
        planner: Planner,
        policy: Policy,
        overrides: Overrides,
        on_step: StepCallback | None,
        cache: StepCache | None,
    ) -> None:
        self.store = store
        self.executor = executor
        self.serializer = serializer
        self.cache = cache
        self.run = run
        self.planner = planner
        self.policy = policy
        self.overrides = overrides
        self.on_step = on_step
        self.state = RunState(workflow=workflow, run_id=run.id, seed=run.seed)
        # digest -> value of every artifact a name points at: actions never wait on decoding
        self.values: dict[str, Any] = {}
        # files actions read in place (inputs recorded without a copy, materialised copies):
        # checked unchanged whenever a step is given one
        self.watched: dict[str, files.HandedOut] = {}
        self.codecs: dict[str, str] = {}  # digest -> codec tag of everything stored by this run
        self.stored: dict[str, tuple[str, int]] = {}  # digest -> (codec, size) it stored
        self.pending_steps: list[StepRecord] = []
        self.pending_artifacts: list[tuple[ArtifactRecord, bytes]] = []
        self.occurrences: Counter[str] = Counter()
        self.retries: dict[str, int] = {}  # action -> retries spent on its current failure
        self.prev_hash = ""
        # action -> fingerprint of its code and the user code it reaches (engine.code_capture)
        self.fingerprints: dict[str, str] = {}
        self.ahead: Lookahead | None = None  # ready actions started alongside (engine.concurrent)
        self.checkpoints = Checkpoints()  # run-state snapshots for constant-time forks/resumes
        # action -> (its spec, its steps' shared parts, its seeds' text before the occurrence)
        self.frames: dict[str, tuple[ActionSpec, StepFrame, str]] = {}
        self.proposal_texts: dict[str, str] = {}  # planner name -> {"planner": name} as JSON

    def inherit(self, steps: Sequence[StepRecord]) -> None:
        """Start from a fork parent's steps: same state, same seeds, same hash chain."""
        for step in steps:
            self.state.add(step)
            if step.kind is StepKind.ACTION:
                self.occurrences[step.action] += 1
                if step.status is StepStatus.SUCCEEDED:
                    for name, key in step.outputs.items():
                        self.state.artifacts[name] = ArtifactRef(name, key, "", step.index)
            self.prev_hash = step.hash or ""
        if self.run.header_hash and all(step.run_id != self.run.id for step in steps):
            self.prev_hash = self.run.header_hash  # the genesis of this run's own chain
        for name, ref in self.state.artifacts.items():
            codec = self.store.get_artifact_record(ref.digest).codec
            self.state.artifacts[name] = ArtifactRef(name, ref.digest, codec, ref.step)

    def rerun(self, step: StepRecord) -> None:
        """Execute an interrupted step again, as itself: same index, params, inputs, seed."""
        proposal = Proposal(
            step.action,
            params=step.params,
            inputs=step.inputs,
            rationale=str(step.proposal.get("rationale", "")),
            recovers=step.recovers,
            decision={"resumed": True, **step.proposal.get("decision", {})},
            seed=step.seed,
        )
        self._execute(proposal, self.policy.check(proposal, self.state, self.overrides))

    # -- loop ---------------------------------------------------------------------------------

    def drive(self, rerun: StepRecord | None = None) -> RunResult:
        """Run to the end; ``rerun``: an interrupted step to execute again first (resume)."""
        hold_routes()  # the effects watch's stream routers stay between this run's steps
        try:
            return self._drive(rerun)
        except StoreError as exc:
            if type(exc) is not StoreError:  # an integrity refusal: kept, with what it left
                exc.what += (
                    f"; run {self.run.id} stopped there and is recorded as interrupted (the "
                    "steps recorded before are kept)"
                )
                raise
            raise _unfinished(exc, self.run) from exc
        finally:
            release_routes()

    def _drive(self, rerun: StepRecord | None) -> RunResult:
        try:
            if rerun is not None:
                self.rerun(rerun)
            reason = self._loop()
        except KeyboardInterrupt as exc:
            from reprolam._interrupts import interrupts_held

            # what already ran stays recorded: a second Ctrl-C does not cut that short
            with interrupts_held():
                self._finish(RunStatus.INTERRUPTED, describe_exception(exc))
            raise
        except BaseException as exc:  # whatever else stops us: what already ran stays recorded
            self._finish(RunStatus.INTERRUPTED, describe_exception(exc))
            raise
        outputs = self.state.workflow.outputs
        if self.state.has(*outputs):
            return self._finish(RunStatus.SUCCEEDED, None)
        missing = [o for o in outputs if o not in self.state.artifacts]
        return self._finish(
            RunStatus.FAILED, reason or f"planner stopped before producing {missing}"
        )

    def _loop(self) -> str | None:
        """Run until done; returns why the run stopped early, if it did."""
        while True:
            if len(self.state.steps) >= self.checkpoints.next:  # between steps: consistent
                self.checkpoints.take(self)
            exhausted = self.policy.exhausted(self.state)
            if exhausted:
                return exhausted
            decision: Decision | None = self._retry()
            if decision is None:
                if not self.planner.instant:
                    self._flush()
                decision = self.planner.propose(self.state)
            if isinstance(decision, Done):
                return decision.reason or None
            if isinstance(decision, NoProposal):
                self._record_no_proposal(decision)
                continue
            try:
                checked = self.policy.check(decision, self.state, self.overrides)
            except PolicyViolation as violation:
                self._reject(decision, violation)
                continue
            if self.ahead is not None:
                self.ahead.launch(decision, checked)
            self._execute(decision, checked)

    def _retry(self) -> Proposal | None:
        """The policy's explicit retry of a failed action (a new step that recovers from it)."""
        if not self.policy.retries:
            return None
        last = self.state.last_step
        if last is None or last.status is not StepStatus.FAILED:
            return None
        if last.kind is not StepKind.ACTION:
            return None
        attempt = self.retries.get(last.action, 0) + 1
        if attempt > self.policy.retries:
            return None
        self.retries[last.action] = attempt
        return Proposal(
            last.action,
            params=last.params,
            inputs=last.inputs,
            rationale=f"retry {attempt}/{self.policy.retries} of failed step {last.index} "
            "(policy retries)",
            recovers=last.index,
            decision={"retry": attempt},
        )

    def _execute(self, proposal: Proposal, checked: CheckedProposal) -> None:
        begun = self._start(proposal, checked)
        if begun is None:
            return  # a cache hit, recorded as reused: nothing to execute
        started, frame, seed, occurrence = begun
        spec = checked.spec
        index = started.index
        inputs = [self._input(d) for d in checked.inputs.values()]
        ctx = self.context(seed, index)
        started, outcome, duration = self._call(started, spec, inputs, ctx, occurrence)

        error, recorded = self._observations(spec.name, outcome, started.proposal)
        outputs: dict[str, str] = {}
        try:
            if error is None or outcome.error is not None:
                outputs = keep_outputs(self, spec.name, outcome.outputs, ctx)
        except Exception as exc:  # an output that cannot be stored fails the step, visibly
            error, outputs = error_info(exc), {}
        self._append(
            frame.finish(
                started,
                error is not None,
                outputs,
                duration,
                error,
                _placed(recorded, outcome.placement),
            )
        )
        if error is None:
            self.retries.pop(spec.name, None)
            for name, key in outputs.items():
                replaced = self.state.artifacts.get(name)
                self.state.artifacts[name] = _artifact_ref(name, key, self.codecs[key], index)
                if replaced is not None and replaced.digest != key:
                    self._forget(replaced.digest)
                if not self.planner.instant:  # only slow planners (LLMs) read summaries
                    kept = self.values.get(key, outcome.outputs[name])
                    self.state.summaries[key] = describe(kept)
            if not self.planner.instant and spec.summary is not None:
                summary = spec.summarize(outcome.outputs)
                if summary is not None:
                    self.state.step_summaries[index] = summary
            self.state.feedback = None
        else:
            self.state.feedback = (
                f"step {index} ({spec.name}) failed: {error.type}: {error.message}"
            )
        if spec.determinism == "external":
            self._flush()

    def _start(
        self, proposal: Proposal, checked: CheckedProposal
    ) -> tuple[StepRecord, StepFrame, int, int] | None:
        """Record the step as started (committed before its action runs): the record, its
        action's frame, seed and occurrence; None if the cache reused a recorded step."""
        spec = checked.spec
        name = spec.name
        known = self.frames.get(name)
        if known is None or known[0] is not spec:
            known = self._frame(spec)
        _, frame, seed_label = known
        occurrence = self.occurrences[name]
        self.occurrences[name] = occurrence + 1
        seed = proposal.seed
        if seed is None:
            seed = seed_after(seed_label, occurrence)
        record = self._proposal_record(proposal, checked.overridden)
        started = frame.started(
            index=len(self.state.steps),
            # to the microsecond, as its duration: its text is composed cheaply (step_frame)
            started_at=_wall_clock_ns() // 1000 / 1e6,
            params=checked.params,
            inputs=checked.inputs,
            seed=seed,
            proposal=record,
            recovers=proposal.recovers,
            prev_hash=self.prev_hash,
            proposal_text=self._plain_proposal_text(record),
        )
        advice = None
        if self.cache is not None:
            advice = self.cache.advise(
                started,
                external=spec.determinism == "external",
                strict=self.policy.effects == "strict",
            )
        if advice is not None:
            cached = {**started.proposal, "cache": advice.to_dict()}
            started = frame.render_started(replace(started, proposal=cached))
            if advice.reused and self.cache is not None:
                self._reuse(started, self.cache.counterpart(advice))
                return None
        self.pending_steps.append(started)
        self._flush()
        return started, frame, seed, occurrence

    def _frame(self, spec: ActionSpec) -> tuple[ActionSpec, StepFrame, str]:
        """What an action's steps share in this run (``trace.step_frame``) and the start of
        its seeds' text, made at its first step."""
        frame = StepFrame(
            self.run.id,
            spec.name,
            spec.version,
            self.fingerprints.get(spec.name, spec.fingerprint),
            inputs=spec.inputs,
            outputs=spec.outputs,
        )
        made = self.frames[spec.name] = (spec, frame, seed_prefix(self.run.seed, spec.name))
        return made

    def _plain_proposal_text(self, record: dict[str, Any]) -> str | None:
        """The text of a proposal record that names only its planner (most of them), kept."""
        if len(record) != 1:
            return None
        planner = record["planner"]
        text = self.proposal_texts.get(planner)
        if text is None and type(planner) is str:
            text = self.proposal_texts[planner] = canonical_json(record)
        return text

    def context(self, seed: int, index: int) -> ActionContext:
        """What the action of step ``index`` is handed (also when it starts ahead of its turn)."""
        return ActionContext(
            seed=seed,
            run_id=self.run.id,
            step_index=index,
            workdir_root=workdir_root(self),
            effects=self.policy.effects,
        )

    def _call(
        self,
        started: StepRecord,
        spec: ActionSpec,
        inputs: list[Any],
        ctx: ActionContext,
        occurrence: int,
    ) -> tuple[StepRecord, Outcome, float]:
        """Run the step's action (or inject its fault): the step, its outcome and duration."""
        if self.ahead is not None and (ran := self.ahead.take(started)) is not None:
            return ran  # it ran alongside the steps before it (engine.concurrent)
        faults = self.policy.faults
        t0 = time.perf_counter()
        if faults and strikes(faults, self.run.seed, spec.name, occurrence):
            rate = faults.get(spec.name, faults.get(ANY_ACTION, 0.0))
            outcome = Outcome(error=injected_error(spec.name, rate, occurrence))
        else:
            outcome = self.executor.execute(
                spec, inputs, started.params, ctx, timeout=self.policy.action_timeout
            )
        return started, outcome, time.perf_counter() - t0

    def _observations(
        self, action: str, outcome: Outcome, proposal: dict[str, Any]
    ) -> tuple[ErrorInfo | None, dict[str, Any]]:
        """The step's error (a strict refusal of undeclared effects) and proposal record."""
        if not outcome.observed:
            return outcome.error, proposal
        if outcome.observed.get("effects") and outcome.outputs:
            effects = note_returned_paths(outcome.observed["effects"], outcome.outputs)
            outcome.observed["effects"] = effects
        observed = self._observed(outcome.observed)
        refused = refusal(action, observed.get("effects", ()), self.policy.effects)
        error = outcome.error
        if refused is not None and (error is None or error.type == refused.type):
            error = refused  # the refusal names every undeclared effect and the fix
        return error, {**proposal, "observed": observed}

    def _observed(self, observed: dict[str, Any]) -> dict[str, Any]:
        """What the step records of an observation: effects inline, captured output by digest."""
        summary: dict[str, Any] = {}
        if observed.get("effects"):  # paths a store can hold (a file name not UTF-8: escaped)
            summary["effects"] = storable(observed["effects"])
        output = {k: v for k, v in observed.items() if k != "effects"}
        if output:
            summary["output"], _, _ = self._queue(output)
            summary["printed"] = len(output.get("stdout", "")) + len(output.get("stderr", ""))
            summary["warnings"] = len(output.get("warnings", ()))
        return summary

    def _reuse(self, started: StepRecord, counterpart: StepRecord) -> None:
        """Take a cache hit's recorded outputs instead of executing (recorded as reused)."""
        self._append(
            replace(
                started,
                status=StepStatus.SUCCEEDED,
                outputs=dict(counterpart.outputs),
                duration=0.0,
            )
        )
        for name, key in counterpart.outputs.items():
            codec = self.store.get_artifact_record(key).codec
            replaced = self.state.artifacts.get(name)
            self.state.artifacts[name] = ArtifactRef(name, key, codec, started.index)
            if replaced is not None and replaced.digest != key:
                self._forget(replaced.digest)
        self.state.feedback = None

    def _reject(self, proposal: Proposal, violation: PolicyViolation) -> None:
        # What a planner proposed is recorded as a store can hold it: a rejected name may
        # hold anything (a NUL, a lone surrogate), and must not stop the run it is refused in.
        step = StepRecord(
            run_id=self.run.id,
            index=len(self.state.steps),
            kind=StepKind.REJECTION,
            action=storable_name(proposal.action),
            status=StepStatus.REJECTED,
            started_at=time.time(),
            params=storable(_jsonable(dict(proposal.params))),
            duration=0.0,
            error=ErrorInfo(type="PolicyViolation", message=storable_text(violation.reason)),
            proposal=storable({**self._proposal_record(proposal, ()), "check": violation.check}),
            recovers=proposal.recovers,
            prev_hash=self.prev_hash,
        )
        self._append(step)
        what = proposal.action or "(no tool call)"
        self.state.feedback = f"proposal {what} rejected: {violation.reason}"

    def _record_no_proposal(self, empty: NoProposal) -> None:
        # The consultation's own time (an LLM call that failed or timed out), when it says.
        latency = empty.decision.get("latency")
        took = round(latency, 6) if type(latency) is float and 0 <= latency < 1e9 else 0.0
        self._append(
            StepRecord(
                run_id=self.run.id,
                index=len(self.state.steps),
                kind=StepKind.DECISION,
                action="",
                status=StepStatus.FAILED,
                started_at=round(time.time() - took, 6),
                duration=took,
                error=ErrorInfo(type=empty.error_type, message=empty.reason),
                proposal={
                    "planner": self.planner.name,
                    "decision": _jsonable(dict(empty.decision)),
                },
                prev_hash=self.prev_hash,
            )
        )
        self.state.feedback = f"planner: {empty.reason}"

    # -- recording ----------------------------------------------------------------------------

    def _append(self, step: StepRecord) -> None:
        """Seal a finished step into the chain and queue it for the next commit."""
        if step.rendered is None or step.hash is None:
            render_step(step)  # sealed on the way
        self.prev_hash = step.hash or ""
        self.state.add(step)
        self.pending_steps.append(step)

    def _keep(self, value: Any) -> str:
        """Encode an output, queue its bytes (once) and remember the value as recorded.

        Downstream actions get the value decoded from the recorded bytes, never the producer's
        object: a live run, a fork, a reuse and a reproduction then feed actions identical
        inputs (same dtypes, same memory layout, so the same floating-point results).
        """
        key, tag, data = self._queue(value)
        if key not in self.values:
            # Plain scalars come back as themselves: skip the round trip on the hot path.
            plain = type(value) in _PLAIN_SCALARS
            # Decoded as trusted: these bytes were encoded from a live value just now; kept
            # read-only where a codec can share the bytes' memory (actions get copies)
            self.values[key] = value if plain else self.serializer.loads_kept(tag, data)
        return key

    def _queue(self, value: Any) -> tuple[str, str, bytes]:
        """Encode a value and queue its bytes for the next write, once per run: its digest,
        codec and bytes. Everything the run stores goes through here, so the seal knows it."""
        tag, data = self.serializer.dumps_typed(value)
        key = digest(data)
        if key not in self.codecs:
            self.codecs[key] = tag
            self.stored[key] = (tag, len(data))
            self.pending_artifacts.append((_artifact_record(key, tag, len(data)), data))
        return key, tag, data

    def _forget(self, key: str) -> None:
        """Drop a cached value no artifact name points at any more (memory stays bounded)."""
        for ref in self.state.artifacts.values():
            if ref.digest == key:
                return
        self.values.pop(key, None)
        self.watched.pop(key, None)

    def _value(self, key: str) -> Any:
        if key not in self.values:
            record, data = self.store.get_artifact(key)
            value = self.serializer.loads_typed(record.codec, data)
            self.values[key] = load_file(self.store, record.codec, value, key)  # files: a path
            if isinstance(value, FileManifest | DirManifest):
                self.watched[key] = files.KeptCopy(self.store, value, key)
        return self.values[key]

    def _input(self, key: str) -> Any:
        """An input as an action is handed it: its own copy (plain scalars are immutable and
        shared), so an action that changes an input in place cannot change what a later action
        reads: every consumer reads the value the record holds under ``key``."""
        if self.watched and key in self.watched:  # a file read in place: still unchanged?
            self.watched[key].check()
        value = self._value(key)
        if type(value) in _PLAIN_SCALARS:
            return value
        try:
            return copy.deepcopy(value)
        except Exception:  # an object deepcopy cannot copy: decode it again
            record, data = self.store.get_artifact(key)
            return self.serializer.loads_typed(record.codec, data)

    def _flush(self, run: RunRecord | None = None) -> None:
        """Record what is pending; then ``on_step`` hears of each finished step (never of one
        the store did not take: a progress line must not show a step the trace lacks)."""
        if self.pending_steps or self.pending_artifacts or run is not None:
            steps = self.pending_steps
            self.store.record(steps=steps, artifacts=self.pending_artifacts, run=run)
            self.pending_steps = []
            self.pending_artifacts = []
            for step in steps:
                if step.hash is not None:  # finished: the store has its row; memory stays lean
                    object.__setattr__(step, "rendered", None)
                    if self.on_step is not None:
                        self.on_step(step)

    def _finish(self, status: RunStatus, reason: str | None) -> RunResult:
        if self.ahead is not None:
            self.ahead.close()  # what was started ahead and never reached is dropped
        outputs = {
            name: self.state.artifacts[name].digest
            for name in self.state.workflow.outputs
            if name in self.state.artifacts
        }
        self.run = replace(
            self.run, status=status, finished_at=time.time(), outputs=outputs, error=reason
        )
        if status is not RunStatus.INTERRUPTED and self.run.header_hash:
            self.run = sealed(self.store, self.run, self.state.steps, self.stored)
        self._flush(self.run)
        if status is not RunStatus.INTERRUPTED:  # else the state may be mid-step: not kept
            self.checkpoints.take(self)
        self.checkpoints.persist(self)
        values = {name: _own_copy(self._value(key)) for name, key in outputs.items()}
        steps = self.state.steps
        return RunResult(self.run, steps if isinstance(steps, StepHistory) else list(steps), values)

    def _proposal_record(self, proposal: Proposal, overridden: tuple[str, ...]) -> dict[str, Any]:
        record: dict[str, Any] = {"planner": self.planner.name}
        if proposal.rationale:
            record["rationale"] = proposal.rationale
        if proposal.params:
            record["params"] = _jsonable(dict(proposal.params))
        if proposal.inputs:
            record["inputs"] = dict(proposal.inputs)
        if overridden:
            record["overridden"] = list(overridden)
        if proposal.decision:
            record["decision"] = _jsonable(dict(proposal.decision))
        return record


def _unfinished(failure: StoreError, run: RunRecord) -> StoreError:
    """The store failed mid-run (a database server stopped, a full disk): the error says which
    run it left unfinished and how to go on once the store works again."""
    from reprolam.trace.leases import go_on

    return StoreError(
        f"{failure}; run {run.id} stopped before it finished (the steps recorded so far are "
        f"kept): once the store works again, {go_on(run.id, run.verifies)}"
    )


def _own_copy(value: Any) -> Any:
    """An output as the caller gets it: an array the run kept read-only (``_keep``) as a
    writable copy of its own; anything else as kept."""
    if getattr(getattr(value, "flags", None), "writeable", True):
        return value
    return value.copy()


def _placed(proposal: dict[str, Any], placement: dict[str, Any] | None) -> dict[str, Any]:
    """The proposal record, plus where the action ran when an executor says (a remote worker)."""
    if not placement:
        return proposal
    return {**proposal, "placement": _jsonable(placement)}


def _jsonable(value: Any) -> Any:
    """Planner-supplied data made safe for canonical JSON (unknown types become their repr)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return repr(value)
