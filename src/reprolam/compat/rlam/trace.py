"""rlam's ``ExecutionTrace``: the provenance DAG of executed actions, kept as a reprolam run.

Each ``add_result`` checks rlam's invariants (with rlam's messages), then records the
result as the next step of a hand-built run (``reprolam.ManualRun``): ``action_id`` is the
step's label, ``parents`` its control edges, the inputs and output content-addressed
artifacts. ``graph`` mirrors the recorded steps as the networkx ``DiGraph`` rlam users read.
"""

from __future__ import annotations

import atexit
import os
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from reprolam.client import Client
from reprolam.engine.manual import ManualRun
from reprolam.engine.single import Executed
from reprolam.errors import ConfigError
from reprolam.trace.contract import TraceStore
from reprolam.trace.links import step_after, step_label
from reprolam.trace.open import ENV_VAR, MEMORY, open_store, refuse_dsn_without_artifacts
from reprolam.trace.records import ErrorInfo, StepRecord, StepStatus

if TYPE_CHECKING:
    import networkx as nx

    from reprolam.codecs import Serializer
    from reprolam.compat.rlam.action import Action
    from reprolam.compat.rlam.executor import ExecutionResult

WORKFLOW = "rlam"  # the workflow name of runs recorded through this module
DECISION_KEY = "rlam"  # the step's raw decision: the rlam Action as proposed

StoreRef = Client | TraceStore | str | os.PathLike[str] | None


