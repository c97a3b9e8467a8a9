"""Runs to export, shared by the provenance tests: one with everything that can go wrong
(failed planner decision, rejections, a failure and its recovery) and a fork of it.

Not tests themselves; imported by tests/test_provenance*.py.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Annotated, Any

from pydantic import Field

from reprolam import ActionContext, Engine, NoProposal, Proposal, RunState, action, workflow
from reprolam.codecs import default_serializer
from reprolam.hashing import digest
from reprolam.ids import uuid7
from reprolam.planning.base import Done
from reprolam.trace.contract import TraceStore
from reprolam.trace.records import (
    ArtifactRecord,
    RunRecord,
    RunStatus,
    StepKind,
    StepRecord,
    StepStatus,
    seal,
)


@action(outputs=["data"], determinism="seeded")
def make_data(*, n: Annotated[int, Field(ge=1, le=1000)] = 5, ctx: ActionContext) -> list[int]:
    """Draw n seeded integers."""
    return [ctx.random.randrange(1000) for _ in range(n)]


@action(outputs=["total"])
def add_up(data: list[int], *, scale: Annotated[float, Field(gt=0)] = 1.0) -> float:
    """Sum the data; scale 13 is unlucky."""
    if scale == 13:
        raise ValueError("unlucky scale 13")
    return sum(data) * scale


@action(outputs=["report", "summary"])
def report(total: float, data: list[int]) -> tuple[str, dict[str, float]]:
    """Describe the total."""
    return f"total={total}", {"total": total, "n": len(data)}


FLOW = workflow("troubled", [make_data, add_up, report], outputs=["report"])


class Scripted:
    """Returns the given decisions in order, then Done."""

    name = "scripted"
    instant = True

    def __init__(self, decisions: list[Proposal | NoProposal], config: Mapping[str, Any]):
        self.decisions = list(decisions)
        self._config = dict(config)

    def propose(self, state: RunState) -> Proposal | Done | NoProposal:
        return self.decisions.pop(0) if self.decisions else Done("script over")

    def config(self) -> dict[str, Any]:
        return dict(self._config)


def troubled_run(store: TraceStore, *, config: Mapping[str, Any] | None = None) -> str:
    """0 decision failed, 1-2 rejected, 3 make_data, 4 add_up failed, 5 add_up recovers 4,
    6 report. Returns the run id."""
    planner = Scripted(
        [
            NoProposal("HTTP 500 from the model", error_type="APIError", decision={"attempt": 1}),
            Proposal("nope", rationale="guessing"),
            Proposal("make_data", params={"n": 0}),  # out of bounds
            Proposal("make_data", params={"n": 4}),
            Proposal("add_up", params={"scale": 13}),
            Proposal("add_up", params={"scale": 2}, recovers=4, rationale="retry with scale 2"),
            Proposal("report"),
        ],
        config or {"name": "llm", "model": "test-model", "temperature": 0.2},
    )
    result = Engine(store).run(FLOW, planner=planner, seed=7)
    assert result.succeeded, result.run.error
    return result.id


def fork_run(store: TraceStore, parent_id: str, *, at: int = 4) -> str:
    """A fork of ``parent_id`` inheriting steps < ``at`` by reference, then add_up(scale=3)
    and report. Built by hand: the fork command lives elsewhere."""
    parent = store.get_run(parent_id)
    inherited = [s for s in store.steps(parent_id) if s.index < at]
    data_key = next(s.outputs["data"] for s in reversed(inherited) if "data" in s.outputs)
    ser = default_serializer()
    data = ser.loads_typed("json", store.get_artifact(data_key)[1])
    run = RunRecord(
        id=uuid7(),
        workflow=parent.workflow,
        seed=parent.seed,
        created_at=time.time(),
        planner={"name": "script"},
        policy=parent.policy,
        environment=parent.environment,
        parent_id=parent.id,
        fork_index=at,
        overrides={"add_up": {"scale": 3.0}},
        host=parent.host,
    )
    store.create_run(run)
    prev = inherited[-1].hash or ""
    steps: list[StepRecord] = []
    artifacts: list[tuple[ArtifactRecord, bytes]] = []

    def keep(value: Any) -> str:
        tag, blob = ser.dumps_typed(value)
        key = digest(blob)
        artifacts.append((ArtifactRecord(key, tag, len(blob)), blob))
        return key

    total = sum(data) * 3.0
    total_key = keep(total)
    outs = {"report": keep(f"total={total}"), "summary": keep({"total": total, "n": len(data)})}
    for offset, (name, inputs, outputs, params) in enumerate(
        [
            ("add_up", {"data": data_key}, {"total": total_key}, {"scale": 3.0}),
            ("report", {"total": total_key, "data": data_key}, outs, {}),
        ]
    ):
        step = seal(
            StepRecord(
                run_id=run.id,
                index=at + offset,
                kind=StepKind.ACTION,
                action=name,
                status=StepStatus.SUCCEEDED,
                started_at=time.time(),
                action_version="1",
                fingerprint="f" * 64,
                params=params,
                inputs=inputs,
                outputs=outputs,
                seed=None,
                duration=0.001,
                proposal={"planner": "script"},
                prev_hash=prev,
            )
        )
        prev = step.hash or ""
        steps.append(step)
    finished = replace(
        run, status=RunStatus.SUCCEEDED, finished_at=time.time(), outputs={"report": outs["report"]}
    )
    store.record(steps=steps, artifacts=artifacts, run=finished)
    return run.id
