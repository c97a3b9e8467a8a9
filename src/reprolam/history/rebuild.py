"""Rebuild what a recorded run used (workflow, policy, planner, executor) to run it again.

``fork``, ``resume`` and ``reproduce`` all start from a recorded run; this is the one place
that turns its record back into live objects, through the registries, so none of them needs
to know a planner's or an executor's fields.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from reprolam.codecs._pickle import stand_in_for_main
from reprolam.engine.executors import Executor
from reprolam.engine.policy import Policy
from reprolam.errors import ConfigError, WorkflowError
from reprolam.planning.base import Planner
from reprolam.planning.choose import (
    OFFLINE_PLANNERS,
    LLMSettings,
    choose_planner,
    refuse_llm_without_llm,
    refuse_non_planner,
)
from reprolam.planning.registry import planner_from_config
from reprolam.trace.contract import TraceStore
from reprolam.trace.records import RunRecord
from reprolam.trace.stored_json import load_json
from reprolam.workflows.registry import Workflow, import_file, load_workflow


def workflow_of(
    store: TraceStore,
    run: RunRecord,
    override: str | Workflow | None,
    *,
    trusted: bool = False,
) -> Workflow:
    """The workflow a run used: as given, else from where it was loaded, else by name, else
    (``trusted`` stores only: it executes stored code) from the source stored with the run.

    For a run recorded by ``python script.py``, the module its workflow comes from here
    stands in for that script's ``__main__``: the run's pickles of the script's classes
    (``__main__.Box``) load, as inputs of the steps a fork or a resume executes.
    """
    environment = load_json(store, run.environment)
    flow = _workflow_of(store, run, environment, override, trusted=trusted)
    first = next(iter(flow.actions), None)
    module = sys.modules.get(first.fn.__module__) if first is not None else None
    if (
        module is not None
        and module.__name__ != "__main__"
        and _recorded_main(store, environment)[1] is not None  # recorded by python SCRIPT.py
    ):
        stand_in_for_main(module)
    return flow


def _recorded_main(
    store: TraceStore, environment: dict[str, Any]
) -> tuple[dict[str, Any], str | None]:
    """The modules a run's code manifest records, and the script it was recorded by
    (``python script.py``: the ``.py`` file of its ``__main__``), if any."""
    from reprolam.history.code_diff import code_manifest

    modules = code_manifest(store, environment).get("modules", {})
    script = (modules.get("__main__") or {}).get("file")
    return modules, script if isinstance(script, str) and script.endswith(".py") else None


def _workflow_of(
    store: TraceStore,
    run: RunRecord,
    environment: dict[str, Any],
    override: str | Workflow | None,
    *,
    trusted: bool = False,
) -> Workflow:
    if override is not None:
        return load_workflow(override)
    source = environment.get("workflow", {}).get("source") or run.workflow
    try:
        flow = load_workflow(source)
    except WorkflowError as exc:
        why = str(exc)  # e.g. a module the workflow file imports is gone: say so
        try:
            flow = load_workflow(run.workflow)
        except WorkflowError:
            if run.planner.get("name") == "manual":  # ManualRun: no workflow was ever loaded
                raise WorkflowError(
                    f"run {run.id} was built by hand (ManualRun, reprolam.compat.rlam): its "
                    "actions are functions of the script that recorded it, not a workflow",
                    option="workflow",
                    hint="extend or branch it from that script (ManualRun.open, ManualRun.fork; "
                    "rlam: ExecutionTrace.open, fork_trace), or pass {workflow=MODULE:ATTR}",
                ) from None
            modules, script = _recorded_main(store, environment)
            live = _main_workflow(run, modules, script)
            if live is not None:
                return live
            loaded = _script_workflow(run, script)
            if loaded is not None:
                return loaded
            from reprolam.history.code_rebuild import stored_workflow

            rebuilt = stored_workflow(store, run) if trusted else None
            if rebuilt is not None:
                return rebuilt
            gone = script if script is not None and not os.path.isfile(script) else None
            if gone is not None:  # 'unknown workflow NAME' would not say what is missing
                why = (
                    f"it was recorded by the script {gone}, which is not there any more "
                    "(moved, renamed or deleted)"
                )
            stored = (
                "; its source may be stored with the run: trust the store ({trusted=True}) "
                "to rebuild it from there, or name the file or module that defines it"
            )
            raise WorkflowError(
                f"cannot load workflow {run.workflow!r} of run {run.id} ({why}"
                f"{'' if source in why else f'; recorded source: {source!r}'})"
                f"{stored if not trusted else ''}",
                option="workflow",
                hint="pass {workflow=MODULE:ATTR} or {workflow=PATH.py:ATTR}",
            ) from None
    if flow.name != run.workflow:
        raise WorkflowError(
            f"workflow loaded from {source!r} is named {flow.name!r}, but run {run.id} used "
            f"{run.workflow!r}",
            option="workflow",
            hint="pass the right one with {workflow}",
        )
    return flow


def _main_workflow(
    run: RunRecord, modules: dict[str, Any], recorded: str | None
) -> Workflow | None:
    """The workflow of that name that this process's ``__main__`` holds, when the run was
    recorded from a ``__main__`` too and this one is the same (a notebook's kernel,
    ``python -``, or the script that recorded it, still running): found in this process, as a
    workflow given as an object is. Without it a notebook's run could be forked only with
    ``trusted=True`` or ``workflow=flow``, and a script's file was imported again, its
    unguarded top level refused."""
    main = sys.modules.get("__main__")
    if main is None or not isinstance(modules.get("__main__", False), dict | None):
        return None
    if recorded is not None and not _same_file(recorded, getattr(main, "__file__", None)):
        return None  # another script (or a notebook): load the one that recorded it
    for value in list(vars(main).values()):
        if isinstance(value, Workflow) and value.name == run.workflow:
            return value
    return None


def _same_file(a: str, b: Any) -> bool:
    if not isinstance(b, str):
        return False
    try:
        return Path(a).resolve() == Path(b).resolve()
    except OSError:
        return False


def _script_workflow(run: RunRecord, script: str | None) -> Workflow | None:
    """The workflow of a run recorded by ``python script.py`` (its actions in ``__main__``):
    the one of that name in the same file, loaded as a module (its ``__main__`` block does
    not run), as ``{workflow=script.py:ATTR}`` would."""
    if script is None or not os.path.isfile(script):
        return None
    try:
        module = import_file(Path(script))
    except Exception as exc:
        raise WorkflowError(
            f"run {run.id} was recorded by the script {script}; loading it failed: "
            f"{type(exc).__name__}: {exc}",
            option="workflow",
            hint="fix the script, or pass {workflow=MODULE:ATTR} or {workflow=PATH.py:ATTR}",
        ) from None
    for attr, value in vars(module).items():
        if isinstance(value, Workflow) and value.name == run.workflow:
            return replace(value, source=f"{script}:{attr}")
    return None


# A policy to use as it is, or changes to the recorded one ({"retries": 2}); None: as recorded
PolicyChanges = Policy | Mapping[str, Any] | None
# An executor instance, a registered name, a recorded config; None: the one the run recorded
ExecutorRef = Executor | str | Mapping[str, Any] | None


def policy_of(run: RunRecord) -> Policy:
    """The run's recorded policy (fields this version does not know are dropped)."""
    known = {f.name for f in fields(Policy)}
    return Policy(**{k: v for k, v in run.policy.items() if k in known})


