"""The deterministic execution engine: every proposal goes policy -> execute -> record.

Recording discipline (what makes the trace complete even when the process dies):

* a step is written as ``started`` before its action runs, and completed after;
* artifact bytes are written before the records that reference them;
* with an ``instant`` planner, a step's completion is committed in the same transaction as
  the next step's start (one commit per step on the hot path). Completions of ``external``
  actions, and every completion before a slow planner (an LLM) is consulted, are committed
  at once, so nothing expensive or irreversible is ever held only in memory.
"""

from __future__ import annotations

import math
import os
import socket
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from reprolam.codecs import Serializer, default_serializer
from reprolam.context import check_seed
from reprolam.engine.cache import StepCache
from reprolam.engine.code_capture import CodeCapture, capture_code
from reprolam.engine.concurrent import Lookahead, wants_lookahead
from reprolam.engine.environment import capture_environment
from reprolam.engine.executor_registry import executor_from_config
from reprolam.engine.executors import Executor
from reprolam.engine.faults import validate_faults
from reprolam.engine.inputs import (
    GivenInputs,
    RecordedInput,
    check_uncopied,
    inputs_for,
    recorded_inputs,
)
from reprolam.engine.inputs import install as install_inputs
from reprolam.engine.loop import Origin, RunLoop, RunResult, StepCallback
from reprolam.engine.outputs import load_file
from reprolam.engine.policy import EFFECTS_POLICIES, Policy, validate_overrides
from reprolam.engine.start_state import StartState, start_loop, state_at
from reprolam.errors import ConfigError
from reprolam.hashing import digest
from reprolam.ids import uuid7
from reprolam.planning.base import (
    Planner,
)
from reprolam.trace.contract import TraceStore
from reprolam.trace.records import (
    ArtifactRecord,
    RunRecord,
    RunStatus,
    run_header_hash,
)
from reprolam.trace.stored_json import load_json
from reprolam.workflows.registry import Workflow, refuse_runs_while_importing

__all__ = ["Engine", "Origin", "RunResult", "StepCallback"]


