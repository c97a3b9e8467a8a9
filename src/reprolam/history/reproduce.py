"""Reproduce: re-execute a run from its recorded decisions and compare every output hash.

The original is verified first (a damaged record is reported, nothing is executed or
written). The re-execution uses the recorded params, input bindings and seeds, takes every
planner decision from the trace (never an LLM), runs in the current environment, and is
itself recorded as a run that ``verifies`` the original — so the store remembers when and
where a run was last reproduced, and ``reprolam diff`` can show exactly what changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from reprolam.codecs import Serializer, default_serializer
from reprolam.engine.cache import StepCache
from reprolam.engine.engine import Engine, Origin, StepCallback
from reprolam.engine.policy import Policy
from reprolam.errors import WorkflowError
from reprolam.hashing import short
from reprolam.history.diff import environment_diff, load_json
from reprolam.history.recorded import RecordedDecisions
from reprolam.history.tolerance import values_close
from reprolam.history.verify import Problem, verify_trace
from reprolam.trace.contract import TraceStore
from reprolam.trace.records import RunRecord, StepRecord
from reprolam.workflows.registry import Workflow, load_workflow


@dataclass(frozen=True, slots=True)
class Divergence:
    """The first place where the re-execution did not give what was recorded."""

    step: int
    action: str | None
    what: str  # output | status | action | missing | extra
    message: str
    output: str | None = None
    expected: str | None = None
    actual: str | None = None
    fingerprint: tuple[str, str] | None = None  # (recorded, now) when the action's code changed

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class ReproduceResult:
    original: RunRecord
    reproduction: RunRecord | None  # None when the original could not be verified
    compared: int = 0
    identical: int = 0
    within_tolerance: int = 0
    divergence: Divergence | None = None
    problems: list[Problem] = field(default_factory=list)  # in the original's record
    environment: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    rtol: float | None = None

    @property
    def reproduced(self) -> bool:
        return not self.problems and self.divergence is None and self.reproduction is not None

    @property
    def bitwise(self) -> bool:
        return self.reproduced and self.identical == self.compared

    def summary(self) -> str:
        if self.problems:
            return f"not reproduced: the original record is damaged: {self.problems[0].message}"
        if self.divergence is not None:
            return f"diverged at step {self.divergence.step}: {self.divergence.message}"
        if self.bitwise:
            return f"reproduced: {self.identical}/{self.compared} steps bitwise identical"
        return (
            f"reproduced: {self.identical}/{self.compared} steps bitwise identical, "
            f"{self.within_tolerance} equal within tolerance (rtol={self.rtol})"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "original": self.original.id,
            "reproduction": self.reproduction.id if self.reproduction else None,
            "reproduced": self.reproduced,
            "bitwise": self.bitwise,
            "compared": self.compared,
            "identical": self.identical,
            "within_tolerance": self.within_tolerance,
            "rtol": self.rtol,
            "divergence": self.divergence.to_dict() if self.divergence else None,
            "problems": [p.to_dict() for p in self.problems],
            "environment": {k: list(v) for k, v in self.environment.items()},
            "summary": self.summary(),
        }


def reproduce(
    store: TraceStore,
    run_ref: str,
    *,
    rtol: float | None = None,
    workflow: str | Workflow | None = None,
    on_step: StepCallback | None = None,
    serializer: Serializer | None = None,
) -> ReproduceResult:
    """Re-execute ``run_ref`` in this environment and compare it with its record."""
    original = store.get_run(store.resolve_run_id(run_ref))
    recorded = store.steps(original.id)
    problems = verify_trace(store, original, recorded)
    if problems:  # nothing is executed or written for a damaged record
        return ReproduceResult(original, None, problems=problems, rtol=rtol)
    flow = workflow_of(store, original, workflow)
    engine = Engine(store, serializer=serializer)
    result = engine.run(
        flow,
        planner=RecordedDecisions(recorded, source_run=original.id),
        seed=original.seed,
        policy=policy_of(original),
        origin=Origin(verifies=original.id),
        cache=StepCache(recorded),
        on_step=on_step,
    )
    env = environment_diff(
        load_json(store, original.environment), load_json(store, result.run.environment)
    )
    comparison = compare_steps(
        recorded, result.steps, rtol=rtol, store=store, serializer=engine.serializer
    )
    return ReproduceResult(
        original,
        result.run,
        comparison.compared,
        comparison.identical,
        comparison.within_tolerance,
        comparison.divergence,
        environment=env,
        rtol=rtol,
    )


def workflow_of(store: TraceStore, run: RunRecord, override: str | Workflow | None) -> Workflow:
    """The workflow a run used: as given, else from where it was loaded, else by name."""
    if override is not None:
        return load_workflow(override)
    source = load_json(store, run.environment).get("workflow", {}).get("source") or run.workflow
    try:
        flow = load_workflow(source)
    except WorkflowError:
        try:
            flow = load_workflow(run.workflow)
        except WorkflowError:
            raise WorkflowError(
                f"cannot load workflow {run.workflow!r} of run {run.id} (recorded source: "
                f"{source!r}): pass --workflow MODULE:ATTR or PATH.py:ATTR "
                "(workflow=... from Python)"
            ) from None
    if flow.name != run.workflow:
        raise WorkflowError(
            f"workflow loaded from {source!r} is named {flow.name!r}, but run {run.id} used "
            f"{run.workflow!r}: pass the right one with --workflow"
        )
    return flow


def policy_of(run: RunRecord) -> Policy:
    known = {f.name for f in fields(Policy)}
    return Policy(**{k: v for k, v in run.policy.items() if k in known})


@dataclass(frozen=True, slots=True)
class Comparison:
    """A re-execution compared with its record, step by step, up to the first divergence."""

    compared: int  # steps compared (through the divergent one, if any)
    identical: int  # steps whose outputs are bitwise identical
    within_tolerance: int = 0  # steps whose outputs are only equal within ``rtol``
    divergence: Divergence | None = None

    @property
    def bitwise(self) -> bool:
        return self.divergence is None and self.identical == self.compared


def compare_steps(
    recorded: Sequence[StepRecord],
    rerun: Sequence[StepRecord],
    *,
    rtol: float | None = None,
    store: TraceStore | None = None,
    serializer: Serializer | None = None,
) -> Comparison:
    """Compare a re-execution's steps with the recorded ones: kind, action, status, outputs.

    Stops at the first divergence. Outputs are compared by digest; with ``rtol``, differing
    outputs are decoded from ``store`` and accepted when equal within that relative tolerance
    (counted in ``within_tolerance``, never as identical). Used by ``reproduce`` and ``audit``.
    """
    if rtol is not None and store is None:
        raise ValueError(f"compare_steps(rtol={rtol}) decodes outputs: pass store= as well")
    identical = close = 0
    for index in range(max(len(recorded), len(rerun))):
        old = recorded[index] if index < len(recorded) else None
        new = rerun[index] if index < len(rerun) else None
        divergence = _step_divergence(index, old, new)
        if divergence is None and old is not None and new is not None:
            divergence, within = _outputs_divergence(old, new, rtol, serializer, store)
            if divergence is None:
                close += within
                identical += not within
                continue
        return Comparison(index + 1, identical, close, divergence)
    return Comparison(len(recorded), identical, close, None)


def _step_divergence(
    index: int, old: StepRecord | None, new: StepRecord | None
) -> Divergence | None:
    if old is None:
        assert new is not None
        return Divergence(
            index, new.action, "extra", f"the re-execution ran an extra step ({new.action})"
        )
    if new is None:
        return Divergence(
            index,
            old.action,
            "missing",
            f"the re-execution stopped before step {index} ({old.action})",
        )
    fingerprint, code = _code_change(old, new)
    if (old.kind, old.action) != (new.kind, new.action):
        return Divergence(
            index,
            old.action,
            "action",
            f"recorded {old.kind.value} {old.action!r}, re-execution gave "
            f"{new.kind.value} {new.action!r}" + (f" ({new.error.message})" if new.error else ""),
            fingerprint=fingerprint,
        )
    if old.status is not new.status:
        why = f": {new.error.type}: {new.error.message}" if new.error else ""
        return Divergence(
            index,
            old.action,
            "status",
            f"{old.action} {old.status.value} when recorded, {new.status.value} now{why}{code}",
            fingerprint=fingerprint,
        )
    return None


def _outputs_divergence(
    old: StepRecord,
    new: StepRecord,
    rtol: float | None,
    serializer: Serializer | None,
    store: TraceStore | None,
) -> tuple[Divergence | None, bool]:
    """(divergence, equal-only-within-tolerance) for one step's outputs."""
    fingerprint, code = _code_change(old, new)
    within = False
    for name in sorted(old.outputs.keys() | new.outputs.keys()):
        expected, actual = old.outputs.get(name), new.outputs.get(name)
        if expected == actual:
            continue
        if (
            rtol is not None
            and store is not None
            and expected
            and actual
            and _close(store, serializer or default_serializer(), expected, actual, rtol)
        ):
            within = True
            continue
        return (
            Divergence(
                old.index,
                old.action,
                "output",
                f"{old.action} output {name!r}: expected {short(expected)}, "
                f"got {short(actual)}{code}",
                output=name,
                expected=expected,
                actual=actual,
                fingerprint=fingerprint,
            ),
            False,
        )
    return None, within


def _code_change(old: StepRecord, new: StepRecord) -> tuple[tuple[str, str] | None, str]:
    """The action's code fingerprint change, if any, and a clause naming it."""
    if old.fingerprint == new.fingerprint:
        return None, ""
    clause = (
        f"; code fingerprint of {old.action} changed: "
        f"{short(old.fingerprint)} -> {short(new.fingerprint)}"
    )
    return (old.fingerprint, new.fingerprint), clause


def _close(store: TraceStore, serializer: Serializer, a: str, b: str, rtol: float) -> bool:
    record_a, data_a = store.get_artifact(a)
    record_b, data_b = store.get_artifact(b)
    value_a = serializer.loads_typed(record_a.codec, data_a)
    value_b = serializer.loads_typed(record_b.codec, data_b)
    return values_close(value_a, value_b, rtol)