def changed_policy(run: RunRecord, policy: PolicyChanges) -> Policy:
    """``policy`` if it is one, else the recorded policy with these changes."""
    if isinstance(policy, Policy):
        return policy
    changed = with_changes(policy_of(run), policy)
    _refuse_recorded_budget(run, changed, given=set(policy or {}))
    return changed


# the policy fields a flag of fork, resume, reproduce and sweep overrides (as {name=N})
_POLICY_FLAGS = ("retries", "max_failures")


def _refuse_recorded_budget(run: RunRecord, policy: Policy, *, given: set[str]) -> None:
    """A count or switch the run recorded that a run refuses now (recorded before it was
    checked: max_steps=2.5, allow_external='no') is named as the run's, with its override;
    the engine's refusal read as if the user had just given it."""
    from reprolam.engine.engine import budget_problem  # the engine only once a run starts

    problem = budget_problem(policy)
    if problem is None or problem[0] in given:
        return
    name, value, fix = problem
    example = "True" if isinstance(getattr(Policy(), name), bool) else "N"
    if name in _POLICY_FLAGS:
        hint = f"override it with {{{name}={example}}}"
    else:  # no markup: '{' starts a dict here
        hint = "override it from Python, policy={'" + name + "': " + example + "}"
        hint += " (the command line has no flag for it)"
    raise ConfigError(
        f"run {run.id} recorded the policy {name}={value!r}, which runs refuse now ({fix}), "
        "so it cannot run again with the policy as recorded",
        option="policy",
        value=value,
        hint=hint,
    )


def with_changes(policy: Policy, changes: Mapping[str, Any] | None) -> Policy:
    """``policy`` with ``changes`` applied; a field name it lacks is refused with the fix."""
    if not changes:
        return policy
    known = {f.name for f in fields(Policy)}
    unknown = sorted(set(changes) - known)
    if unknown:
        raise ConfigError(
            f"policy has no setting {', '.join(map(repr, unknown))}",
            option="policy",
            hint=f"use among {', '.join(sorted(known))}",
        )
    return replace(policy, **changes)


def executor_of(run: RunRecord) -> dict[str, Any]:
    """The recorded executor config (``local`` for runs recorded before executors were)."""
    return dict(policy_of(run).executor)


def planner_of(
    run: RunRecord,
    override: str | Planner | None = None,
    *,
    llm: LLMSettings | None = None,
    choosable: bool = True,
) -> Planner:
    """A live planner: ``override`` (a name or a planner), else a fresh one of the run's kind.
    ``choosable``: the verb takes a planner (a sweep's points plan as their run did)."""
    if isinstance(override, str):
        return choose_planner(override, llm=llm).planner
    if override is not None:
        refuse_non_planner(override)
        return override
    name = run.planner.get("name")
    if name in OFFLINE_PLANNERS:
        refuse_llm_without_llm(
            llm,
            f"run {run.id} was planned by the {name} planner, which calls none (and plans the "
            "new steps too)",
            fix=", or choose {planner=llm}" if choosable else " (a sweep plans as its run did)",
        )
    return planner_from_config(run.planner, llm=llm)
