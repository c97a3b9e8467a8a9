"""The Python API: everything the CLI does, callable from code.

Example::

    import reprolam
    result = reprolam.run("breast-cancer", store=".reprolam", seed=0)
    print(result.id, result.outputs["metrics"]["accuracy"])
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from reprolam.engine.engine import Engine, RunResult, StepCallback
from reprolam.engine.policy import Policy, parse_override
from reprolam.planning.base import Planner
from reprolam.planning.choose import choose_planner
from reprolam.trace.contract import TraceStore
from reprolam.trace.open import open_store
from reprolam.trace.records import RunRecord, StepRecord
from reprolam.workflows.registry import Workflow, load_workflow

StoreRef = TraceStore | str | os.PathLike[str] | None


@dataclass(frozen=True, slots=True)
class RunView:
    """A recorded run with its whole trace, as `reprolam show` presents it."""

    run: RunRecord
    steps: list[StepRecord]
    metrics: dict[str, Any] | None

    def inherited(self, step: StepRecord) -> bool:
        return self.run.fork_index is not None and step.index < self.run.fork_index

    def to_dict(self) -> dict[str, Any]:
        return {
            "run": self.run.to_dict(),
            "steps": [{**s.to_dict(), "inherited": self.inherited(s)} for s in self.steps],
            "metrics": self.metrics,
        }


def parse_overrides(items: Iterable[str]) -> dict[str, dict[str, Any]]:
    """``['train_model.C=0.1', ...]`` -> ``{'train_model': {'C': 0.1}}``."""
    overrides: dict[str, dict[str, Any]] = {}
    for text in items:
        action_name, param, value = parse_override(text)
        overrides.setdefault(action_name, {})[param] = value
    return overrides


def run(
    workflow: str | Workflow | None = None,
    *,
    store: StoreRef = None,
    planner: str | Planner = "auto",
    seed: int = 0,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    policy: Policy | None = None,
    on_step: StepCallback | None = None,
) -> RunResult:
    """Plan, execute and record one run of ``workflow`` (default: ``breast-cancer``)."""
    flow = load_workflow(workflow)
    chosen = choose_planner(planner).planner if isinstance(planner, str) else planner
    with _store(store) as trace:
        return Engine(trace).run(
            flow, planner=chosen, seed=seed, policy=policy, overrides=overrides, on_step=on_step
        )


def runs(*, store: StoreRef = None, limit: int | None = None) -> list[RunRecord]:
    """Recorded runs, newest first."""
    with _store(store) as trace:
        return trace.list_runs(limit=limit)


def show(run_ref: str, *, store: StoreRef = None) -> RunView:
    """A run (full id or unique prefix) with its whole trace and final metrics."""
    with _store(store) as trace:
        run_id = trace.resolve_run_id(run_ref)
        record = trace.get_run(run_id)
        return RunView(record, trace.steps(run_id), final_metrics(trace, record))


def final_metrics(trace: TraceStore, run: RunRecord) -> dict[str, Any] | None:
    """The run's ``metrics`` output, if it has one stored as JSON."""
    key = run.outputs.get("metrics")
    if key is None:
        return None
    record, data = trace.get_artifact(key)
    if record.codec != "json":
        return None
    from reprolam.codecs import default_serializer

    value = default_serializer().loads_typed(record.codec, data)
    return value if isinstance(value, dict) else None


class _store:
    """Open a store from a reference, closing it afterwards only if we opened it."""

    def __init__(self, ref: StoreRef) -> None:
        self.owned = not isinstance(ref, TraceStore)
        self.trace = open_store(ref) if not isinstance(ref, TraceStore) else ref

    def __enter__(self) -> TraceStore:
        return self.trace

    def __exit__(self, *exc: object) -> None:
        if self.owned:
            self.trace.close()