class Engine:
    """Runs workflows against a trace store.

    ``executor`` is an executor instance (its owner starts and closes it), or a name or
    recorded config (``{"name": "process"}``) that the engine builds, owns and closes in
    ``close()``. The engine starts the executor before a run's first action either way.
    """

    def __init__(
        self,
        store: TraceStore,
        *,
        serializer: Serializer | None = None,
        executor: Executor | str | Mapping[str, Any] | None = None,
    ) -> None:
        self.store = store
        self.serializer = serializer or default_serializer()
        self._owns_executor = executor is None or isinstance(executor, str | Mapping)
        if executor is None or isinstance(executor, str | Mapping):
            executor = executor_from_config(executor or "local")
        else:
            refuse_non_executor(executor)
        self.executor: Executor = executor

    def close(self) -> None:
        """Close the executor if this engine built it."""
        if self._owns_executor:
            self.executor.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run(
        self,
        workflow: Workflow,
        *,
        planner: Planner,
        seed: int = 0,
        policy: Policy | None = None,
        overrides: Mapping[str, Mapping[str, Any]] | None = None,
        on_step: StepCallback | None = None,
        origin: Origin | None = None,
        cache: StepCache | None = None,
        inputs: GivenInputs | None = None,
    ) -> RunResult:
        """Plan and execute ``workflow`` until the planner is done or a budget runs out.

        With an ``origin``, the run is a fork (it starts from the parent's inherited steps) or
        a reproduction (it names the run it verifies). With a ``cache``, every new step is
        compared with its recorded counterpart (see ``engine.cache``). ``inputs`` gives the
        workflow's external data (``engine.inputs``); forks and reproductions find theirs
        in the run they come from.
        """
        refuse_runs_while_importing()
        check_seed(seed)
        origin = origin or Origin()
        checked = validate_overrides(workflow.actions, overrides or {})
        policy = replace(policy or Policy(), executor=self.executor.config())
        self._check_policy(policy, workflow)
        # Read before this run writes anything: a read waits for pending writes to commit.
        start: StartState | None = None
        if origin.inherited:  # given explicitly: the old way, every step in memory
            inherited_head = origin.inherited[-1].hash or ""
        elif origin.parent is not None and origin.fork_index:
            start = state_at(self.store, origin.parent, origin.fork_index)
            inherited_head = start.snapshot.head
        else:
            inherited_head = ""
        given = inputs_for(self, workflow, inputs, origin.parent, origin.verifies)
        code = capture_code(workflow)
        code_key, code_artifacts = self._code_artifacts(code)
        environment = self._environment(
            workflow, given, fingerprints=code.fingerprints, code=code_key
        )
        env_digest = self._store_value(environment, with_artifacts=code_artifacts)
        if cache is not None:
            cache.run_environment(code.manifest, environment.get("packages", {}))
        run = RunRecord(
            id=uuid7(),
            workflow=workflow.name,
            seed=seed,
            created_at=time.time(),
            planner=planner.config(),
            policy=policy.to_dict(),
            environment=env_digest,
            overrides=checked,
            host=socket.gethostname(),
            pid=os.getpid(),
            parent_id=origin.parent.id if origin.parent else None,
            fork_index=origin.fork_index,
            verifies=origin.verifies,
        )
        run = replace(run, header_hash=run_header_hash(run, inherited_head))
        self.executor.start()  # one that cannot start leaves no run behind, "interrupted"
        with self.store.lease(run.id):  # before the record: a dead run is then recognizable
            self.store.create_run(run)
            loop = self._loop(workflow, run, planner, policy, checked, on_step, cache)
            loop.fingerprints = code.fingerprints
            install_inputs(loop, given)
            if start is not None and origin.parent is not None:
                start_loop(loop, start, steps_of=origin.parent.id)
            else:
                loop.inherit(origin.inherited)
            return loop.drive()

    def resume(
        self,
        workflow: Workflow,
        run: RunRecord,
        *,
        planner: Planner,
        policy: Policy,
        force: bool = False,
        on_step: StepCallback | None = None,
    ) -> RunResult:
        """Continue an interrupted run from its last committed step.

        Finished steps are not re-executed. A step that was running when the process died is
        re-run with its recorded params, inputs and seed — unless its action has external
        side effects, which may already have happened: then only with ``force``.
        """
        refuse_runs_while_importing()
        if run.status is not RunStatus.INTERRUPTED:
            state = {RunStatus.RUNNING: "is still running"}.get(run.status, f"has {run.status}")
            raise ConfigError(
                f"run {run.id} {state}, not interrupted: only an interrupted run can be resumed "
                "(fork it to run it again from a step)"
            )
        from reprolam.trace.copy import COPY_AGAIN, is_stopped_copy

        if is_stopped_copy(run):
            raise ConfigError(
                f"run {run.id} is a copy that stopped midway, not a run that was interrupted: "
                f"{COPY_AGAIN} (resumed here, the steps it lacks would execute again, and the "
                "copy would then refuse the run as different)"
            )
        policy = replace(policy, executor=self.executor.config())
        self._check_policy(policy, workflow)
        inputs = recorded_inputs(load_json(self.store, run.environment))
        check_uncopied(inputs, f"run {run.id}", "resume it")
        start = state_at(self.store, run, skip_unfinished=True)
        unfinished = start.unfinished
        spec = workflow.actions.get(unfinished[0].action) if unfinished else None
        if spec is not None and spec.determinism == "external" and not force:
            raise ConfigError(
                f"step {unfinished[0].index} ({spec.name}) was running when run {run.id} was "
                f"interrupted and has external side effects ({', '.join(spec.side_effects)}) "
                "that may already have happened",
                option="force",
                hint="check them, then resume with {force=True}",
            )
        self.executor.start()  # one that cannot start leaves the run as it was
        with self.store.lease(run.id):
            current = self.store.get_run(run.id).status  # again, now that nobody else can
            if current is not RunStatus.INTERRUPTED:
                raise ConfigError(
                    f"run {run.id} is {current.value} now: another process resumed it meanwhile"
                )
            run = replace(
                run,
                status=RunStatus.RUNNING,
                error=None,
                finished_at=None,
                host=socket.gethostname(),
                pid=os.getpid(),
            )
            self.store.record(run=run)
            loop = self._loop(workflow, run, planner, policy, run.overrides, on_step, None)
            loop.fingerprints = capture_code(workflow).fingerprints
            install_inputs(loop, inputs)
            start_loop(loop, start, steps_of=run.id)
            return loop.drive(rerun=unfinished[0] if unfinished else None)

    def _loop(
        self,
        workflow: Workflow,
        run: RunRecord,
        planner: Planner,
        policy: Policy,
        overrides: Mapping[str, Mapping[str, Any]],
        on_step: StepCallback | None,
        cache: StepCache | None,
    ) -> RunLoop:
        prepare = getattr(self.executor, "prepare", None)  # optional for plug-ins
        if prepare is not None:
            prepare(self.store, workflow)
        allow_pickle = getattr(self.executor, "allow_pickle", None)  # optional for plug-ins
        if allow_pickle is not None:
            allow_pickle(self.serializer.pickles)
        loop = RunLoop(
            self.store,
            self.executor,
            self.serializer,
            workflow=workflow,
            run=run,
            planner=planner,
            policy=policy,
            overrides={k: dict(v) for k, v in overrides.items()},
            on_step=on_step,
            cache=cache,
        )
        if wants_lookahead(self.executor, planner, policy.faults, bool(cache and cache.reuse)):
            loop.ahead = Lookahead(loop)  # independent ready actions run at once
        return loop

    def _environment(
        self, workflow: Workflow, inputs: list[RecordedInput], **capture: Any
    ) -> dict[str, Any]:
        env = capture_environment(workflow, **capture)
        if inputs:
            env["inputs"] = {item.name: item.to_dict() for item in inputs}
        if self.serializer.pickles:  # the opt-in is part of what the run ran with
            env["trust_pickle"] = True
        return env

    def _check_policy(self, policy: Policy, workflow: Workflow) -> None:
        check_policy(policy, workflow, self.executor)

    def load(self, artifact_digest: str) -> Any:
        """An artifact's value, verified against its digest (files: a read-only path)."""
        record, data = self.store.get_artifact(artifact_digest)
        value = self.serializer.loads_typed(record.codec, data)
        return load_file(self.store, record.codec, value, artifact_digest)

    def _code_artifacts(self, code: CodeCapture) -> tuple[str, list[tuple[ArtifactRecord, bytes]]]:
        """The run's source texts and code manifest as artifacts; the manifest's digest."""
        artifacts = [(ArtifactRecord(k, "json", len(b)), b) for k, b in code.sources.items()]
        tag, data = self.serializer.dumps_typed(code.manifest)
        key = digest(data)
        artifacts.append((ArtifactRecord(key, tag, len(data)), data))
        return key, artifacts

    def _store_value(
        self, value: Any, *, with_artifacts: Sequence[tuple[ArtifactRecord, bytes]] = ()
    ) -> str:
        """Store ``value`` (and ``with_artifacts``, in the same write); its digest."""
        tag, data = self.serializer.dumps_typed(value)
        key = digest(data)
        self.store.record(artifacts=[*with_artifacts, (ArtifactRecord(key, tag, len(data)), data)])
        return key