class ExecutionTrace:
    """Directed acyclic graph capturing the provenance of executed actions.

    Nodes are action ids, with ``action``, ``output``, ``status`` and ``error`` as data;
    edges are the dependencies given as ``parents``. An action that is not logged is treated
    as non-existent. ``store`` (an addition to rlam) says where the trace is recorded:
    default ``$REPROLAM_STORE`` if set, else a fresh in-memory store.
    """

    def __init__(self, *, store: StoreRef = None) -> None:
        self.graph = _frozen_graph()
        self._store_ref = store
        self._store: TraceStore | None = store if isinstance(store, TraceStore) else None
        self._run: ManualRun | None = None
        self._index: dict[str, int] = {}  # node (action id) -> step index
        self._node_at: dict[int, str] = {}  # step index -> node

    # -- additions to rlam: where the trace lives -----------------------------------------------

    @classmethod
    def open(cls, run: str, *, store: StoreRef = None) -> ExecutionTrace:
        """A recorded run (full id or unique prefix) as a trace, e.g. in another process.

        Outputs are read back from the store; a run built by hand through this module can be
        extended with ``add_result``.
        """
        trace = cls(store=store)
        trace._store = _open(store, create=False)  # a store that is not there is not made
        trace._run = ManualRun.open(trace.store, run, serializer=_serializer(store))
        for step in trace._run.steps:
            trace._add_node(step, None)
        return trace

    @property
    def store(self) -> TraceStore:
        """The trace store the actions are recorded in."""
        if self._store is None:
            self._store = _open(self._store_ref)
        return self._store

    @property
    def run(self) -> ManualRun:
        """The reprolam run behind this trace (its ``id`` is None until an action is added)."""
        if self._run is None:
            self._run = ManualRun(
                self.store, name=WORKFLOW, serializer=_serializer(self._store_ref)
            )
        return self._run

    @property
    def run_id(self) -> str | None:
        """The run id to give ``reprolam show/replay/audit/export``; None while empty."""
        return self._run.id if self._run is not None else None

    def recorded_output(self, action_id: str) -> Any:
        """The logged output of an action, read from the store and verified (None if failed)."""
        self.require_action(action_id)
        return self._output(self.run.step(self._index[action_id]))

    def __deepcopy__(self, memo: dict[int, Any]) -> ExecutionTrace:
        """rlam's ``copy.deepcopy(trace)``: an independent trace with the same actions, to
        extend without changing this one. Here a fork run inheriting every recorded step by
        reference (nothing is copied or executed), in the same store; an empty trace gives a
        new empty one."""
        import copy

        import networkx as nx

        if self._run is None or self._run.run is None:
            return ExecutionTrace(store=self._store_ref)
        copied = ExecutionTrace(store=self.store)
        copied._run = self._run.fork(len(self._run.steps))
        for node, data in self.graph.nodes(data=True):
            nx.DiGraph.add_node(copied.graph, node, **copy.deepcopy(data, memo))
        for parent, child in self.graph.edges:
            nx.DiGraph.add_edge(copied.graph, parent, child)
        copied._index, copied._node_at = dict(self._index), dict(self._node_at)
        return copied

    def __copy__(self) -> ExecutionTrace:
        """``copy.copy``: another name for this trace (the same graph and run), as in rlam."""
        copied = ExecutionTrace.__new__(ExecutionTrace)
        copied.__dict__.update(self.__dict__)
        return copied

    def __reduce__(self) -> Any:
        raise ConfigError(
            "an ExecutionTrace cannot be pickled: it is a run in a trace store; pass its "
            "run_id and store, and ExecutionTrace.open(run_id, store=...) it where it is needed "
            "(record it in a store directory or database: an in-memory store lives in one "
            "process); copy.deepcopy(trace) branches it in this process"
        )

    def __repr__(self) -> str:
        where = self._store.location if self._store is not None else _location(self._store_ref)
        return (
            f"ExecutionTrace(run={self.run_id}, store={where}, "
            f"{self.graph.number_of_nodes()} actions)"
        )

    # -- rlam 0.1.0 ---------------------------------------------------------------------------

    def add_result(self, result: ExecutionResult, parents: list[str] | None = None) -> None:
        """Add an executed action to the trace (recorded in the store at once).

        ``RuntimeError`` if the action id is already logged or a parent is not.
        """
        self._add(result, parents, recovers=None)

    def get_result(self, action_id: str) -> dict[str, Any]:
        """The node data of an action: ``action``, ``output``, ``status``, ``error``."""
        if action_id not in self.graph.nodes:
            raise KeyError(f"Action '{action_id}' does not exist in the execution trace.")
        node: dict[str, Any] = self.graph.nodes[action_id]
        return node

    def has_action(self, action_id: str) -> bool:
        return action_id in self.graph.nodes

    def require_action(self, action_id: str) -> None:
        """Enforce the logged-only execution invariant (``RuntimeError`` if not logged)."""
        if action_id not in self.graph.nodes:
            raise RuntimeError(
                f"Invariant violation: Action '{action_id}' does not exist in trace. "
                "Only logged actions may be referenced (logged-only execution)."
            )

    def add_recovery(self, failed_action_id: str, recovery_result: ExecutionResult) -> None:
        """Add a recovery action linked to a failed action (recorded with ``recovers``)."""
        self.require_action(failed_action_id)
        failed_node = self.graph.nodes[failed_action_id]
        if failed_node["status"] != "FAILED":
            raise RuntimeError(
                f"Invariant violation: Recovery requires FAILED status. "
                f"Action '{failed_action_id}' has status '{failed_node['status']}'. "
                "Only failed actions may have recovery actions."
            )
        self._add(recovery_result, [failed_action_id], recovers=failed_action_id)

    # -- internals ----------------------------------------------------------------------------

    def _add(
        self, result: ExecutionResult, parents: list[str] | None, *, recovers: str | None
    ) -> None:
        if parents is None:
            parents = []
        action_id = result.action.action_id
        if not action_id:  # rlam 0.1.0 took it; the store labels steps by non-empty ids
            raise ConfigError(
                "Action.action_id is empty (''): a trace names each action by its id, "
                "recorded as the step's label, so it must be a non-empty text: give the Action "
                "an id, e.g. action_id='load-1'; nothing was recorded"
            )
        if action_id in self.graph.nodes:
            raise RuntimeError(
                f"Invariant violation: Action '{action_id}' already exists in trace. "
                "Actions cannot be re-logged."
            )
        for parent_id in parents:
            if parent_id not in self.graph.nodes:
                raise RuntimeError(
                    f"Invariant violation: Parent action '{parent_id}' not logged. "
                    "Dependencies must exist before dependent actions."
                )
        step = self.run.record(
            result.executed() or _unmeasured(result),
            label=action_id,
            after=[self._index[p] for p in parents],
            recovers=None if recovers is None else self._index[recovers],
            decision={DECISION_KEY: _describe(result.action)},
        )
        self._add_node(step, result.action)

    def _add_node(self, step: StepRecord, action: Action | None) -> None:
        import networkx as nx

        node = step_label(step) or str(step.index)
        succeeded = step.status is StepStatus.SUCCEEDED
        error = None if succeeded else _error(step.error)
        nx.DiGraph.add_node(
            self.graph,
            node,
            action=action if action is not None else self._rebuild(step, node),
            output=self._output(step) if succeeded else None,
            status="SUCCESS" if succeeded else "FAILED",
            error=error,
        )
        self._index[node] = step.index
        self._node_at[step.index] = node
        for parent in step_after(step):
            if parent in self._node_at:
                nx.DiGraph.add_edge(self.graph, self._node_at[parent], node)

    def _output(self, step: StepRecord) -> Any:
        if step.status is not StepStatus.SUCCEEDED or not step.outputs:
            return None
        label = step_label(step)
        if label is not None and label in step.outputs:
            return self.run.load(step.outputs[label])
        if len(step.outputs) == 1:
            return self.run.load(next(iter(step.outputs.values())))
        return {name: self.run.load(key) for name, key in step.outputs.items()}

    def _rebuild(self, step: StepRecord, node: str) -> Action:
        """The Action of a step read from the store (as proposed, for a step made by rlam)."""
        from reprolam.compat.rlam.action import Action

        decision = step.proposal.get("decision", {})
        described = decision.get(DECISION_KEY) if isinstance(decision, dict) else None
        if not isinstance(described, dict):  # a step recorded some other way
            return Action(
                action_id=node,
                action_type=step.action,
                inputs={name: self.run.load(key) for name, key in step.inputs.items()},
                parameters=dict(step.params),
                environment_hash=self.run.run.environment or "" if self.run.run else "",
                timestamp=datetime.fromtimestamp(step.started_at, UTC),
            )
        inputs = {n: self.run.load(step.inputs[n]) for n in described["inputs"] if n in step.inputs}
        parameters: dict[str, Any] = {}
        for name in described["parameters"]:
            stored = f"param.{name}" if name in described["inputs"] else name
            if name in step.params:
                parameters[name] = step.params[name]
            elif stored in step.inputs:
                parameters[name] = self.run.load(step.inputs[stored])
        return Action(
            action_id=described["action_id"],
            action_type=step.action,
            inputs=inputs,
            parameters=parameters,
            environment_hash=described["environment_hash"],
            timestamp=datetime.fromisoformat(described["timestamp"]),
        )


