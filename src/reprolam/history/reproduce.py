"""Reproduce: re-execute a run from its recorded decisions and compare every output hash.

The original is verified first (a damaged record is reported, nothing is executed or
written). The re-execution uses the recorded params, input bindings and seeds, takes every
planner decision from the trace (never an LLM), runs in the current environment, and is
itself recorded as a run that ``verifies`` the original — so the store remembers when and
where a run was last reproduced, and ``reprolam diff`` can show exactly what changed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from reprolam.codecs import Serializer
from reprolam.engine.cache import StepCache, read_change, recorded_reads
from reprolam.engine.engine import Engine, Origin, StepCallback
from reprolam.engine.faults import ANY_ACTION, InjectedFault
from reprolam.engine.inputs import InputChange, changed_inputs
from reprolam.engine.policy import Policy
from reprolam.errors import ConfigError
from reprolam.history.code_diff import (
    CodeChange,
    RankedEnvironment,
    code_changes,
    code_manifest,
    rank_environment,
)
from reprolam.history.compare import Comparison, Divergence, compare_steps
from reprolam.history.diff import environment_diff
from reprolam.history.observed import describe_effect, reads_of, undeclared_effects
from reprolam.history.rebuild import (
    ExecutorRef,
    PolicyChanges,
    changed_policy,
    executor_of,
    workflow_of,
)
from reprolam.history.record_check import trace_problems
from reprolam.history.recorded import RecordedDecisions
from reprolam.history.verify import Problem
from reprolam.trace.anchor import sealed
from reprolam.trace.contract import TraceStore
from reprolam.trace.copy import COPY_AGAIN, is_stopped_copy
from reprolam.trace.records import RunRecord, RunStatus, StepRecord, StepStatus, Verdict
from reprolam.trace.stored_json import load_json
from reprolam.workflows.registry import Workflow

# What a divergence with nothing recorded changed leaves: the action itself.
UNEXPLAINED = (
    "no recorded cause (same code, inputs, reads and environment): the action is "
    "nondeterministic by itself: randomness not drawn from ctx.rng, iteration over a set of "
    "strings (its order follows hash randomization: set PYTHONHASHSEED, or sort), threads, "
    "or the clock"
)

# A recorded failure no reproduction brings back: an injected fault the run's fault plan
# does not hold (the experiment harness injects inside the call, outside the policy).
INJECTED_OUTSIDE = (
    "the recorded failure is an InjectedFault the run's fault plan does not hold (injected "
    "from outside the run, as `reprolam experiment` does): a reproduction does not inject it"
)


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
    code: list[CodeChange] = field(default_factory=list)  # recorded -> current code
    ranked: RankedEnvironment = field(default_factory=RankedEnvironment)
    changed_inputs: list[InputChange] = field(default_factory=list)  # found before executing
    # Undeclared effects the diverging step had when recorded (step, action, kind, target, ...):
    # an action using what it did not declare (the global RNG, the clock, the network, ...)
    # is the usual reason a "pure" step gives other bytes when run again.
    effects: list[dict[str, Any]] = field(default_factory=list)
    # Files the diverging step read itself whose content is not what it was when recorded
    # (step, action, path, why): data the step depends on changed under it.
    changed_reads: list[dict[str, Any]] = field(default_factory=list)
    # The diverging action's declared determinism, when it says its outputs may differ
    # ("nondeterministic", "external"): the declaration is the cause.
    declared: str | None = None
    # The diverging step's recorded failure was injected from outside its fault plan.
    injected_outside: bool = False

    @property
    def code_changed(self) -> bool:
        return bool(self.code)

    def __repr__(self) -> str:
        return f"<ReproduceResult of {self.original.id}: {self.summary()}>"

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        from reprolam.notebook import reproduce_html

        return reproduce_html(self)

    @property
    def reproduced(self) -> bool:
        return not self.problems and self.divergence is None and self.reproduction is not None

    @property
    def bitwise(self) -> bool:
        return self.reproduced and self.identical == self.compared

    def summary(self) -> str:
        text = self._summary()
        if self.changed_inputs and self.divergence is None:
            text += "".join(f"; {change}" for change in self.changed_inputs)
        return text

    def _summary(self) -> str:
        if self.problems and all(p.kind == "unfinished" for p in self.problems):
            # not damage: the run stopped (its record says so); resuming ends it
            then = (
                "once it has finished, reproduce it"
                if self.original.status is RunStatus.RUNNING
                else f"{COPY_AGAIN}, then reproduce it"
                if is_stopped_copy(self.original)
                else f"`reprolam resume {self.original.id}` first, then reproduce the finished run"
            )
            return (
                f"not reproduced: the original run is unfinished: {self.problems[0].message}; "
                f"{then}"
            )
        if self.problems:
            return f"not reproduced: the original record is damaged: {self.problems[0].message}"
        if self.divergence is not None:
            text = f"diverged at step {self.divergence.step}: {self.divergence.message}"
            text += "".join(f"; {change}" for change in self.changed_inputs)
            text += "".join(f"; {read['message']}" for read in self.changed_reads)
            text += effects_note(self.effects)
            kinds = ("action", "helper", "constant")
            changed = [c.describe() for c in self.code if c.kind in kinds]
            if changed:
                return f"{text}; code changed: {'; '.join(changed)}"
            if self.declared is not None:
                return (
                    f"{text}; {self.divergence.action} is declared {self.declared}: its outputs "
                    "are not expected to be the same bytes again (compare within a tolerance "
                    "with rtol, or seed it and declare it seeded)"
                )
            if self.injected_outside:
                return f"{text}; {INJECTED_OUTSIDE}"
            causes = (self.changed_inputs, self.changed_reads, self.effects, self.code)
            if not any(causes) and not self.environment:
                text += f"; {UNEXPLAINED}"
            return text
        if self.bitwise:
            text = f"reproduced: {self.identical}/{self.compared} steps bitwise identical"
        else:
            text = (
                f"reproduced: {self.identical}/{self.compared} steps bitwise identical, "
                f"{self.within_tolerance} equal within tolerance (rtol={self.rtol})"
            )
        if self.code:
            names = ", ".join(c.describe() for c in self.code[:3])
            more = f" and {len(self.code) - 3} more" if len(self.code) > 3 else ""
            text += f"; code changed, outputs identical ({names}{more})"
        return text

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
            "environment_ranked": self.ranked.to_dict(),
            "code_changed": self.code_changed,
            "code": [c.to_dict() for c in self.code],
            "changed_inputs": [c.to_dict() for c in self.changed_inputs],
            "effects": self.effects,
            "changed_reads": self.changed_reads,
            "summary": self.summary(),
        }


def _unfinished_run(run: RunRecord, steps: list[StepRecord]) -> list[Problem]:
    """A run that stopped between two steps has no started step to say it is unfinished:
    its reproduction would compare the steps it has, and record a verdict of the whole run
    that a resumed run's audit then calls a divergence at the first step it lacked."""
    if run.status not in (RunStatus.INTERRUPTED, RunStatus.RUNNING):
        return []
    if any(step.status is StepStatus.STARTED for step in steps):
        return []  # already said, at that step
    where = f"after step {steps[-1].index}" if steps else "before its first step"
    state = "interrupted" if run.status is RunStatus.INTERRUPTED else "still running"
    reason = f" ({run.error})" if run.error and run.status is RunStatus.INTERRUPTED else ""
    message = f"run {run.id} is {state} {where}{reason}: the rest of it never ran"
    return [Problem("unfinished", message)]


