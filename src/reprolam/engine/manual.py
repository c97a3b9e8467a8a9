"""A run built by hand, one recorded step at a time, outside any workflow.

The engine records the steps a planner chooses; ``ManualRun`` records the steps *you*
execute (``reprolam.execute``) in the order you choose, with what the paper's package lets
users say about them: a label per step (``A1``, ``A3_prime``), explicit control edges
(``after``), recovery of a failed step (``recovers``), and forks you extend yourself.

What it writes is an ordinary run: hash-chained steps, content-addressed artifacts, an
environment snapshot, so ``reprolam show/replay/audit/export`` read it like any other.

* Every ``record`` is one atomic store write (the step, its new artifacts, the updated run).
* The run record is finished after every write: ``succeeded``, or ``failed`` while a failed
  step has no later step that follows it (``after``) or recovers from it. A process that
  stops between two records leaves a complete run, never one stuck ``running``. Its
  outputs are those of its leaves: steps no later step follows or recovers from.
* An input value that an earlier step of the trace output is recorded as that artifact
  (lineage); any other value is stored and declared external (see ``trace.links``).
  Params must be JSON; a param that is not is stored like an external input.
* Values are kept as they decode from their stored bytes, as the engine hands them on.

Example::

    import reprolam
    with reprolam.open_store("memory:") as store:
        run = reprolam.ManualRun(store)
        run.record(reprolam.execute(lambda path: [1, 2, 3], inputs={"path": "x.csv"},
                                    action="load"), label="A1")
        run.record(reprolam.execute(lambda data: sum(data), inputs={"data": run.value("A1")},
                                    action="total"), label="A2", after=["A1"])
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, Any

from reprolam.engine.cache import CacheAdvice
from reprolam.engine.environment import environment_snapshot
from reprolam.engine.executors import error_info
from reprolam.engine.single import Executed
from reprolam.errors import ConfigError, NotFoundError
from reprolam.hashing import canonical_json_bytes, digest
from reprolam.ids import uuid7
from reprolam.trace.anchor import MISSING, ReferenceStream
from reprolam.trace.contract import TraceStore
from reprolam.trace.links import AFTER_KEY, EXTERNAL_KEY, LABEL_KEY, step_after, step_label
from reprolam.trace.records import (
    ArtifactRecord,
    ErrorInfo,
    RunRecord,
    RunStatus,
    StepKind,
    StepRecord,
    StepStatus,
    run_header_hash,
    seal,
    seal_over,
    storable,
)

if TYPE_CHECKING:
    from reprolam.codecs import Serializer

PLANNER = "manual"  # the planner name of hand-built runs: steps chosen by the user's code
StepRef = int | str  # a step index, or a step label

_Artifacts = dict[str, tuple[ArtifactRecord, bytes]]
_NOT_FRESH = object()

# (store location, run id) -> how many steps the run has, as the last ``ManualRun`` of this
# process to write into it left it: another object for the same run (a reopened one) that
# knows fewer would write its next step over one it has not seen. Bounded: the oldest go.
_LENGTHS: dict[tuple[str, str], int] = {}
_MAX_LENGTHS = 4096


class ManualRun:
    """One hand-built run in ``store`` (created at its first ``record``)."""

    def __init__(
        self,
        store: TraceStore,
        *,
        name: str = "manual",
        seed: int = 0,
        serializer: Serializer | None = None,
    ) -> None:
        self.store = store
        self.name = name
        self.seed = seed
        if serializer is None:
            from reprolam.codecs import default_serializer  # numpy and pandas: when needed

            serializer = default_serializer()
        self.serializer = serializer
        self.run: RunRecord | None = None
        self.steps: list[StepRecord] = []  # the whole trace: inherited steps, then own
        self._labels: dict[str, int] = {}
        self._produced: dict[str, int] = {}  # digest -> first succeeded step outputting it
        self._ends = _Ends()  # what the run record says: its outputs, unhandled failures
        self._head = ""  # the hash the next step chains to (the run's header hash, at first)
        self._known: dict[str, str] = {}  # digest -> "codec size", for the seal's lines
        # The seal's reference lines of the trace so far (``trace.anchor``, version 2): each
        # step adds its own, so re-sealing after a step costs the same at any length.
        self._stream = ReferenceStream()
        self._codecs: dict[str, str] = {}  # digest -> codec, of values this object stored
        # Values the last record() decoded from the bytes it stored (its load-back check),
        # each handed out once by load(): reading back what was just recorded needs no
        # store read (on SQLite a read applies the journal first, ~0.4 ms).
        self._decoded: dict[str, Any] = {}
        self._fresh: dict[str, Any] = {}

    # -- reading ------------------------------------------------------------------------------

    @classmethod
    def open(
        cls, store: TraceStore, run_ref: str, *, serializer: Serializer | None = None
    ) -> ManualRun:
        """A recorded run (full id or unique prefix), to read and, if built by hand, extend."""
        run = store.get_run(store.resolve_run_id(run_ref))
        built = cls(store, name=run.workflow, seed=run.seed, serializer=serializer)
        built.run = run
        steps = store.steps(run.id)
        built._inherit(steps, extra=[run.environment or ""])
        if run.header_hash and all(step.run_id != run.id for step in steps):
            built._head = run.header_hash  # no step of its own yet: the chain starts at its header
        _written(store.location, run.id, len(steps))  # what it has now, whoever extended it
        return built

    @property
    def id(self) -> str | None:
        """The run id; None until the first step is recorded."""
        return self.run.id if self.run is not None else None

    @property
    def labels(self) -> dict[str, int]:
        """Label -> step index, for the labelled steps of the whole trace."""
        return dict(self._labels)

    def index_of(self, ref: StepRef) -> int:
        """The index of a step given by index or label; ``NotFoundError`` if there is none."""
        if isinstance(ref, int) and not isinstance(ref, bool):
            if 0 <= ref < len(self.steps):
                return ref
        elif isinstance(ref, str) and ref in self._labels:
            return self._labels[ref]
        known = ", ".join(self._labels) or "none"
        raise NotFoundError(
            f"no step {ref!r} in {self._where()}: it has steps 0..{len(self.steps) - 1}, "
            f"labelled {known}"
        )

    def step(self, ref: StepRef) -> StepRecord:
        return self.steps[self.index_of(ref)]

    def value(self, ref: StepRef, name: str | None = None) -> Any:
        """Output ``name`` of a step (its only output by default), read from the store.

        The bytes are verified against their digest; nothing is executed.
        """
        step = self.step(ref)
        if name is None:
            if len(step.outputs) != 1:
                raise ConfigError(
                    f"step {step.index} has outputs {sorted(step.outputs)}: pass {{name}}"
                )
            (key,) = step.outputs.values()
        elif name in step.outputs:
            key = step.outputs[name]
        else:
            raise NotFoundError(f"step {step.index} has no output {name!r}: {sorted(step.outputs)}")
        return self.load(key)

    def load(self, key: str) -> Any:
        """An artifact's value, verified against its digest."""
        fresh = self._fresh.pop(key, _NOT_FRESH)
        if fresh is not _NOT_FRESH:  # decoded from the very bytes hashed to ``key``
            return fresh
        record, data = self.store.get_artifact(key)
        return self.serializer.loads_typed(record.codec, data)

    # -- writing ------------------------------------------------------------------------------

    def record(
        self,
        executed: Executed,
        *,
        label: str | None = None,
        after: Sequence[StepRef] = (),
        recovers: StepRef | None = None,
        decision: Mapping[str, Any] | None = None,
    ) -> StepRecord:
        """Record an execution as the next step; returns the sealed, stored step.

        ``label`` names the step (unique in the trace); ``after`` lists the earlier steps it
        follows by control; ``recovers`` the earlier failed step it recovers from;
        ``decision`` is kept as the step's raw decision (JSON). Bad references raise
        ``ConfigError`` before anything is written.
        """
        self._check_writable()
        links = self._links(label, after, recovers)
        recovered = links.pop("_recovers", None)
        values = dict(executed.inputs)
        params: dict[str, Any] = {}
        for key, value in executed.params.items():
            if _is_json(value):
                params[key] = value
            else:  # kept as an artifact, like an input (a param in reprolam is JSON)
                values[key if key not in values else f"param.{key}"] = value
        artifacts: _Artifacts = {}
        error = executed.error
        inputs: dict[str, str] = {}
        outputs: dict[str, str] = {}
        try:
            for role, source, target in (
                ("input", values, inputs),
                ("output", executed.outputs, outputs),
            ):
                for key, value in source.items():
                    what = f"{role} {key!r}"
                    target[key] = self._keep(value, artifacts)
        except Exception as exc:  # a value that cannot be stored fails the step, visibly
            problem, outputs = _unstorable(what, exc), {}
            if error is None:
                error = problem
            else:  # the execution's own failure stays the first thing said
                error = replace(error, message=f"{error.message} (and {problem.message})")
        proposal: dict[str, Any] = {"planner": PLANNER, **links}
        if executed.observed:
            proposal["observed"] = self._observed(executed.observed, artifacts)
        if decision:
            proposal["decision"] = _json_only(dict(decision))
        step = StepRecord(
            run_id="",  # set by _commit
            index=len(self.steps),
            kind=StepKind.ACTION,
            action=executed.action,
            status=StepStatus.FAILED if error else StepStatus.SUCCEEDED,
            started_at=executed.started_at,
            action_version=executed.version,
            fingerprint=executed.fingerprint,
            params=params,
            inputs=inputs,
            outputs=outputs,
            seed=executed.seed,
            duration=executed.duration,
            error=error,
            proposal=proposal,
            recovers=recovered,
        )
        try:
            (recorded,) = self._commit([step], artifacts)
        except BaseException:
            self._decoded = {}
            raise
        self._fresh, self._decoded = self._decoded, {}
        return recorded

    def fork(self, at: StepRef, *, carry: Sequence[StepRef] = ()) -> ManualRun:
        """A new hand-built run inheriting this trace's steps before ``at`` by reference.

        ``at`` is a step index (or label): steps with a smaller index are inherited, nothing
        is copied or executed, and the fork continues their hash chain. ``carry`` names
        later steps to bring along without executing them: each is recorded in the fork as
        a reuse of the original (its outputs taken, ``proposal.cache.reused``).
        """
        if self.run is None:
            raise ConfigError("nothing to fork: no step has been recorded in this run yet")
        index = len(self.steps) if at == len(self.steps) else self.index_of(at)
        carried = sorted({self.index_of(ref) for ref in carry})
        if carried and carried[0] < index:
            raise ConfigError(
                f"carry {carried[0]}: step {carried[0]} is before the fork point {index} and "
                "is inherited anyway; carry only later steps"
            )
        fork = ManualRun(
            self.store, name=self.run.workflow, seed=self.seed, serializer=self.serializer
        )
        fork.run = RunRecord(
            id=uuid7(),
            workflow=self.run.workflow,
            seed=self.seed,
            created_at=time.time(),
            planner={"name": PLANNER},
            parent_id=self.run.id,
            fork_index=index,
        )
        fork._inherit(self.steps[:index], known=self._known)
        renumbered = {i: i for i in range(index)}
        copies: list[StepRecord] = []
        for old in (self.steps[i] for i in carried):
            renumbered[old.index] = new_index = index + len(copies)
            advice = CacheAdvice(old.run_id, old.index, (), old.status is StepStatus.FAILED, True)
            after = [renumbered[i] for i in step_after(old) if i in renumbered]
            proposal = {**old.proposal, "cache": advice.to_dict()}
            proposal.pop(AFTER_KEY, None)
            if after:
                proposal[AFTER_KEY] = after
            recovers = renumbered.get(old.recovers) if old.recovers is not None else None
            copies.append(
                replace(
                    old,
                    run_id="",
                    index=new_index,
                    started_at=time.time(),
                    duration=0.0,
                    proposal=proposal,
                    recovers=recovers,
                    hash=None,
                )
            )
        fork._commit(copies, {}, create=True)
        return fork

    # -- internals ----------------------------------------------------------------------------

    def _links(
        self, label: str | None, after: Sequence[StepRef], recovers: StepRef | None
    ) -> dict[str, Any]:
        links: dict[str, Any] = {}
        if label is not None:
            if not isinstance(label, str) or not label:
                raise ConfigError(f"a step label is a non-empty string, got {label!r}")
            if label in self._labels:
                raise ConfigError(
                    f"label {label!r} is already step {self._labels[label]} of "
                    f"{self._where()}: each label names one step"
                )
            links[LABEL_KEY] = label
        if isinstance(after, str | int):
            after = [after]
        followed = sorted({self.index_of(ref) for ref in after})
        if followed:
            links[AFTER_KEY] = followed
        if recovers is not None:
            target = self.step(recovers)
            if target.status is not StepStatus.FAILED:
                raise ConfigError(
                    f"step {target.index} ({step_label(target) or target.action}) "
                    f"{target.status.value}: only a failed step can be recovered from"
                )
            links["_recovers"] = target.index
        return links

    def _observed(self, observed: Mapping[str, Any], artifacts: _Artifacts) -> dict[str, Any]:
        """What a step records of what the effects watch saw, as the engine records it: the
        effects inline, what the action printed and warned as an artifact."""
        summary: dict[str, Any] = {}
        if observed.get("effects"):
            summary["effects"] = storable(observed["effects"])
        output = {k: v for k, v in observed.items() if k != "effects"}
        if output:
            summary["output"] = self._keep(output, artifacts)
            summary["printed"] = len(output.get("stdout", "")) + len(output.get("stderr", ""))
            summary["warnings"] = len(output.get("warnings", ()))
        return summary

    def _keep(self, value: Any, artifacts: _Artifacts) -> str:
        """Encode a value, check it loads back safely, queue its bytes once; its digest."""
        tag, data = self.serializer.dumps_typed(value)
        key = digest(data)
        if key not in self._codecs and key not in artifacts:
            # What cannot be read back is not recorded.
            self._decoded[key] = self.serializer.loads_typed(tag, data)
            artifacts[key] = (ArtifactRecord(key, tag, len(data)), data)
        return key

    def _commit(
        self, steps: list[StepRecord], artifacts: _Artifacts, *, create: bool = False
    ) -> list[StepRecord]:
        """Seal ``steps`` into the chain and write them with their artifacts and the run."""
        if self.run is None:
            self.run = RunRecord(
                id=uuid7(),
                workflow=self.name,
                seed=self.seed,
                created_at=time.time(),
                planner={"name": PLANNER},
            )
            create = True
        environment: tuple[ArtifactRecord, bytes] | None = None
        if create:
            env_tag, env_data = self.serializer.dumps_typed(environment_snapshot())
            env_key = digest(env_data)
            environment = (ArtifactRecord(env_key, env_tag, len(env_data)), env_data)
            self._known[env_key] = f"{env_tag} {len(env_data)}"
            run = replace(self.run, environment=env_key, host=socket.gethostname(), pid=os.getpid())
            inherited_head = (self.steps[-1].hash or "") if self.steps else ""
            self.run = replace(run, header_hash=run_header_hash(run, inherited_head))
            self._head = self.run.header_hash or ""
        sealed: list[StepRecord] = []
        prev = self._head
        for step in steps:
            external = [name for name, key in step.inputs.items() if key not in self._produced]
            proposal = {**step.proposal, EXTERNAL_KEY: external}
            if not external:
                del proposal[EXTERNAL_KEY]
            done = seal(replace(step, run_id=self.run.id, prev_hash=prev, proposal=proposal))
            sealed.append(done)
            prev = done.hash or ""
        for key, (record, _data) in artifacts.items():
            self._known[key] = f"{record.codec} {record.size}"
        stream = self._stream.copy()  # kept only once the store has the steps
        for step in sealed:
            stream.add_step(step, self._known)
        finished, ends = self._finished(sealed)
        # Sealed after every step: the run is finished whenever nobody is recording into it.
        if finished.header_hash is not None:
            count = len(self.steps) + len(sealed)
            last = sealed[-1] if sealed else self.steps[-1] if self.steps else None
            lines = stream.sealed(finished, self._known)
            seal_hash = seal_over(finished, count, last.hash if last else "", lines, version=2)
            finished = replace(finished, seal=seal_hash)
        # Extended only if nobody else has since this object read the run (extend_run)
        extend = partial(
            self.store.extend_run,
            self.run.id,
            len(self.steps),
            steps=sealed,
            artifacts=list(artifacts.values()),
            run=finished,
        )
        if environment is not None:
            with self.store.lease(self.run.id):
                self.store.record(artifacts=[environment])  # before the run that names it
                self.store.create_run(self.run)
                extend()
        else:
            extend()
        self.run = finished
        self._ends = ends
        self._stream = stream
        self._head = prev
        for key, (record, _data) in artifacts.items():
            self._codecs[key] = record.codec
        for step in sealed:
            self._remember(step)
        _written(self.store.location, self.run.id, len(self.steps))
        return sealed

    def _finished(self, steps: Sequence[StepRecord]) -> tuple[RunRecord, _Ends]:
        """The run record once ``steps`` are added: finished, with status, outputs and error.

        Kept up to date step by step (never recomputed over the whole trace), so recording
        stays constant-time however long the run grows.
        """
        assert self.run is not None
        ends = self._ends.copy()
        by_index = {s.index: s for s in steps}
        for step in steps:
            ends.advance(step, lambda i: by_index.get(i) or self.steps[i])
        error = None
        if ends.unhandled:
            error = ends.unhandled[min(ends.unhandled)]
        record = replace(
            self.run,
            status=RunStatus.FAILED if error else RunStatus.SUCCEEDED,
            finished_at=time.time(),
            outputs={name: key for name, (_index, key) in ends.outputs.items()},
            error=error,
        )
        return record, ends

    def _inherit(
        self,
        steps: Sequence[StepRecord],
        *,
        known: Mapping[str, str] | None = None,
        extra: Sequence[str] = (),
    ) -> None:
        """Start from recorded steps (a reopened run, a fork's inherited prefix).

        ``known``: codec and size of artifacts already read; the others are read at once.
        """
        for step in steps:
            self._remember(step)
            self._ends.advance(step, lambda i: self.steps[i])
        self._head = (steps[-1].hash or "") if steps else ""
        self._known.update(known or {})
        wanted = {key for step in steps for key in (*step.inputs.values(), *step.outputs.values())}
        wanted.update(key for key in extra if key)
        self._describe(sorted(wanted))
        for step in steps:
            self._stream.add_step(step, self._known)

    def _describe(self, keys: Sequence[str]) -> None:
        """Read the codec and size of the artifacts the seal lists and are not known yet."""
        missing = [key for key in keys if key not in self._known]
        if missing:
            records = self.store.artifact_records(missing)
            for key in missing:
                record = records.get(key)
                self._known[key] = MISSING if record is None else f"{record.codec} {record.size}"

    def _remember(self, step: StepRecord) -> None:
        self.steps.append(step)
        label = step_label(step)
        if label is not None:
            self._labels.setdefault(label, step.index)
        if step.status is StepStatus.SUCCEEDED:
            for key in step.outputs.values():
                self._produced.setdefault(key, step.index)

    def _check_writable(self) -> None:
        if self.run is None:
            return
        if self.run.planner.get("name") != PLANNER:
            raise ConfigError(
                f"run {self.run.id} was recorded by the engine (planner "
                f"{self.run.planner.get('name')!r}), not built by hand: fork it to extend it"
            )
        known = _LENGTHS.get((self.store.location, self.run.id))
        if known is not None and known != len(self.steps):
            raise ConfigError(
                f"run {self.run.id} has {known} steps, this object knows {len(self.steps)}: "
                "another object for the same run (ManualRun.open, ExecutionTrace.open) has "
                "extended it since, and a step recorded here would replace one; record "
                "through that object, or open the run again"
            )

    def _where(self) -> str:
        return f"run {self.run.id}" if self.run is not None else "this (empty) run"


