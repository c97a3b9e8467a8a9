"""reprolam: Reproducibility-constrained Large Action Models.

An LLM (or an offline planner) chooses actions from a typed action space; the engine
policy-checks, seeds, executes and records every one in a persistent trace with
content-addressed artifacts.

The public API is re-exported here and imported lazily, so ``import reprolam`` (and the
CLI's start-up) does not pay for numpy, pandas or scikit-learn until they are used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    # actions
    "action": "reprolam.actions",
    "spec_of": "reprolam.actions",
    "ActionSpec": "reprolam.actions",
    "ActionSpace": "reprolam.actions",
    "ActionContext": "reprolam.context",
    # workflows
    "Workflow": "reprolam.workflows.registry",
    "workflow": "reprolam.workflows.registry",
    "load_workflow": "reprolam.workflows.registry",
    # engine and planning
    "Engine": "reprolam.engine.engine",
    "RunResult": "reprolam.engine.engine",
    "Policy": "reprolam.engine.policy",
    "Planner": "reprolam.planning.base",
    "Proposal": "reprolam.planning.base",
    "Done": "reprolam.planning.base",
    "NoProposal": "reprolam.planning.base",
    "RunState": "reprolam.planning.base",
    "RulesPlanner": "reprolam.planning.rules",
    "LLMPlanner": "reprolam.planning.llm",
    "SimulatedPlanner": "reprolam.planning.simulated",
    "choose_planner": "reprolam.planning.choose",
    "PlannerChoice": "reprolam.planning.choose",
    "ScriptPlanner": "reprolam.planning.rules",
    # store
    "TraceStore": "reprolam.trace.contract",
    "open_store": "reprolam.trace.open",
    "RunRecord": "reprolam.trace.records",
    "StepRecord": "reprolam.trace.records",
    "ArtifactRecord": "reprolam.trace.records",
    "RunStatus": "reprolam.trace.records",
    "StepStatus": "reprolam.trace.records",
    "StepKind": "reprolam.trace.records",
    # codecs
    "Codec": "reprolam.codecs",
    "Serializer": "reprolam.codecs",
    # api
    "run": "reprolam.api",
    "runs": "reprolam.api",
    "show": "reprolam.api",
    "RunView": "reprolam.api",
    # history
    "replay": "reprolam.history.replay",
    "ReplayResult": "reprolam.history.replay",
    "reproduce": "reprolam.history.reproduce",
    "ReproduceResult": "reprolam.history.reproduce",
    "Divergence": "reprolam.history.compare",
    "Comparison": "reprolam.history.compare",
    "compare_steps": "reprolam.history.compare",
    "audit": "reprolam.history.audit",
    "AuditReport": "reprolam.history.audit",
    "AuditProblem": "reprolam.history.audit",
    "fork": "reprolam.history.fork",
    "diff_runs": "reprolam.history.diff",
    "RunDiff": "reprolam.history.diff",
    "Problem": "reprolam.history.verify",
    "verify_trace": "reprolam.history.verify",
    "RecordedDecisions": "reprolam.history.recorded",
    "Origin": "reprolam.engine.engine",
    "StepCache": "reprolam.engine.cache",
    # provenance
    "export_run": "reprolam.provenance",
    "ExportError": "reprolam.provenance",
    # experiments
    "run_experiment": "reprolam.experiments",
    "ExperimentConfig": "reprolam.experiments",
    "Experiment": "reprolam.experiments",
    # errors
    "ReprolamError": "reprolam.errors",
    "ActionSpecError": "reprolam.errors",
    "WorkflowError": "reprolam.errors",
    "ConfigError": "reprolam.errors",
    "NotFoundError": "reprolam.errors",
    "AmbiguousIdError": "reprolam.errors",
    "StoreError": "reprolam.errors",
    "IntegrityError": "reprolam.errors",
    "CodecError": "reprolam.errors",
    "PolicyViolation": "reprolam.errors",
}

__all__ = [
    "ActionContext",
    "ActionSpace",
    "ActionSpec",
    "ActionSpecError",
    "AmbiguousIdError",
    "ArtifactRecord",
    "AuditProblem",
    "AuditReport",
    "Codec",
    "CodecError",
    "Comparison",
    "ConfigError",
    "Divergence",
    "Done",
    "Engine",
    "Experiment",
    "ExperimentConfig",
    "ExportError",
    "IntegrityError",
    "LLMPlanner",
    "NoProposal",
    "NotFoundError",
    "Origin",
    "Planner",
    "PlannerChoice",
    "Policy",
    "PolicyViolation",
    "Problem",
    "Proposal",
    "RecordedDecisions",
    "ReplayResult",
    "ReproduceResult",
    "ReprolamError",
    "RulesPlanner",
    "RunDiff",
    "RunRecord",
    "RunResult",
    "RunState",
    "RunStatus",
    "RunView",
    "ScriptPlanner",
    "Serializer",
    "SimulatedPlanner",
    "StepCache",
    "StepKind",
    "StepRecord",
    "StepStatus",
    "StoreError",
    "TraceStore",
    "Workflow",
    "WorkflowError",
    "action",
    "audit",
    "choose_planner",
    "compare_steps",
    "diff_runs",
    "export_run",
    "fork",
    "load_workflow",
    "open_store",
    "replay",
    "reproduce",
    "run",
    "run_experiment",
    "runs",
    "show",
    "spec_of",
    "verify_trace",
    "workflow",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'reprolam' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:
    from reprolam.actions import ActionSpace, ActionSpec, action, spec_of
    from reprolam.api import RunView, run, runs, show
    from reprolam.codecs import Codec, Serializer
    from reprolam.context import ActionContext
    from reprolam.engine.cache import StepCache
    from reprolam.engine.engine import Engine, Origin, RunResult
    from reprolam.engine.policy import Policy
    from reprolam.errors import (
        ActionSpecError,
        AmbiguousIdError,
        CodecError,
        ConfigError,
        IntegrityError,
        NotFoundError,
        PolicyViolation,
        ReprolamError,
        StoreError,
        WorkflowError,
    )
    from reprolam.experiments import Experiment, ExperimentConfig, run_experiment
    from reprolam.history.audit import AuditProblem, AuditReport, audit
    from reprolam.history.compare import Comparison, Divergence, compare_steps
    from reprolam.history.diff import RunDiff, diff_runs
    from reprolam.history.fork import fork
    from reprolam.history.recorded import RecordedDecisions
    from reprolam.history.replay import ReplayResult, replay
    from reprolam.history.reproduce import ReproduceResult, reproduce
    from reprolam.history.verify import Problem, verify_trace
    from reprolam.planning.base import Done, NoProposal, Planner, Proposal, RunState
    from reprolam.planning.choose import PlannerChoice, choose_planner
    from reprolam.planning.llm import LLMPlanner
    from reprolam.planning.rules import RulesPlanner, ScriptPlanner
    from reprolam.planning.simulated import SimulatedPlanner
    from reprolam.provenance import ExportError, export_run
    from reprolam.trace.contract import TraceStore
    from reprolam.trace.open import open_store
    from reprolam.trace.records import (
        ArtifactRecord,
        RunRecord,
        RunStatus,
        StepKind,
        StepRecord,
        StepStatus,
    )
    from reprolam.workflows.registry import Workflow, load_workflow, workflow
