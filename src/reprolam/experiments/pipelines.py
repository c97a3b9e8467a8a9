"""The three paradigms of the paper's study, sharing the same five action functions.

* ``script``: fixed order, direct calls, fixed seeds, no LLM, no record.
* ``naive-lam``: a planner chooses; actions are called directly on a mutable state dict;
  Python ``logging`` is its only record.
* ``r-lam``: the reprolam engine, recording into a SQLite store.

The harness passes each pipeline the *same* workflow object, whose action functions are
wrapped by the experiment's ledger (ground truth and the shared fault injector), and the
naive LAM and R-LAM the same planner.
"""

from __future__ import annotations

import logging
import platform
import random
import time
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from reprolam.actions import ActionSpec
from reprolam.codecs import describe
from reprolam.context import ActionContext
from reprolam.engine.engine import Engine, RunResult
from reprolam.engine.policy import Policy
from reprolam.errors import NotFoundError, PolicyViolation
from reprolam.experiments.ledger import named_outputs
from reprolam.planning.base import ArtifactRef, Done, NoProposal, Planner, Proposal, RunState
from reprolam.trace.records import ErrorInfo, StepKind, StepRecord, StepStatus
from reprolam.workflows.registry import Workflow

PARADIGMS = ("script", "naive-lam", "r-lam")
LABELS = {"script": "Script", "naive-lam": "Naive LAM", "r-lam": "R-LAM"}
NAIVE_LOGGER = "reprolam.experiments.naive_lam"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
ENVIRONMENT_PACKAGES = ("numpy", "pandas", "scikit-learn")

log = logging.getLogger(NAIVE_LOGGER)


@dataclass
class Outcome:
    """What one pipeline run obtained and what it left behind as its record."""

    outputs: dict[str, Any]  # the final outputs it obtained (model, metrics), if any
    stop_reason: str | None = None  # why it ended without them
    records: list[logging.LogRecord] = field(default_factory=list)  # its log, if it logs
    text: list[str] = field(default_factory=list)  # what it wrote as text (log, traceback)
    result: RunResult | None = None  # r-lam only


# -- script ------------------------------------------------------------------------------------

SCRIPT_PARAMS: dict[str, dict[str, Any]] = {
    "preprocess_data": {"test_size": 0.25, "scaler": "standard"},
    "train_model": {"C": 1.0, "max_iter": 1000},
}


def script(flow: Workflow, *, seed: int, C: float | None = None) -> dict[str, Any]:
    """The workflow as a plain script: fixed order, direct calls, fixed seeds, no LLM.

    It records nothing and handles no error: an exception ends it, as in any script (the
    caller keeps the traceback Python would print). ``C`` changes the one hyperparameter the
    fork-cost measurement changes; everything is re-run, there being no other way.
    """
    import numpy as np

    act = {spec.name: spec.fn for spec in flow.actions}
    random.seed(seed)
    np.random.seed(seed)
    X, y = act["load_dataset"]()
    act["analyze_data"](X)
    X_processed, split = act["preprocess_data"](
        X, **SCRIPT_PARAMS["preprocess_data"], ctx=ActionContext(seed=seed)
    )
    train = {**SCRIPT_PARAMS["train_model"], **({} if C is None else {"C": C})}
    model = act["train_model"](X_processed, y, split, **train, ctx=ActionContext(seed=seed))
    metrics = act["evaluate_model"](model, X_processed, y, split)
    return {"model": model, "metrics": metrics}


def run_script(flow: Workflow, *, seed: int, C: float | None = None) -> Outcome:
    try:
        return Outcome(script(flow, seed=seed, C=C))
    except Exception as exc:  # what the interpreter would print on stderr, then exit
        text = "".join(traceback.format_exception(exc))
        return Outcome({}, f"{type(exc).__name__}: {exc}", text=text.splitlines())


# -- naive LAM ---------------------------------------------------------------------------------

# The same budgets as R-LAM's default policy (``Policy()``): a competent agent loop has them.
MAX_TURNS = 100
MAX_FAILURES = 3
MAX_REFUSED_IN_A_ROW = 5


class Refused(Exception):
    """A proposal the naive loop cannot act on (unknown tool, bad arguments, missing input)."""