def reproduce(
    store: TraceStore,
    run_ref: str,
    *,
    rtol: float | None = None,
    workflow: str | Workflow | None = None,
    policy: PolicyChanges = None,
    executor: ExecutorRef = None,
    on_step: StepCallback | None = None,
    serializer: Serializer | None = None,
    trusted: bool = False,
    on_input_change: Callable[[InputChange], None] | None = None,
) -> ReproduceResult:
    """Re-execute ``run_ref`` in this environment and compare it with its record.

    ``executor`` and ``policy`` (changes to the recorded one, e.g. a longer
    ``action_timeout``) default to what the original recorded. ``trusted`` lets a workflow
    that cannot be loaded any more be rebuilt from the source stored with the run.
    Inputs whose recorded path now holds other content are reported (``on_input_change``,
    then ``changed_inputs``) before anything executes; the run then reads the new content.
    """
    if rtol is not None and not (isinstance(rtol, int | float) and 0 < rtol < math.inf):
        raise ConfigError(
            f"relative tolerance {{rtol={rtol}}} is not a finite positive number",
            option="rtol",
            value=rtol,
            hint="give e.g. {rtol=1e-9}, or none to require bitwise identical outputs",
        )
    original = store.get_run(store.resolve_run_id(run_ref))
    changes = changed_inputs(store, original)
    for change in changes:
        if on_input_change is not None:
            on_input_change(change)
    recorded = store.steps(original.id)
    problems = trace_problems(store, original, recorded) + _unfinished_run(original, recorded)
    if problems:  # nothing is executed or written for a damaged or unfinished record
        return ReproduceResult(original, None, problems=problems, rtol=rtol)
    if serializer is None or not serializer.pickles:
        _refuse_pickles_untrusted(store, original, recorded)
    flow = workflow_of(store, original, workflow, trusted=trusted)
    with Engine(store, serializer=serializer, executor=executor or executor_of(original)) as engine:
        result = engine.run(
            flow,
            planner=RecordedDecisions(recorded, source_run=original.id),
            seed=original.seed,
            # The recorded decisions are the plan: retries the policy made are recorded
            # steps, replayed as such; the policy must not retry again on top of them.
            policy=_without_retries(original, policy),
            origin=Origin(verifies=original.id),
            cache=StepCache(recorded),
            on_step=on_step,
        )
    env_a = load_json(store, original.environment)
    env_b = load_json(store, result.run.environment)
    env = environment_diff(env_a, env_b)
    manifests = (code_manifest(store, env_a), code_manifest(store, env_b))
    comparison = compare_steps(
        recorded, result.steps, rtol=rtol, store=store, serializer=engine.serializer
    )
    effects = _effects_at(recorded, comparison.divergence)
    reads = _changed_reads_at(store, recorded, result.steps, comparison.divergence)
    reproduction = _record_verdict(store, result.run, result.steps, comparison, effects, reads)
    diverging = comparison.divergence.action if comparison.divergence else None
    return ReproduceResult(
        original,
        reproduction,
        comparison.compared,
        comparison.identical,
        comparison.within_tolerance,
        comparison.divergence,
        environment=env,
        rtol=rtol,
        code=code_changes(*manifests),
        ranked=rank_environment(env, manifests, [diverging] if diverging else None),
        changed_inputs=changes,
        effects=effects,
        changed_reads=reads,
        declared=_declared_variable(flow, diverging),
        injected_outside=_injected_outside(original, recorded, comparison.divergence),
    )


