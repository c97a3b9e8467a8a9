"""The paper's metrics, computed against the ledger's ground truth (see the README's study).

Every figure compares what a paradigm *left behind* (R-LAM: its stored trace; the naive LAM:
its log; the script: the traceback it prints when it fails) with what the ledger saw the
action functions do. No figure takes a paradigm's word for what happened.

``FIELDS`` are the seven things a record must hold for an executed action to count as
complete. A field counts as recorded only if the record holds the *actual* value:

* ``action``: the action's name;
* ``params``: every keyword argument the function received, with its value;
* ``inputs`` / ``outputs``: the identity of every value that went in / came out (its content
  digest; a name alone does not say which data it was). A failed attempt produced nothing:
  its outputs count as recorded if the record says it failed;
* ``seed``: the seed the action's context carried (nothing to record for actions without one);
* ``environment``: the Python version and the numpy, pandas and scikit-learn versions;
* ``timings``: when it ran and for how long.

For a trace the values are compared exactly; for text (log lines, tracebacks) a field counts
when the lines naming the action contain the value -- generous to text, which is never parsed.
"""

from __future__ import annotations

import logging
import platform
import re
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from reprolam.experiments.ledger import Call
from reprolam.hashing import canonical_json
from reprolam.trace.records import StepKind, StepRecord, StepStatus

FIELDS = ("action", "params", "inputs", "outputs", "seed", "environment", "timings")
ENVIRONMENT = ("numpy", "pandas", "scikit-learn")
_DURATION = re.compile(r"\d+(?:\.\d+)?\s*(?:ms|s)\b")
_CLOCK_SLACK = 0.005  # seconds: the engine stamps a step around the call it records


@dataclass
class TrialFigures:
    """One paradigm's figures for one trial (``results.json`` holds every one)."""

    paradigm: str
    trial: int
    seed: int
    seconds: float  # wall time of the measured run
    task_success: bool  # ended with an evaluated model
    outputs: dict[str, str]  # final output -> digest of its canonical bytes
    outputs_grounded: bool  # those digests are what the counted calls returned
    stop_reason: str | None
    attempts: int  # calls of the action functions (ground truth), injected ones included
    executed: int  # of which the body ran
    injected: int  # of which the fault injector stopped
    sequence: list[str]  # attempted actions, in order
    failed_attempts: list[int]  # positions in ``sequence`` of the attempts that failed
    hyperparameters: dict[str, dict[str, Any]]  # params each action was last called with
    fields: list[dict[str, bool]]  # per attempt: which FIELDS its record holds
    complete: int  # attempts whose record holds every field
    visible: int  # injected failures with a structured record
    mentioned: int  # injected failures mentioned in text (log line, traceback, trace)
    reproduced: bool | None = None  # own means: rerun (script, naive) / replay (R-LAM)
    reexecuted: bool | None = None  # by re-execution: rerun / R-LAM's reproduce
    reproduced_seeded_planner: bool | None = None  # naive: rerun, planner seed fixed
    replay_calls: int | None = None  # R-LAM: action executions seen during replay
    replay_seconds: float | None = None
    fork_calls: int | None = None  # action calls made to change train_model.C afterwards
    fork_base: int | None = None  # distinct actions the trial completed
    fork_ok: bool | None = None  # the change took effect (a successful train with the new C)
    run_id: str | None = None
    audit: dict[str, Any] | None = None  # R-LAM: reprolam's own audit, for comparison
    notes: list[str] = field(default_factory=list)

    @property
    def fields_recorded(self) -> list[int]:
        return [sum(f.values()) for f in self.fields]


# -- ground truth about the machine ------------------------------------------------------------


def environment_truth() -> dict[str, str]:
    """The versions an environment record must state: this interpreter's, read directly."""
    truth = {"python": platform.python_version()}
    for name in ENVIRONMENT:
        try:
            truth[name] = version(name)
        except PackageNotFoundError:
            truth[name] = "?"
    return truth


