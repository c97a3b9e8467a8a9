"""reprolam: Reproducibility-constrained Large Action Models.

An LLM (or an offline planner) chooses actions from a typed action space; the engine
policy-checks, seeds, executes and records every one in a persistent trace with
content-addressed artifacts.

``__all__`` is the public surface: the client (``reprolam.open``) and the verbs it serves,
the declaration API, the extension points, the result and error types. Everything else is
importable from its module. Names are imported lazily, so ``import reprolam`` (and the
CLI's start-up) does not pay for numpy, pandas or scikit-learn until they are used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "open": "reprolam.client",
    "Client": "reprolam.client",
    "RunView": "reprolam.client",
    "run": "reprolam.api",
    "fork": "reprolam.api",
    "replay": "reprolam.api",
    "reproduce": "reprolam.api",
    "resume": "reprolam.api",
    "audit": "reprolam.api",
    "diff": "reprolam.api",
    "export": "reprolam.api",
    "import_crate": "reprolam.api",
    "runs": "reprolam.api",
    "show": "reprolam.api",
    "get": "reprolam.api",
    "GotArtifact": "reprolam.results",
    "InputData": "reprolam.engine.inputs",
    "sweep": "reprolam.api",
    "SweepResult": "reprolam.history.sweep",
    "action": "reprolam.actions",
    "spec_of": "reprolam.actions",
    "Field": "reprolam.params",
    "ActionSpec": "reprolam.actions",
    "ActionSpace": "reprolam.actions",
    "ActionContext": "reprolam.context",
    "Workflow": "reprolam.workflows.registry",
    "workflow": "reprolam.workflows.registry",
    "load_workflow": "reprolam.workflows.registry",
    "Planner": "reprolam.planning.base",
    "Proposal": "reprolam.planning.base",
    "Done": "reprolam.planning.base",
    "NoProposal": "reprolam.planning.base",
    "RunState": "reprolam.planning.base",
    "register_planner": "reprolam.planning.registry",
    "LLMSettings": "reprolam.planning.choose",
    "Executor": "reprolam.engine.executors",
    "ExecutorBase": "reprolam.engine.executors",
    "register_executor": "reprolam.engine.executor_registry",
    "Codec": "reprolam.codecs",
    "Serializer": "reprolam.codecs",
    # runs built by hand: one action outside a workflow, step labels, control edges
    "execute": "reprolam.engine.single",
    "Executed": "reprolam.engine.single",
    "ManualRun": "reprolam.engine.manual",
    "compute_environment_hash": "reprolam.engine.environment",
    "step_label": "reprolam.trace.links",
    "step_after": "reprolam.trace.links",
    "step_external": "reprolam.trace.links",
    "Policy": "reprolam.engine.policy",
    "TraceStore": "reprolam.trace.contract",
    "RunResult": "reprolam.engine.loop",
    "ReplayResult": "reprolam.history.replay",
    "ReproduceResult": "reprolam.history.reproduce",
    "Divergence": "reprolam.history.compare",
    "AuditReport": "reprolam.history.audit",
    "RunDiff": "reprolam.history.diff",
    "RunComparison": "reprolam.history.comparison",
    "RunQuery": "reprolam.trace.queries",
    "RunPage": "reprolam.trace.queries",
    "RunRow": "reprolam.trace.queries",
    "Annotation": "reprolam.trace.queries",
    "RunRecord": "reprolam.trace.records",
    "StepRecord": "reprolam.trace.records",
    "ArtifactRecord": "reprolam.trace.records",
    "RunStatus": "reprolam.trace.records",
    "StepStatus": "reprolam.trace.records",
    "StepKind": "reprolam.trace.records",
    "Verdict": "reprolam.trace.records",
    "ReprolamError": "reprolam.errors",
    "ReprolamWarning": "reprolam.errors",
    "OverrideNotApplied": "reprolam.errors",
    "ActionSpecError": "reprolam.errors",
    "WorkflowError": "reprolam.errors",
    "ConfigError": "reprolam.errors",
    "NotFoundError": "reprolam.errors",
    "AmbiguousIdError": "reprolam.errors",
    "StoreError": "reprolam.errors",
    "IntegrityError": "reprolam.errors",
    "LeaseLostError": "reprolam.errors",
    "CodecError": "reprolam.errors",
    "PolicyViolation": "reprolam.errors",
}
# Importable from the package for code written against earlier releases; documented in
# their own modules rather than in ``__all__``.
_LEGACY = {
    "Engine": "reprolam.engine.engine",
    "Origin": "reprolam.engine.loop",
    "RulesPlanner": "reprolam.planning.rules",
    "ScriptPlanner": "reprolam.planning.rules",
    "LLMPlanner": "reprolam.planning.llm",
    "SimulatedPlanner": "reprolam.planning.simulated",
    "choose_planner": "reprolam.planning.choose",
    "PlannerChoice": "reprolam.planning.choose",
    "open_store": "reprolam.trace.open",
    "diff_runs": "reprolam.history.diff",
    "export_run": "reprolam.provenance",
    "ExportError": "reprolam.provenance",
    "AuditProblem": "reprolam.history.audit",
    "Comparison": "reprolam.history.compare",
    "compare_steps": "reprolam.history.compare",
    "Problem": "reprolam.history.verify",
    "verify_trace": "reprolam.history.verify",
    "RecordedDecisions": "reprolam.history.recorded",
    "StepCache": "reprolam.engine.cache",
    "run_experiment": "reprolam.experiments",
    "ExperimentConfig": "reprolam.experiments",
    "Experiment": "reprolam.experiments",
}

__all__ = [
    "ActionContext",
    "ActionSpace",
    "ActionSpec",
    "ActionSpecError",
    "AmbiguousIdError",
    "Annotation",
    "ArtifactRecord",
    "AuditReport",
    "Client",
    "Codec",
    "CodecError",
    "ConfigError",
    "Divergence",
    "Done",
    "Executed",
    "Executor",
    "ExecutorBase",
    "Field",
    "GotArtifact",
    "InputData",
    "IntegrityError",
    "LLMSettings",
    "LeaseLostError",
    "ManualRun",
    "NoProposal",
    "NotFoundError",
    "OverrideNotApplied",
    "Planner",
    "Policy",
    "PolicyViolation",
    "Proposal",
    "ReplayResult",
    "ReproduceResult",
    "ReprolamError",
    "ReprolamWarning",
    "RunComparison",
    "RunDiff",
    "RunPage",
    "RunQuery",
    "RunRecord",
    "RunResult",
    "RunRow",
    "RunState",
    "RunStatus",
    "RunView",
    "Serializer",
    "StepKind",
    "StepRecord",
    "StepStatus",
    "StoreError",
    "SweepResult",
    "TraceStore",
    "Verdict",
    "Workflow",
    "WorkflowError",
    "action",
    "audit",
    "compute_environment_hash",
    "diff",
    "execute",
    "export",
    "fork",
    "get",
    "import_crate",
    "load_workflow",
    "open",
    "register_executor",
    "register_planner",
    "replay",
    "reproduce",
    "resume",
    "run",
    "runs",
    "show",
    "spec_of",
    "step_after",
    "step_external",
    "step_label",
    "sweep",
    "workflow",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name) or _LEGACY.get(name)
    if module is None:
        raise AttributeError(f"module 'reprolam' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:
    from reprolam.actions import ActionSpace, ActionSpec, action, spec_of
    from reprolam.api import (
        audit,
        diff,
        export,
        fork,
        get,
        import_crate,
        replay,
        reproduce,
        resume,
        run,
        runs,
        show,
        sweep,
    )
    from reprolam.client import Client, RunView, open
    from reprolam.codecs import Codec, Serializer
    from reprolam.context import ActionContext
    from reprolam.engine.environment import compute_environment_hash
    from reprolam.engine.executor_registry import register_executor
    from reprolam.engine.executors import Executor, ExecutorBase
    from reprolam.engine.inputs import InputData
    from reprolam.engine.loop import RunResult
    from reprolam.engine.manual import ManualRun
    from reprolam.engine.policy import Policy
    from reprolam.engine.single import Executed, execute
    from reprolam.errors import (
        ActionSpecError,
        AmbiguousIdError,
        CodecError,
        ConfigError,
        IntegrityError,
        LeaseLostError,
        NotFoundError,
        OverrideNotApplied,
        PolicyViolation,
        ReprolamError,
        ReprolamWarning,
        StoreError,
        WorkflowError,
    )
    from reprolam.history.audit import AuditReport
    from reprolam.history.compare import Divergence
    from reprolam.history.comparison import RunComparison
    from reprolam.history.diff import RunDiff
    from reprolam.history.replay import ReplayResult
    from reprolam.history.reproduce import ReproduceResult
    from reprolam.history.sweep import SweepResult
    from reprolam.params import Field
    from reprolam.planning.base import Done, NoProposal, Planner, Proposal, RunState
    from reprolam.planning.choose import LLMSettings
    from reprolam.planning.registry import register_planner
    from reprolam.results import GotArtifact
    from reprolam.trace.contract import TraceStore
    from reprolam.trace.links import step_after, step_external, step_label
    from reprolam.trace.queries import Annotation, RunPage, RunQuery, RunRow
    from reprolam.trace.records import (
        ArtifactRecord,
        RunRecord,
        RunStatus,
        StepKind,
        StepRecord,
        StepStatus,
        Verdict,
    )
    from reprolam.workflows.registry import Workflow, load_workflow, workflow
