"""The ``simulated`` planner: an offline, seeded stand-in for a sampling LLM.

It is **not** a language model and does not pretend to plan well. It exists so the
experiment harness can measure what the engine does with the kinds of variation a sampling
LLM produces, without an endpoint, deterministically: given the same seed, rates and run
state it makes the same choice, in any process.

Starting from the ``rules`` plan (the first action whose inputs exist and outputs do not),
each turn it may, with configurable probabilities:

* ``reorder_rate``: pick another ready action first (e.g. ``preprocess_data`` before the
  independent ``analyze_data``);
* ``param_rate``: choose a hyperparameter from a small grid (e.g. ``C`` in 0.01 ... 100);
* ``skip_rate``: leave out an ``optional`` action no other action or output needs
  (decided once per action and run);
* ``invalid_rate``: propose something the policy must reject -- an unknown action, a param
  out of its bounds, or an action whose inputs do not exist yet. Like a model reading the
  feedback, it never proposes two invalid actions in a row.

After a failed action it proposes a recovery (``recovers=<failed step>``): the same action
with another value for one of its grid params (e.g. retrain with another ``C``). With every
rate at 0 its plan is the ``rules`` plan.

Its proposals take the llm planner's path: each is built as a tool call (name + JSON
arguments) and parsed by the same function, so the decision records have the same shape
(``text``, ``tool_calls``, ``parsed``) plus what was varied and why.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from reprolam.context import derive_seed
from reprolam.errors import ConfigError
from reprolam.planning.base import Decision, Done, RunState
from reprolam.planning.llm_text_calls import proposal_from_tool_call
from reprolam.trace.records import StepKind, StepRecord, StepStatus

if TYPE_CHECKING:
    from reprolam.actions import ActionSpec

# A float param's default grid: its default scaled by these factors, kept within bounds.
GRID_FACTORS = (0.01, 0.1, 1.0, 10.0, 100.0)


class SimulatedPlanner:
    """A seeded imitation of a sampling LLM's plan variability (see the module docstring).

    ``seed=None`` uses the run's seed, so different run seeds give different plans.
    ``grids`` maps ``"action.param"`` to the values to draw from; float params with a
    default get a grid derived from it (``GRID_FACTORS``, within the param's bounds).
    """

    name = "simulated"
    description = "offline, seeded stand-in"
    instant = True  # no I/O: the engine may batch commits

    def __init__(
        self,
        *,
        seed: int | None = None,
        reorder_rate: float = 0.3,
        param_rate: float = 0.3,
        skip_rate: float = 0.3,
        invalid_rate: float = 0.1,
        grids: Mapping[str, Sequence[Any]] | None = None,
    ) -> None:
        self.seed = seed
        self.rates = {
            "reorder_rate": reorder_rate,
            "param_rate": param_rate,
            "skip_rate": skip_rate,
            "invalid_rate": invalid_rate,
        }
        for label, rate in self.rates.items():
            if not 0.0 <= rate <= 1.0:
                raise ConfigError(f"simulated planner: {label}={rate} is not in [0, 1]")
        self.grids = {key: tuple(values) for key, values in (grids or {}).items()}
        for key, values in self.grids.items():
            if "." not in key or len(values) < 2:
                raise ConfigError(
                    f"simulated planner: grid {key!r}: {list(values)!r}; expected "
                    "'action.param' mapped to at least two values, e.g. {'train_model.C': [0.1, 1]}"
                )

    def config(self) -> dict[str, Any]:
        grids = {key: list(values) for key, values in self.grids.items()}
        return {"name": self.name, "seed": self.seed, **self.rates, "grids": grids}

    def propose(self, state: RunState) -> Decision:
        flow = state.workflow
        if state.has(*flow.outputs):
            return Done("workflow outputs exist")
        seed = state.seed if self.seed is None else self.seed
        turn = len(state.steps)
        rng = random.Random(derive_seed(seed, "simulated", turn))
        last = state.last_step
        if last is not None and last.kind is StepKind.ACTION and last.status is StepStatus.FAILED:
            return self._recover(last, state, rng, seed)
        ready = [
            spec
            for spec in flow.actions
            if state.has(*spec.inputs)
            and not state.has(*spec.outputs)
            and not self._skipped(spec, state, seed)
        ]
        if not ready:
            return Done("no action can make progress")
        just_rejected = last is not None and last.kind is StepKind.REJECTION
        if not just_rejected and rng.random() < self.rates["invalid_rate"]:
            return self._invalid(ready, state, rng, seed)
        varied: list[str] = []
        spec = ready[0]
        if len(ready) > 1 and rng.random() < self.rates["reorder_rate"]:
            spec = rng.choice(ready[1:])
            varied.append(f"reorder: {spec.name} before {ready[0].name}")
        params: dict[str, Any] = {}
        for param, grid in self._grids(spec).items():
            if rng.random() < self.rates["param_rate"]:
                default = spec.params_schema()["properties"][param].get("default")
                params[param] = rng.choice([v for v in grid if v != default] or list(grid))
                varied.append(f"param: {spec.name}.{param}={params[param]!r}")
        rationale = "; ".join(varied) or "inputs available, outputs missing"
        return self._tool_call(state, turn, seed, spec.name, params, rationale, varied)

    # -- variations ---------------------------------------------------------------------------

    def _skipped(self, spec: ActionSpec, state: RunState, seed: int) -> bool:
        if not spec.optional or not self.rates["skip_rate"]:
            return False
        needed = set(state.workflow.outputs)
        needed.update(i for other in state.workflow.actions for i in other.inputs)
        if needed & set(spec.outputs):  # skipping it would strand the run
            return False
        draw = random.Random(derive_seed(seed, "simulated-skip", spec.name)).random()
        return draw < self.rates["skip_rate"]

    def _recover(
        self, failed: StepRecord, state: RunState, rng: random.Random, seed: int
    ) -> Decision:
        params = dict(failed.proposal.get("params") or {})
        varied = [f"recover: retry step {failed.index} ({failed.action})"]
        if failed.action in state.workflow.actions:
            grids = self._grids(state.workflow.actions.get(failed.action))
            if grids:
                param = rng.choice(sorted(grids))
                tried = failed.params.get(param)
                params[param] = rng.choice([v for v in grids[param] if v != tried] or [tried])
                varied.append(f"param: {failed.action}.{param}={params[param]!r}")
        return self._tool_call(
            state,
            len(state.steps),
            seed,
            failed.action,
            params,
            "; ".join(varied),
            varied,
            recovers=failed.index,
        )

    def _invalid(
        self, ready: list[ActionSpec], state: RunState, rng: random.Random, seed: int
    ) -> Decision:
        """A proposal the policy must reject, of a kind this workflow allows."""
        spec = rng.choice(ready)
        options: list[tuple[str, str, dict[str, Any]]] = [
            ("unknown action", rng.choice([f"{spec.name}s", "run_" + spec.name]), {})
        ]
        for candidate in ready:
            for param, prop in sorted(candidate.params_schema().get("properties", {}).items()):
                bad = _out_of_bounds(prop)
                if bad is not None:
                    options.append(("param out of bounds", candidate.name, {param: bad}))
        blocked = [
            s
            for s in state.workflow.actions
            if s.inputs and not state.has(*s.inputs) and not state.has(*s.outputs)
        ]
        options += [("missing input", s.name, {}) for s in blocked]
        kind, name, args = rng.choice(options)
        return self._tool_call(
            state, len(state.steps), seed, name, args, f"invalid: {kind}", [f"invalid: {kind}"]
        )

    def _grids(self, spec: ActionSpec) -> dict[str, tuple[Any, ...]]:
        grids: dict[str, tuple[Any, ...]] = {}
        for param, prop in sorted(spec.params_schema().get("properties", {}).items()):
            explicit = self.grids.get(f"{spec.name}.{param}")
            grid = explicit if explicit is not None else _default_grid(prop)
            if len(grid) >= 2:
                grids[param] = grid
        return grids

    def _tool_call(
        self,
        state: RunState,
        turn: int,
        seed: int,
        name: str,
        args: Mapping[str, Any],
        rationale: str,
        varied: list[str],
        *,
        recovers: int | None = None,
    ) -> Decision:
        arguments = json.dumps(dict(args), sort_keys=True)
        record = {
            "kind": "simulated",
            "turn": turn,
            "seed": seed,
            "text": rationale,
            "tool_calls": [{"id": f"sim{turn}", "name": name, "arguments": arguments}],
            "varied": varied,
        }
        proposal = proposal_from_tool_call(name, arguments, rationale=rationale, decision=record)
        return proposal if recovers is None else replace(proposal, recovers=recovers)


def _default_grid(prop: Mapping[str, Any]) -> tuple[Any, ...]:
    default = prop.get("default")
    if prop.get("type") != "number" or not isinstance(default, int | float) or not default:
        return ()
    values = [float(f"{default * f:.6g}") for f in GRID_FACTORS]
    return tuple(v for v in values if _within(prop, v))


def _within(prop: Mapping[str, Any], value: float) -> bool:
    return not (
        ("minimum" in prop and value < prop["minimum"])
        or ("exclusiveMinimum" in prop and value <= prop["exclusiveMinimum"])
        or ("maximum" in prop and value > prop["maximum"])
        or ("exclusiveMaximum" in prop and value >= prop["exclusiveMaximum"])
    )


def _out_of_bounds(prop: Mapping[str, Any]) -> Any:
    """A value just outside a numeric param's bounds (None if it has none)."""
    if prop.get("type") not in ("number", "integer"):
        return None
    low = prop.get("exclusiveMinimum", prop.get("minimum"))
    if low is not None:
        return low - 1
    high = prop.get("exclusiveMaximum", prop.get("maximum"))
    return None if high is None else high + 1