def environment_recorded(snapshot: Mapping[str, Any], truth: Mapping[str, str]) -> bool:
    """Whether an R-LAM environment snapshot states the true versions."""
    packages = snapshot.get("packages") or {}
    return snapshot.get("python") == truth["python"] and all(
        packages.get(name) == truth[name] for name in ENVIRONMENT
    )


# -- what a trace records ----------------------------------------------------------------------


def match_steps(calls: Sequence[Call], steps: Sequence[StepRecord]) -> list[StepRecord | None]:
    """Pair each call with the executed step recording it, in order (None: not recorded)."""
    executed = [
        s
        for s in steps
        if s.kind is StepKind.ACTION and s.status in (StepStatus.SUCCEEDED, StepStatus.FAILED)
    ]
    matched: list[StepRecord | None] = []
    position = 0
    for call in calls:
        step = executed[position] if position < len(executed) else None
        if step is not None and step.action == call.action:
            position += 1
            matched.append(step)
        else:
            matched.append(None)
    return matched


def trace_fields(call: Call, step: StepRecord | None, environment: bool) -> dict[str, bool]:
    if step is None:
        return dict.fromkeys(FIELDS, False)
    if call.failed:
        outputs = step.status is StepStatus.FAILED and not step.outputs
    else:
        outputs = step.status is StepStatus.SUCCEEDED and step.outputs == call.outputs
    timed = step.duration is not None and step.started_at > 0
    return {
        "action": step.action == call.action,
        "params": step.params == call.params,
        "inputs": step.inputs == call.inputs,
        "outputs": outputs,
        "seed": call.seed is None or step.seed == call.seed,
        "environment": environment,
        "timings": timed
        and step.started_at <= call.started_at + _CLOCK_SLACK
        and (step.duration or 0.0) >= call.duration - _CLOCK_SLACK,
    }


def trace_visible(call: Call, step: StepRecord | None) -> bool:
    """An injected failure recorded as a failed step with its error type and message."""
    error = step.error if step is not None else None
    return (
        step is not None
        and step.status is StepStatus.FAILED
        and error is not None
        and error.type == call.error_type
        and error.message == call.error_message
    )


def trace_text(steps: Sequence[StepRecord]) -> list[str]:
    """The failures of a trace as text lines (what ``reprolam show`` prints of them)."""
    return [
        f"step {s.index} {s.action} {s.status.value}: {s.error.type}: {s.error.message}"
        for s in steps
        if s.error is not None
    ]


# -- what text records ---------------------------------------------------------------------------


def text_fields(call: Call, lines: Sequence[str], environment: bool) -> dict[str, bool]:
    naming = [line for line in lines if call.action in line]
    if not naming:
        return dict.fromkeys(FIELDS, False)

    def shown(value: str) -> bool:
        return any(value in line or value[:12] in line for line in naming)

    params = all(
        any(name in line and (repr(value) in line or str(value) in line) for line in naming)
        for name, value in call.params.items()
    )
    if call.failed:  # said by a log line ("... failed"), or by a traceback's exception line
        kind = call.error_type or ""
        outputs = any("fail" in line.lower() or (kind and kind in line) for line in naming)
    else:
        outputs = bool(call.outputs) and all(shown(d) for d in call.outputs.values())
    return {
        "action": True,
        "params": params,
        "inputs": all(shown(d) for d in call.inputs.values()),
        "outputs": outputs,
        "seed": call.seed is None or any(str(call.seed) in line for line in naming),
        "environment": environment,
        "timings": any(_DURATION.search(line) for line in naming),
    }


def text_environment(lines: Sequence[str], truth: Mapping[str, str]) -> bool:
    """Whether some line states each true version next to its name."""
    return all(any(name in line and v in line for line in lines) for name, v in truth.items())