def _without_retries(original: RunRecord, policy: PolicyChanges) -> Policy:
    """The policy to reproduce with (the recorded one, changed as asked) with no retries:
    the recorded decisions are the plan, and whatever retries it recorded was replaced."""
    if isinstance(policy, Policy):
        return replace(policy, retries=0)
    return changed_policy(original, {**(policy or {}), "retries": 0})


def _refuse_pickles_untrusted(
    store: TraceStore, original: RunRecord, recorded: Sequence[StepRecord]
) -> None:
    """A run that stored outputs as pickles (recorded with the opt-in) cannot be re-executed
    without it: its actions could not store those outputs, and the reproduction would be
    recorded as diverged for that alone. Refused before anything runs."""
    outputs = {digest: (step, name) for step in recorded for name, digest in step.outputs.items()}
    if not outputs:
        return
    pickled = [
        outputs[digest]
        for digest, record in store.artifact_records(list(outputs)).items()
        if record.codec == "pickle"
    ]
    if not pickled:
        return
    step, name = min(pickled, key=lambda found: found[0].index)
    raise ConfigError(
        f"run {original.id} stored {len(pickled)} output(s) as pickles (first: step "
        f"{step.index} {step.action}, output {name!r}): it was recorded with pickles allowed, "
        "and re-executed without them its actions could not store those outputs, so the "
        "reproduction would diverge for that alone",
        option="trusted",
        hint="reproduce it with {trusted=True} if you trust this store and the workflow's code",
    )