class _Ends:
    """A hand-built run's ends: the outputs of its leaves, and its unhandled failures.

    A step's outputs are run outputs while it is the latest producer of their names and no
    later step follows it (``after``) or recovers from it; a failed step is unhandled until
    one does.
    """

    def __init__(self) -> None:
        self.outputs: dict[str, tuple[int, str]] = {}  # name -> (producing step, digest)
        self.unhandled: dict[int, str] = {}  # failed step -> why the run failed

    def copy(self) -> _Ends:
        ends = _Ends()
        ends.outputs, ends.unhandled = dict(self.outputs), dict(self.unhandled)
        return ends

    def advance(self, step: StepRecord, lookup: Callable[[int], StepRecord]) -> None:
        followed = set(step_after(step))
        if step.recovers is not None:
            followed.add(step.recovers)
        for index in followed:
            self.unhandled.pop(index, None)
            for name in lookup(index).outputs:
                if self.outputs.get(name, (None,))[0] == index:
                    del self.outputs[name]
        if step.kind is not StepKind.ACTION:
            return
        if step.status is StepStatus.SUCCEEDED:
            for name, key in step.outputs.items():
                self.outputs[name] = (step.index, key)
        elif step.status is StepStatus.FAILED:
            what = step_label(step) or step.action
            why = f"{step.error.type}: {step.error.message}" if step.error else "no error"
            self.unhandled[step.index] = (
                f"step {step.index} ({what}) failed ({why}) and no later step follows or "
                "recovers from it"
            )


def _written(location: str, run_id: str, length: int) -> None:
    """Remember how many steps this process left ``run_id`` with (see ``_LENGTHS``)."""
    key = (location, run_id)
    _LENGTHS.pop(key, None)  # re-inserted last: the oldest entries are the first to go
    if len(_LENGTHS) >= _MAX_LENGTHS:
        del _LENGTHS[next(iter(_LENGTHS))]
    _LENGTHS[key] = length


def _unstorable(what: str, exc: Exception) -> ErrorInfo:
    """The error of a step whose value cannot be recorded (the store keeps only what loads)."""
    found = error_info(exc)
    give = "return" if what.startswith("output") else "pass"  # an input is given, not returned
    message = f"{what} cannot be stored: {found.message}; {give} plain data, arrays, frames "
    message += "or models, or register a codec for the type (Serializer.register)"
    return replace(found, message=message)


def _is_json(value: Any) -> bool:
    try:
        canonical_json_bytes(value)
    except (TypeError, ValueError, RecursionError):
        return False
    return True


def _json_only(value: Any) -> Any:
    """Caller-supplied data made safe for canonical JSON (unknown types become their repr)."""
    if isinstance(value, Mapping):
        return {str(k): _json_only(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_only(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return repr(value)
