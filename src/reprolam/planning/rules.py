"""Offline, deterministic planners: ``rules`` (data-driven) and ``script`` (fixed order)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reprolam.planning.base import READY_HORIZON, Decision, Done, Proposal, RunState
from reprolam.trace.records import StepKind, StepStatus


def _stop_after_problem(state: RunState, planner: str) -> Done | None:
    """Offline planners do not improvise: after a failure or rejection they stop and say why."""
    last = state.last_step
    if last is None or last.status not in (StepStatus.FAILED, StepStatus.REJECTED):
        return None
    what = "was rejected" if last.kind is StepKind.REJECTION else "failed"
    message = last.error.message if last.error else ""
    return Done(f"step {last.index} ({last.action}) {what}: {message}; {planner} planner stops")


class RulesPlanner:
    """Runs the first action (in action-space order) whose inputs exist and whose outputs do not.

    Done when the workflow's outputs exist. Same state, same decision: fully deterministic.
    """

    name = "rules"
    instant = True

    def propose(self, state: RunState) -> Decision:
        stop = _stop_after_problem(state, self.name)
        if stop is not None:
            return stop
        if state.has(*state.workflow.outputs):
            return Done("workflow outputs exist")
        for spec in state.workflow.actions:
            if state.has(*spec.inputs) and not state.has(*spec.outputs):
                return Proposal(spec.name, rationale="inputs available, outputs missing")
        return Done("no action can make progress")

    def propose_ready(self, state: RunState) -> list[Proposal]:
        """What ``propose`` would return step after step if every action succeeded."""
        if _stop_after_problem(state, self.name) is not None:
            return []
        have = set(state.artifacts)
        wanted = state.workflow.outputs
        ready: list[Proposal] = []
        while len(ready) < READY_HORIZON and not all(o in have for o in wanted):
            for spec in state.workflow.actions:
                if all(i in have for i in spec.inputs) and not all(o in have for o in spec.outputs):
                    ready.append(Proposal(spec.name, rationale="inputs available, outputs missing"))
                    have.update(spec.outputs)
                    break
            else:
                break
        return ready

    def config(self) -> dict[str, Any]:
        return {"name": self.name}


class ScriptPlanner:
    """Proposes a fixed sequence of actions (default: the action space's order), then stops."""

    name = "script"
    instant = True

    def __init__(
        self,
        order: Sequence[str] | None = None,
        *,
        params: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        self.order = tuple(order) if order is not None else None
        self.params = {k: dict(v) for k, v in (params or {}).items()}

    def propose(self, state: RunState) -> Decision:
        stop = _stop_after_problem(state, self.name)
        if stop is not None:
            return stop
        order = self.order or state.workflow.actions.names
        position = state.action_count
        if position >= len(order):
            return Done("script finished")
        name = order[position]
        return Proposal(name, params=self.params.get(name, {}), rationale=f"script step {position}")

    def propose_ready(self, state: RunState) -> list[Proposal]:
        """The rest of the script, as ``propose`` would return it step after step."""
        if _stop_after_problem(state, self.name) is not None:
            return []
        order = self.order or state.workflow.actions.names
        start = state.action_count
        return [
            Proposal(name, params=self.params.get(name, {}), rationale=f"script step {position}")
            for position, name in enumerate(order[start : start + READY_HORIZON], start=start)
        ]

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "order": list(self.order or ()), "params": self.params}

    @classmethod
    def from_config(cls, config: Mapping[str, Any], **context: Any) -> ScriptPlanner:
        return cls(config.get("order") or None, params=config.get("params") or {})