def _injected_outside(
    original: RunRecord, recorded: Sequence[StepRecord], divergence: Divergence | None
) -> bool:
    """Whether the diverging step failed with an injected fault its run's plan does not hold."""
    if divergence is None or divergence.what != "status":
        return False
    step = next((s for s in recorded if s.index == divergence.step), None)
    if step is None or step.error is None or step.error.type != InjectedFault.__name__:
        return False
    faults = original.policy.get("faults") or {}
    return not (faults.get(step.action) or faults.get(ANY_ACTION))


def _declared_variable(flow: Workflow, action: str | None) -> str | None:
    """The determinism an action declares when it admits other bytes on a re-run."""
    spec = next((a for a in flow.actions if a.name == action), None)
    kind = spec.determinism if spec is not None else None
    return kind if kind in ("nondeterministic", "external") else None


def _effects_at(
    recorded: Sequence[StepRecord], divergence: Divergence | None
) -> list[dict[str, Any]]:
    """The undeclared effects the recorded step where the reproduction diverged had."""
    if divergence is None:
        return []
    step = next((s for s in recorded if s.index == divergence.step), None)
    if step is None:
        return []
    return [{"step": s.index, "action": s.action, **e} for s, e in undeclared_effects([step])]


def _changed_reads_at(
    store: TraceStore,
    recorded: Sequence[StepRecord],
    rerun: Sequence[StepRecord],
    divergence: Divergence | None,
) -> list[dict[str, Any]]:
    """The files the diverging step read (or the step it reused the outputs of) whose content
    differs from what it read when recorded: as the reproduction read them (its own
    ``file_read`` effects), or, for a file it did not get to read, as they are now."""
    if divergence is None:
        return []
    step = next((s for s in recorded if s.index == divergence.step), None)
    if step is None:
        return []
    again = next((s for s in rerun if s.index == divergence.step), None)
    read_again = {e.get("target"): e for e in reads_of(again)} if again else {}
    found = []
    # an undeclared launch or connection is named by effects_note, not as a changed read
    for effect in recorded_reads(step, store, unseen=False):
        target = effect.get("target")
        why = read_change(effect, read_again.get(target))
        if why is not None:
            found.append(
                {
                    "step": step.index,
                    "action": step.action,
                    "path": target,
                    "why": why,
                    "message": f"step {step.index} ({step.action}) read {target}: {why}",
                }
            )
    return found


def effects_note(effects: Sequence[dict[str, Any]]) -> str:
    """ "; step 1 (noisy) had undeclared effects when recorded: ..." or ''.

    File and variable reads are left out: one whose file (value) changed is named on its own
    (``changed_reads``), one whose did not cannot explain the divergence.
    """
    effects = [e for e in effects if e.get("kind") not in ("file_read", "env_read")]
    if not effects:
        return ""
    first = effects[0]
    said = ", ".join(describe_effect(e) for e in effects)
    return (
        f"; step {first['step']} ({first['action']}) had undeclared effects when recorded: "
        f"{said} (its output depends on more than its inputs, params and seed: declare the "
        "action's determinism and side effects, or draw randomness from ctx.random)"
    )


def _record_verdict(
    store: TraceStore,
    run: RunRecord,
    steps: Sequence[StepRecord],
    comparison: Comparison,
    effects: Sequence[dict[str, Any]],
    reads: Sequence[dict[str, Any]],
) -> RunRecord:
    """Keep the verdict on the reproduction's record; a diverged one is a failed run."""
    if comparison.divergence is not None:
        d = comparison.divergence
        run = replace(
            run,
            verdict=Verdict.DIVERGED.value,
            status=RunStatus.FAILED,
            error=f"reproduction of {run.verifies} diverged at step {d.step}: {d.message}"
            + "".join(f"; {read['message']}" for read in reads)
            + effects_note(effects),
        )
    elif comparison.identical == comparison.compared:
        run = replace(run, verdict=Verdict.IDENTICAL.value)
    else:
        run = replace(run, verdict=Verdict.WITHIN_TOLERANCE.value)
    run = sealed(store, run, steps)
    store.record(run=run)
    return run