def naive_lam(
    flow: Workflow,
    planner: Planner,
    *,
    seed: int,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> tuple[dict[str, Any], str | None]:
    """A planner-driven loop as a competent engineer writes it without reprolam.

    **Honest baseline.** It is not deliberately weakened: it validates each tool call against
    the tool's parameter schema (as tool-calling frameworks do), catches an action's exception,
    logs it and feeds it back to the planner so the planner can recover, keeps the same
    budgets as R-LAM's default policy, and seeds what it can (the global RNGs and each
    action's context, with the trial seed). The planner is the same object, consulted with an
    equivalent view (``RunState``: the planner's working memory, as an agent keeps its chat
    history), so on a first run it makes the same decisions R-LAM's planner makes.

    What it lacks is what reprolam adds: it records nothing but its Python log (no record of
    the planner's decisions, no trace with content identities of inputs and outputs, no
    structured failure records: failures are log lines), so it can neither replay nor fork a
    run: to reproduce or change one it must run everything again and ask the planner again.

    Returns the final outputs it obtained and, if it ended without them, why.
    """
    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    versions = " ".join(f"{name}={_version(name)}" for name in ENVIRONMENT_PACKAGES)
    log.info(
        "naive LAM start: seed=%d planner=%s python=%s %s",
        seed,
        planner.name,
        platform.python_version(),
        versions,
    )
    values: dict[str, Any] = {}  # artifact name -> value: the mutable state
    memory = RunState(workflow=flow, run_id=f"naive-lam-{seed}", seed=seed)
    forced = {name: dict(params) for name, params in (overrides or {}).items()}
    while True:
        stop = _budget(memory)
        if stop:
            log.warning("giving up: %s", stop)
            break
        decision = planner.propose(memory)
        if isinstance(decision, Done):
            break
        if isinstance(decision, NoProposal):
            log.warning("planner gave no proposal: %s", decision.reason)
            error = ErrorInfo(decision.error_type, decision.reason)
            kind, status = StepKind.DECISION, StepStatus.FAILED
            memory.add(_remembered(memory, planner, None, kind, status, error=error))
            memory.feedback = f"planner: {decision.reason}"
            continue
        try:
            spec_name, params, inputs = _prepare(flow, decision, values, memory, forced)
        except Refused as exc:
            log.warning("refused proposal %r: %s", decision.action, exc)
            refusal = ErrorInfo("Refused", str(exc))
            kind, status = StepKind.REJECTION, StepStatus.REJECTED
            memory.add(_remembered(memory, planner, decision, kind, status, error=refusal))
            memory.feedback = f"proposal {decision.action or '(no tool call)'} refused: {exc}"
            continue
        spec = flow.actions.get(spec_name)
        _call(memory, planner, decision, spec, params, inputs, values)
    final = {name: values[name] for name in flow.outputs if name in values}
    missing = [name for name in flow.outputs if name not in values]
    log.info("naive LAM end: %s", "outputs " + ", ".join(final) if not missing else "incomplete")
    return final, (f"ended without {', '.join(missing)}" if missing else None)


def _call(
    memory: RunState,
    planner: Planner,
    decision: Proposal,
    spec: ActionSpec,
    params: dict[str, Any],
    inputs: list[Any],
    values: dict[str, Any],
) -> None:
    """Call the action on the state dict; log and remember what happened."""
    seed, index = memory.seed, len(memory.steps)
    log.info("calling %s params=%s seed=%d", spec.name, params, seed)
    kwargs = {**params, "ctx": ActionContext(seed=seed)} if spec.wants_context else params
    started = time.perf_counter()
    try:
        outputs = named_outputs(spec, spec.fn(*inputs, **kwargs))
    except Exception as exc:
        took = time.perf_counter() - started
        log.warning("%s failed after %.3f s: %s: %s", spec.name, took, type(exc).__name__, exc)
        failure = ErrorInfo(type(exc).__name__, str(exc))
        kind, status = StepKind.ACTION, StepStatus.FAILED
        memory.add(
            _remembered(memory, planner, decision, kind, status, params=params, error=failure)
        )
        memory.feedback = f"step {index} ({spec.name}) failed: {failure.type}: {exc}"
        return
    took = time.perf_counter() - started
    log.info("%s finished in %.3f s, outputs: %s", spec.name, took, ", ".join(outputs))
    values.update(outputs)
    refs = {name: f"step{index}.{name}" for name in outputs}
    kind, status = StepKind.ACTION, StepStatus.SUCCEEDED
    memory.add(_remembered(memory, planner, decision, kind, status, params=params, outputs=refs))
    for name, value in outputs.items():
        memory.artifacts[name] = ArtifactRef(name, refs[name], type(value).__name__, index)
        if not planner.instant:  # an LLM reads one-line summaries of what exists
            memory.summaries[refs[name]] = describe(value)
    memory.feedback = None


def run_naive(
    flow: Workflow,
    planner: Planner,
    *,
    seed: int,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> Outcome:
    with capture_log(NAIVE_LOGGER) as records:
        outputs, stop = naive_lam(flow, planner, seed=seed, overrides=overrides)
    formatter = logging.Formatter(LOG_FORMAT)
    text = [line for record in records for line in formatter.format(record).splitlines()]
    return Outcome(outputs, stop, records=records, text=text)


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "?"


def _budget(memory: RunState) -> str | None:
    if len(memory.steps) >= MAX_TURNS:
        return f"{MAX_TURNS} turns"
    if memory.failure_count >= MAX_FAILURES:
        return f"{memory.failure_count} failed actions"
    if memory.consecutive_rejections >= MAX_REFUSED_IN_A_ROW:
        return f"{memory.consecutive_rejections} refused proposals in a row"
    return None


def _prepare(
    flow: Workflow,
    decision: Proposal,
    values: Mapping[str, Any],
    memory: RunState,
    forced: Mapping[str, Mapping[str, Any]],
) -> tuple[str, dict[str, Any], list[Any]]:
    """Look up the tool, validate its arguments against its schema, fetch its inputs."""
    if decision.invalid_reason:
        raise Refused(decision.invalid_reason)
    try:
        spec = flow.actions.get(decision.action)
        params = spec.validate_params({**decision.params, **forced.get(spec.name, {})})
    except (NotFoundError, PolicyViolation) as exc:
        raise Refused(str(exc)) from None
    unknown = set(decision.inputs) - set(spec.inputs)
    if unknown:
        raise Refused(f"{spec.name} has no input {', '.join(sorted(unknown))}")
    inputs = []
    for name in spec.inputs:
        ref = decision.inputs.get(name, name)
        # a binding names an artifact, or the id the planner was shown for it
        ref = next((a.name for a in memory.artifacts.values() if a.digest == ref), ref)
        if ref not in values:
            raise Refused(f"{spec.name} needs {name!r}, which does not exist yet")
        inputs.append(values[ref])
    return spec.name, params, inputs


def _remembered(
    memory: RunState,
    planner: Planner,
    decision: Proposal | None,
    kind: StepKind,
    status: StepStatus,
    *,
    params: dict[str, Any] | None = None,
    outputs: dict[str, str] | None = None,
    error: ErrorInfo | None = None,
) -> StepRecord:
    """A turn as the planner's view remembers it (the shape planners read back)."""
    proposal: dict[str, Any] = {}
    if decision is not None:
        proposal["planner"] = planner.name
        if decision.rationale:
            proposal["rationale"] = decision.rationale
        if decision.params:
            proposal["params"] = dict(decision.params)
        if decision.inputs:
            proposal["inputs"] = dict(decision.inputs)
        if decision.decision:
            proposal["decision"] = dict(decision.decision)
    if params is None and decision is not None and kind is StepKind.REJECTION:
        params = dict(decision.params)
    return StepRecord(
        run_id=memory.run_id,
        index=len(memory.steps),
        kind=kind,
        action=decision.action if decision is not None else "",
        status=status,
        started_at=time.time(),
        params=params or {},
        outputs=outputs or {},
        error=error,
        proposal=proposal,
        recovers=decision.recovers if decision is not None else None,
    )


@contextmanager
def capture_log(name: str) -> Iterator[list[logging.LogRecord]]:
    """Keep every record ``name`` logs at INFO and above, and only here (not on stderr).

    Generous to the naive LAM: as if it had configured a log file at INFO for the whole run.
    """
    logger = logging.getLogger(name)
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep(logging.INFO)
    saved = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield records
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]


# -- R-LAM -------------------------------------------------------------------------------------


def run_rlam(
    engine: Engine,
    flow: Workflow,
    planner: Planner,
    *,
    seed: int,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> Outcome:
    """The reprolam engine with its default policy (the naive LAM keeps the same budgets)."""
    result = engine.run(flow, planner=planner, seed=seed, policy=Policy(), overrides=overrides)
    return Outcome(
        dict(result.outputs), None if result.succeeded else result.run.error, result=result
    )