def log_visible(call: Call, records: Sequence[logging.LogRecord]) -> bool:
    """An injected failure in a log record holding action, error type and message as fields.

    Python's ``LogRecord`` can carry them as fields: the exception in ``exc_info`` and the
    action as an ``extra`` attribute. Interpolated into the message they are prose.
    """
    for record in records:
        exc = record.exc_info[1] if record.exc_info else None
        if (
            getattr(record, "action", None) == call.action
            and exc is not None
            and type(exc).__name__ == call.error_type
            and str(exc) == call.error_message
        ):
            return True
    return False


def text_mentions(call: Call, lines: Sequence[str]) -> bool:
    """An injected failure mentioned in text: its action, error type and message on one line."""
    needed = (call.action, call.error_type or "", call.error_message or "")
    return any(all(part in line for part in needed) for line in lines)


# -- per trial -----------------------------------------------------------------------------------


def plan_of(calls: Sequence[Call]) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """The attempted sequence, and the params each action was last called with."""
    params = {call.action: dict(call.params) for call in calls if call.params}
    return [call.action for call in calls], params


def grounded(outputs: Mapping[str, str], calls: Sequence[Call]) -> bool:
    """Whether every final output digest is one a counted, successful call returned."""
    returned = {(name, key) for call in calls for name, key in call.outputs.items()}
    return bool(outputs) and all((name, key) in returned for name, key in outputs.items())


# -- per paradigm --------------------------------------------------------------------------------


def fraction(num: int, den: int) -> dict[str, Any]:
    return {"value": num / den if den else None, "num": num, "den": den}


def summarize(trials: Sequence[TrialFigures]) -> dict[str, Any]:
    """A paradigm's aggregate figures over its trials (the table's column)."""
    n = len(trials)
    succeeded = [t for t in trials if t.task_success]
    attempts = sum(t.attempts for t in trials)
    injected = sum(t.injected for t in trials)
    per_action = [count for t in trials for count in t.fields_recorded]
    forks = [t for t in trials if t.fork_calls is not None]
    seconds = [t.seconds for t in trials]

    def reproduced(attr: str) -> dict[str, Any]:
        counted = [getattr(t, attr) for t in succeeded if getattr(t, attr) is not None]
        return fraction(sum(map(bool, counted)), len(counted))

    replays = [t.replay_seconds for t in trials if t.replay_seconds is not None]
    replay_ratio = (
        statistics.fmean(replays) / statistics.fmean(seconds) if replays and seconds else None
    )
    return {
        "trials": n,
        "task_success": fraction(len(succeeded), n),
        "reproducibility": reproduced("reproduced"),
        "reproducibility_reexecution": reproduced("reexecuted"),
        "reproducibility_seeded_planner": reproduced("reproduced_seeded_planner"),
        "replay_calls": (
            sum(t.replay_calls or 0 for t in trials)
            if any(t.replay_calls is not None for t in trials)
            else None
        ),
        "trace_completeness": fraction(sum(t.complete for t in trials), attempts),
        "fields_per_action": statistics.fmean(per_action) if per_action else 0.0,
        "fields_possible": len(FIELDS),
        "failure_visibility": fraction(sum(t.visible for t in trials), injected),
        "failures_mentioned": fraction(sum(t.mentioned for t in trials), injected),
        "attempts": attempts,
        "injected": injected,
        "distinct_sequences": len({tuple(t.sequence) for t in trials}),
        "distinct_hyperparameters": len({canonical_json(t.hyperparameters) for t in trials}),
        "fork_calls": statistics.fmean(t.fork_calls or 0 for t in forks) if forks else None,
        "fork_base": statistics.fmean(t.fork_base or 0 for t in forks) if forks else None,
        "fork_ok": fraction(sum(bool(t.fork_ok) for t in forks), len(forks)),
        "seconds_mean": statistics.fmean(seconds) if seconds else None,
        "seconds_median": statistics.median(seconds) if seconds else None,
        "seconds_per_attempt": sum(seconds) / attempts if attempts else None,
        "replay_seconds_mean": statistics.fmean(replays) if replays else None,
        "replay_ratio": replay_ratio,
        "outputs_grounded": all(t.outputs_grounded for t in succeeded),
    }
