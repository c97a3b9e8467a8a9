"""The checks every proposal passes before it runs, and the budgets that end a run."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

from reprolam.actions import ActionSpace, ActionSpec
from reprolam.errors import ConfigError, NotFoundError, PolicyViolation
from reprolam.hashing import canonical_json
from reprolam.planning.base import Proposal, RunState

Overrides = dict[str, dict[str, Any]]
EFFECTS_POLICIES = ("warn", "strict")


class CheckedProposal(NamedTuple):
    """A proposal as the policy passed it (one per step, never stored or handed out).

    A named tuple, not a frozen dataclass: built with ``tuple.__new__`` it costs a third of
    what ``reprolam._frozen.builder`` does, whose ``__class__`` assignment raises an audit
    event that runs the effects watch's Python audit hook (engine.observe): ~3,000
    instructions per step saved.
    """

    spec: ActionSpec
    params: dict[str, Any]  # validated, defaults filled in, overrides applied
    inputs: dict[str, str]  # input name -> artifact digest
    overridden: tuple[str, ...]  # params whose value came from an override


_new_tuple = tuple.__new__  # CheckedProposal(...) without its Python-level __new__


@dataclass(frozen=True, slots=True)
class Policy:
    """What a run may do. Recorded with every run."""

    max_steps: int = 100
    max_failures: int = 3
    max_consecutive_rejections: int = 5
    allow_nondeterministic: bool = True
    allow_external: bool = True
    retries: int = 0  # the engine re-runs a failed action up to this many times, each a step
    action_timeout: float | None = None  # seconds; needs an executor that can stop actions
    faults: dict[str, float] = field(default_factory=dict)  # injected failure rate per action
    # the executor that ran the actions (its ``config()``): recorded by the engine, so that
    # fork, resume and reproduce run the same way unless told otherwise
    executor: dict[str, Any] = field(default_factory=lambda: {"name": "local"})
    # undeclared effects (engine.observe): "warn" records them, "strict" also fails the step
    effects: str = "warn"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def exhausted(self, state: RunState) -> str | None:
        """Why the run must stop now, or None."""
        if len(state.steps) >= self.max_steps:
            return f"step budget exhausted: {len(state.steps)} steps (max_steps={self.max_steps})"
        failures = state.failure_count
        if failures >= self.max_failures:
            return (
                f"failure budget exhausted: {failures} failed steps "
                f"(max_failures={self.max_failures})"
            )
        rejections = state.consecutive_rejections
        if rejections >= self.max_consecutive_rejections:
            return (
                f"{rejections} proposals rejected (or planner calls failed) in a row "
                f"(max_consecutive_rejections={self.max_consecutive_rejections}); "
                f"last reason: {state.feedback}"
            )
        return None

    def check(self, proposal: Proposal, state: RunState, overrides: Overrides) -> CheckedProposal:
        """Validate a proposal or raise ``PolicyViolation`` with the reason for the planner."""
        if proposal.invalid_reason:  # the planner's output was malformed: nothing to check
            raise PolicyViolation(proposal.invalid_reason, check="well_formed")
        space = state.workflow.actions
        spec = _known_action(space, proposal.action)
        if spec.determinism == "nondeterministic" and not self.allow_nondeterministic:
            raise PolicyViolation(
                f"{spec.name} is nondeterministic and this policy requires determinism",
                check="determinism",
            )
        if spec.determinism == "external" and not self.allow_external:
            raise PolicyViolation(
                f"{spec.name} has external side effects ({', '.join(spec.side_effects)}), "
                "which this policy forbids",
                check="determinism",
            )
        forced = overrides.get(spec.name, {})
        params = spec.validate_params({**proposal.params, **forced})
        inputs = _bind_inputs(spec, proposal.inputs, state)
        for precondition in spec.preconditions:
            reason = precondition(state)
            if reason:
                raise PolicyViolation(
                    f"{spec.name}: precondition failed: {reason}", check="precondition"
                )
        overridden = tuple(sorted(forced)) if forced else ()
        return _new_tuple(CheckedProposal, (spec, params, inputs, overridden))


def _known_action(space: ActionSpace, name: str) -> ActionSpec:
    try:
        return space.get(name)
    except NotFoundError as exc:
        raise PolicyViolation(str(exc), check="known_action") from None


def _latest_inputs(spec: ActionSpec, state: RunState) -> dict[str, str] | None:
    """Each input bound to the latest artifact of its name (most proposals bind nothing
    else), or None if one is missing (``_bind_inputs`` then says which)."""
    artifacts = state.artifacts
    bound: dict[str, str] = {}
    for name in spec.inputs:
        found = artifacts.get(name)
        if found is None:
            return None
        bound[name] = found.digest
    return bound


def _bind_inputs(spec: ActionSpec, bindings: Mapping[str, str], state: RunState) -> dict[str, str]:
    if not bindings and (latest := _latest_inputs(spec, state)) is not None:
        return latest
    unknown = set(bindings) - set(spec.inputs)
    if unknown:
        raise PolicyViolation(
            f"{spec.name} has no input {', '.join(sorted(unknown))} "
            f"(its inputs: {', '.join(spec.inputs) or 'none'})",
            check="inputs",
        )
    bound: dict[str, str] = {}
    for name in spec.inputs:
        ref = bindings.get(name, name)
        if ref in state.artifacts:
            bound[name] = state.artifacts[ref].digest
        elif any(a.digest == ref for a in state.artifacts.values()):
            bound[name] = ref
        else:
            available = ", ".join(sorted(state.artifacts)) or "none yet"
            raise PolicyViolation(
                f"{spec.name} needs input {name!r} but artifact {ref!r} does not exist in this run "
                f"(available: {available})",
                check="inputs",
            )
    return bound


def validate_overrides(space: ActionSpace, overrides: Mapping[str, Mapping[str, Any]]) -> Overrides:
    """Check ``ACTION.PARAM=VALUE`` overrides before anything is recorded."""
    checked: Overrides = {}
    for action_name, given in overrides.items():
        try:
            spec = space.get(action_name)
        except NotFoundError as exc:
            params = ",".join(given) or "…"
            raise ConfigError(
                f"{{overrides}} {action_name}.{params}: {exc}", option="overrides"
            ) from None
        values = {param: _as_declared(spec, param, value) for param, value in given.items()}
        problems = spec.param_problems(values, partial=True, strict=True)
        if problems:
            raise ConfigError(f"{{overrides}} {'; '.join(problems)}", option="overrides")
        values = spec.json_form(values)  # as the step records them
        for param, value in values.items():
            _check_storable(f"{action_name}.{param}", value)
        checked[action_name] = values
    return checked


class TypedText:
    """A value typed as text (``--set C=1.0``): what it reads as in JSON (``parsed``: 1.0, or
    the text itself), and the text. ``validate_overrides`` takes whichever the param's type
    accepts, the JSON reading first, so a ``str`` param takes ``1.0`` or ``true`` as typed."""

    __slots__ = ("parsed", "text")

    def __init__(self, text: str, parsed: Any) -> None:
        self.text = text
        self.parsed = parsed

    def __repr__(self) -> str:
        return self.text


_FLOAT_WORDS = frozenset({"inf", "+inf", "-inf", "infinity", "+infinity", "-infinity", "nan"})


def read_as_declared(space: ActionSpace, target: str, text: str, parsed: Any) -> Any:
    """A value typed as ``text`` for ``target`` (``ACTION.PARAM``), read as ``--set`` reads
    it (see ``TypedText``); for an unknown action or param, ``parsed`` (its JSON reading),
    which ``validate_overrides`` then refuses naming them."""
    action_name, _, param = target.partition(".")
    if action_name not in space or param not in space.get(action_name).param_names:
        return parsed
    return _as_declared(space.get(action_name), param, TypedText(text, parsed))


def _as_declared(spec: ActionSpec, param: str, value: Any) -> Any:
    """A ``TypedText`` as the first reading the param's type accepts (the JSON value, the
    text, a float spelled ``inf`` or ``nan``); else its JSON reading, for the error to name."""
    if not isinstance(value, TypedText):
        return value
    readings = [value.parsed, value.text]
    if value.parsed == 0 and value.text.strip().startswith("-"):  # JSON reads -0 as int 0
        readings.insert(0, -0.0)  # a float param keeps the sign; an int param takes 0
    if value.text.strip().lower() in _FLOAT_WORDS:
        readings.append(float(value.text))
    for reading in readings:
        if not spec.param_problems({param: reading}, partial=True, strict=True):
            return reading
    return value.parsed


def _check_storable(name: str, value: Any) -> None:
    """Refuse a value holding text no store can hold (a lone surrogate: a file name that is
    not UTF-8, as Python decodes it from the command line or ``os.listdir``), or an int
    too long for Python to write as decimal text."""
    try:
        canonical_json(value).encode("utf-8")
    except ValueError as exc:
        if not isinstance(exc, UnicodeEncodeError):  # an int past Python's 4,300-digit text
            raise ConfigError(
                f"{{overrides}} {name}: an integer of more than 4,300 digits; a trace store "
                "records params as JSON text, which Python writes only up to 4,300 digits",
                option="overrides",
                hint="pass a smaller number, or hand the number to the action as an input",
            ) from None
        bad = exc.object[exc.start : exc.end]
        raise ConfigError(
            f"{{overrides}} {name}: its value holds text that is not valid Unicode ({bad!r}, "
            "as Python decodes a file name that is not UTF-8); a trace store cannot record it",
            option="overrides",
            hint="rename the file to a UTF-8 name, or pass a name that is valid Unicode",
        ) from None


def parse_override(text: str) -> tuple[str, str, Any]:
    """``'train_model.C=0.1'`` -> ``('train_model', 'C', 0.1 as typed)``: the value is read as
    JSON, else as text, and then as the param's type wants (``TypedText``)."""
    import json

    target, sep, raw = text.partition("=")
    action_name, dot, param = target.strip().partition(".")
    if not sep or not dot or not action_name or not param:
        raise ConfigError(
            f"{{overrides}} {text!r}: expected ACTION.PARAM=VALUE",
            option="overrides",
            value=text,
            hint="e.g. {overrides=train_model.C=0.1}",
        )
    try:
        value: Any = json.loads(raw)
    except ValueError:
        value = raw
    return action_name, param, TypedText(raw, value)