def refuse_non_executor(executor: Any) -> None:
    """An ``executor`` that is neither a name, a config nor an executor failed the run with
    an AttributeError ('int' object has no attribute 'config')."""
    if not all(callable(getattr(executor, method, None)) for method in ("execute", "config")):
        raise ConfigError(
            f"{{executor}} {executor!r} ({type(executor).__name__}) is not an executor",
            option="executor",
            hint="give a name ({executor=process}), a config ({'name': 'dask', 'workers': 2}) "
            "or an Executor instance",
        )


def check_policy(policy: Policy, workflow: Workflow, executor: Any) -> None:
    """Refuse a policy this workflow and executor (an instance or its class: its ``name``
    and ``stops_on_timeout``) cannot run, before anything is written."""
    _check_budgets(policy)
    validate_faults(workflow.actions, policy.faults)
    if policy.effects not in EFFECTS_POLICIES:
        raise ConfigError(
            f"effects policy {policy.effects!r} is not one of {', '.join(EFFECTS_POLICIES)}",
            option="effects",
            value=policy.effects,
            hint="use {effects=warn} to record undeclared effects or {effects=strict} to "
            "also fail their steps",
        )
    timeout = policy.action_timeout
    if timeout is not None and not (isinstance(timeout, int | float) and 0 < timeout < math.inf):
        raise ConfigError(
            f"action timeout {{action_timeout={timeout}}} is not a positive, finite number "
            "of seconds",
            option="action_timeout",
            value=timeout,
            hint="give e.g. {action_timeout=30}, or none for no timeout",
        )
    if policy.action_timeout is not None and not executor.stops_on_timeout:
        raise ConfigError(
            f"an action timeout ({policy.action_timeout} s) needs an executor that can stop "
            f"a running action; the {executor.name} executor cannot",
            option="executor",
            value=executor.name,
            hint="use {executor=process}",
        )


# The policy's counts and the least each may be (0 steps, failures or rejections allowed
# would stop a run before its first step); its switches.
_POLICY_COUNTS = {"max_steps": 1, "max_failures": 1, "max_consecutive_rejections": 1, "retries": 0}
_POLICY_SWITCHES = ("allow_nondeterministic", "allow_external")


def _check_budgets(policy: Policy) -> None:
    """Refuse a count that is no whole number (or too small) and a switch that is no bool:
    '2' failed the run with a TypeError at its first comparison, recorded as interrupted,
    and -1, 2.5 or 'no' were recorded as the run's policy."""
    problem = budget_problem(policy)
    if problem is not None:
        name, value, fix = problem
        raise ConfigError(f"policy {name}={value!r}: {fix}", option="policy", value=value)


def budget_problem(policy: Policy) -> tuple[str, Any, str] | None:
    """The first count or switch of ``policy`` a run refuses: its name, value and the fix."""
    for name, least in _POLICY_COUNTS.items():
        value = getattr(policy, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            return name, value, f"give a whole number, {least} or more"
    for name in _POLICY_SWITCHES:
        value = getattr(policy, name)
        if not isinstance(value, bool):
            return name, value, "give True or False"
    return None