def _describe(action: Action) -> dict[str, Any]:
    """What the store keeps of an Action besides its values (to give it back as proposed)."""
    return {
        "action_id": action.action_id,
        "inputs": list(action.inputs),
        "parameters": list(action.parameters),
        "environment_hash": action.environment_hash,
        "timestamp": action.timestamp.isoformat(),
    }


def _error(error: ErrorInfo | None) -> str | None:
    """A failed node's ``error``: the exception's message, empty too (``str(exc)``, as rlam
    keeps it); None for a result built by hand with none (recorded without a type)."""
    if error is None or not (error.type or error.message):
        return None
    return error.message


def _unmeasured(result: ExecutionResult) -> Executed:
    """A result reprolam did not execute (built by hand, or changed after execution).

    Recorded as given, without the fingerprint, seed or timing nobody measured: ``reprolam
    audit`` reports such a step as incomplete, which it is.
    """
    action = result.action
    failed = result.status == "FAILED"
    return Executed(
        action=action.action_type,
        version="",
        fingerprint="",
        params=dict(action.parameters),
        inputs=dict(action.inputs),
        outputs={} if failed else {action.action_id: result.output},
        error=ErrorInfo(type="", message=result.error or "") if failed else None,
        seed=None,
        started_at=action.timestamp.timestamp(),
        duration=None,
    )


def _frozen_graph() -> nx.DiGraph[str]:
    """An empty DiGraph that refuses changes: nodes are added by recording, never directly."""
    import networkx as nx

    graph: nx.DiGraph[str] = nx.DiGraph()
    nx.freeze(graph)
    return graph


_opened: dict[str, TraceStore] = {}  # location -> store, shared by this process's traces


def _open(ref: StoreRef, *, create: bool = True) -> TraceStore:
    if isinstance(ref, TraceStore):
        return ref
    if isinstance(ref, Client):
        return ref.store
    location = _location(ref)
    refuse_dsn_without_artifacts(location, "ExecutionTrace(store=...)")
    if location == MEMORY:
        return open_store(MEMORY)  # a fresh one per trace, as rlam's traces are independent
    if location not in _opened:
        if not _opened:
            atexit.register(_close_opened)
        _opened[location] = open_store(location, create=create)
    return _opened[location]


def _serializer(ref: StoreRef) -> Serializer | None:
    """A reprolam client's serializer (its trust opt-in honoured); None: the default."""
    return ref._serializer() if isinstance(ref, Client) else None


def _location(ref: StoreRef) -> str:
    """Where ``store=ref`` records: the reference, else ``$REPROLAM_STORE``, else memory."""
    if isinstance(ref, TraceStore):
        return ref.location
    if ref is None:
        return os.environ.get(ENV_VAR) or MEMORY
    if isinstance(ref, Client):
        return ref.store.location
    return os.fspath(ref)


def _close_opened() -> None:
    while _opened:
        _location, store = _opened.popitem()
        store.close()
