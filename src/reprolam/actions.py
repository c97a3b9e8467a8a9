"""Formal action schemas: the ``@action`` decorator, ``ActionSpec``, the ``ActionSpace`` registry.

An action is a plain function whose signature *is* its schema:

* positional parameters are named input artifacts,
* keyword-only parameters are typed params (validated with their bounds: simple ones by
  ``reprolam.params``, the rest by a pydantic model built on first use),
* a parameter named ``ctx`` receives the engine's ``ActionContext`` (seed, RNGs).

Everything is checked when the decorator runs, so a wrong declaration fails at import time
with a message naming the function and the fix, not in the middle of a run.
"""

from __future__ import annotations

import inspect
import keyword
import sys
import textwrap
import types
import typing
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib.machinery import EXTENSION_SUFFIXES
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar, get_args

from reprolam import params as simple
from reprolam.errors import ActionSpecError, NotFoundError, PolicyViolation
from reprolam.hashing import canonical_json, digest

if TYPE_CHECKING:
    from pydantic import BaseModel

Determinism = Literal["pure", "seeded", "nondeterministic", "external"]
DETERMINISM_CLASSES: tuple[str, ...] = get_args(Determinism)
CONTEXT_PARAM = "ctx"
_SPEC_ATTR = "__reprolam_action__"

F = TypeVar("F", bound=Callable[..., Any])
Precondition = Callable[[Any], str | None]  # (RunState) -> reason to refuse, or None
# (outputs by name) -> a few hundred characters an LLM planner reads, e.g. the top correlations
Summary = Callable[[Mapping[str, Any]], str]
SUMMARY_MAX_CHARS = 600
TOOL_DESCRIPTION_MAX = 1024  # characters of a tool's description OpenAI takes


@dataclass(frozen=True, slots=True, eq=False)
class ActionSpec:
    """The frozen schema attached to an action function."""

    name: str
    version: str
    fn: Callable[..., Any]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    # name -> (annotation, default or ...), as declared; the pydantic model is built from it
    param_declarations: Mapping[str, tuple[Any, Any]]
    determinism: Determinism
    side_effects: tuple[str, ...]
    description: str
    fingerprint: str
    optional: bool = False
    preconditions: tuple[Precondition, ...] = ()
    wants_context: bool = False
    param_names: frozenset[str] = field(default_factory=frozenset)
    summary: Summary | None = None
    # The params when every one is simple (checked without pydantic), else None.
    simple_params: tuple[simple.SimpleParam, ...] | None = None
    _model: list[type[BaseModel]] = field(default_factory=list, repr=False)  # built once

    @property
    def params_model(self) -> type[BaseModel]:
        """The pydantic model of the params (built on first use: pydantic is slow to load)."""
        if not self._model:
            self._model.append(_params_model(self.name, self.param_declarations))
        return self._model[0]

    def summarize(self, outputs: Mapping[str, Any]) -> str | None:
        """The planner-facing summary of one execution's outputs, if the action declares one.

        Never raises (a failing summary must not fail a run) and stays within
        ``SUMMARY_MAX_CHARS``; the summary is presentation, so it is not part of the
        fingerprint.
        """
        if self.summary is None:
            return None
        try:
            text = str(self.summary(outputs))
        except Exception as exc:  # user code: report, never fail the run
            return f"(summary failed: {type(exc).__name__}: {exc})"[:SUMMARY_MAX_CHARS]
        if len(text) > SUMMARY_MAX_CHARS:
            text = text[: SUMMARY_MAX_CHARS - 4] + " ..."
        return text

    def validate_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Params with defaults filled in and validated; ``PolicyViolation`` names any problem."""
        if not params and not self.param_names:
            return {}
        if self.simple_params is not None:
            values = simple.validated(self.simple_params, params)
            if values is not None:
                return values
        from pydantic import ValidationError

        try:
            model = self.params_model.model_validate(params)
            recorded: dict[str, Any] = _sets_sorted(model, model.model_dump(mode="json"))
            again = self.params_model.model_validate(recorded)
        except ValidationError:
            raise PolicyViolation("; ".join(self.param_problems(params)), check="params") from None
        self._check_idempotent(model, again, recorded)
        return recorded

    def _check_idempotent(
        self, model: BaseModel, again: BaseModel, recorded: dict[str, Any]
    ) -> None:
        """Refuse params whose validation changes a value already validated (a validator
        returning ``v * 2``, or one a default skips): the action is handed the recorded
        form validated again (``again``, as ``python_params`` makes it), so it would get
        another value than the step records, and every fork, replay and reproduction yet
        another. Compared as objects (a set's JSON list may come out in another order)."""
        for name, value in recorded.items():
            first, handed = getattr(model, name), getattr(again, name)
            if _same_param(first, handed):
                continue
            shown = again.model_dump(mode="json", include={name}).get(name)
            raise PolicyViolation(
                f"{self.name}.{name}: validating it changes a value already valid ("
                f"{value!r} validates to {shown!r}): a step records its params "
                "validated, and the action is handed that record validated again, so it "
                "would get another value than the step records; make the param's validators "
                "give back a value they already validated (or a default they accept as it "
                "is), or transform the value in the action",
                check="params",
            )

    def python_params(self, params: Mapping[str, Any]) -> Mapping[str, Any]:
        """The recorded (JSON) params as the action receives them: the declared Python objects.

        A step records its params in their JSON form (a model as a dict, a date as a string),
        which hashing, replay, fork and the cache compare; the action is handed what pydantic
        validates that form into (``Cfg(k=1)``, ``date(2020, 1, 2)``), so a fork or a
        reproduction hands it an equal object. Plain params (numbers, strings, flags, choices)
        are the same in both forms and never touch pydantic.
        """
        if self.simple_params is not None or not params:
            return params
        model = self.params_model.model_validate(dict(params))
        return {name: getattr(model, name) for name in params}

    def json_form(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Valid params given as Python objects (``date(2021, 3, 5)``, ``Cfg(k=2)``) in the
        JSON form a step records (``"2021-03-05"``, ``{"k": 2}``); JSON values as they are."""
        objects = set()
        for name, value in params.items():
            try:
                canonical_json(value)
            except (TypeError, ValueError):
                objects.add(name)
        if not objects:
            return dict(params)
        model = self.params_model.model_construct(**{n: params[n] for n in objects})
        dumped = model.model_dump(mode="json", include=objects)
        return {**params, **{name: _sets_sorted(params[name], dumped[name]) for name in dumped}}

    def param_problems(
        self, params: Mapping[str, Any], *, partial: bool = False, strict: bool = False
    ) -> list[str]:
        """Each problem with ``params`` in one line; ``partial`` ignores params not given.

        ``strict``: no coercion (``true`` is not a number, ``"1"`` not an int), for values a
        person typed, where a coercion would silently record something else than meant. The
        JSON form a step records is valid too (``"2020-01-02"`` for a date, ``[1, 2]`` for a
        tuple), as pydantic's strict JSON mode reads it.
        """
        unknown = sorted(set(params) - self.param_names)
        if unknown:
            known = ", ".join(sorted(self.param_names)) or "none"
            whole = next((n.partition(".")[0] for n in unknown if "." in n), "")
            if whole in self.param_names:  # cfg.k: a field of a param is not a param
                return [
                    f"{self.name} has no param {', '.join(unknown)}: a param is given whole, "
                    f"{whole} as JSON (e.g. {self.name}.{whole}={{...}} with every field)"
                ]
            return [f"{self.name} has no param {', '.join(unknown)} (its params: {known})"]
        if self.simple_params is not None and simple.certainly_valid(
            self.simple_params, params, partial=partial, strict=strict
        ):
            return []
        problems = self._validation_problems(params, partial=partial, strict=strict)
        if problems and strict:
            as_json = self._json_problems(params, partial=partial)
            return problems if as_json is None else as_json
        return problems

    def _validation_problems(
        self, params: Mapping[str, Any], *, partial: bool, strict: bool, as_json: str = ""
    ) -> list[str]:
        from pydantic import ValidationError

        try:
            if as_json:
                self.params_model.model_validate_json(as_json, strict=strict)
            else:
                self.params_model.model_validate(dict(params), strict=strict)
        except ValidationError as exc:
            return [
                f"{self.name}.{'.'.join(map(str, err['loc']))}={err.get('input')!r}: {err['msg']}"
                for err in exc.errors()
                if not partial or (err["loc"] and err["loc"][0] in params)
            ]
        return []

    def _json_problems(self, params: Mapping[str, Any], *, partial: bool) -> list[str] | None:
        """The problems of ``params`` written as JSON, in pydantic's strict JSON mode; None
        if they are Python objects JSON cannot write (a date, a model)."""
        try:
            text = canonical_json(dict(params))
        except (TypeError, ValueError):
            return None
        return self._validation_problems(params, partial=partial, strict=True, as_json=text)

    def params_schema(self) -> dict[str, Any]:
        schema = self.params_model.model_json_schema()
        schema.pop("title", None)
        for prop in schema.get("properties", {}).values():
            prop.pop("title", None)
        return schema

    def tool_definition(self) -> dict[str, Any]:
        """An OpenAI-style tool: the action's params, plus optional input bindings."""
        parameters = _with_array_items(self.params_schema())
        if self.inputs:
            parameters.setdefault("properties", {})["inputs"] = {
                "type": "object",
                "description": "Optional: which artifact feeds each input "
                "(defaults to the artifact of the same name).",
                "properties": {name: {"type": "string"} for name in self.inputs},
                "additionalProperties": False,
            }
        wiring = ""
        if self.inputs or self.outputs:
            wiring = (
                f" Inputs: {', '.join(self.inputs) or 'none'}. Outputs: {', '.join(self.outputs)}."
            )
        # OpenAI refuses a longer one ("string_above_max_length", HTTP 400): the prose is cut
        description = _clipped_text(self.description, TOOL_DESCRIPTION_MAX - len(wiring)) + wiring
        description = _clipped_text(description, TOOL_DESCRIPTION_MAX)
        return {
            "type": "function",
            "function": {"name": self.name, "description": description, "parameters": parameters},
        }

    def describe(self) -> dict[str, Any]:
        """A JSON-able summary for listings (`reprolam actions --json`)."""
        return {
            "name": self.name,
            "version": self.version,
            "description": self.description,
            "inputs": list(self.inputs),
            "outputs": list(self.outputs),
            "params": _with_defs_inlined(self.params_schema()).get("properties", {}),
            "determinism": self.determinism,
            "side_effects": list(self.side_effects),
            "optional": self.optional,
            "fingerprint": self.fingerprint,
        }


def _clipped_text(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters (at least 0), ending with an ellipsis if cut."""
    if len(text) <= limit:
        return text
    return text[: max(0, limit - 1)] + "…" if limit > 0 else ""


def _with_array_items(node: Any) -> Any:
    """``node`` with ``items`` beside every ``prefixItems`` that has none (a tuple param).

    OpenAI refuses a tool whose schema has an array without ``items`` ("array schema missing
    items", HTTP 400), which is how pydantic writes a tuple. The added ``items`` (the
    positions' one schema, or any of them) only constrains items past the prefix, which
    ``maxItems`` already excludes: the schema accepts exactly the same values.
    """
    if isinstance(node, list):
        return [_with_array_items(item) for item in node]
    if not isinstance(node, dict):
        return node
    found = {key: _with_array_items(value) for key, value in node.items()}
    prefix = found.get("prefixItems")
    if isinstance(prefix, list) and prefix and "items" not in found:
        distinct = [s for i, s in enumerate(prefix) if s not in prefix[:i]]
        found["items"] = distinct[0] if len(distinct) == 1 else {"anyOf": distinct}
    return found


def _with_defs_inlined(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with each ``{"$ref": "#/$defs/Cfg"}`` replaced by Cfg's schema, so its
    properties stand alone (a listing gives them without ``$defs``); a model that holds
    itself is left at ``{"type": "object", "title": "Cfg"}`` where it recurs."""
    defs = schema.get("$defs", {})
    prefix = "#/$defs/"

    def inline(node: Any, within: frozenset[str]) -> Any:
        if isinstance(node, list):
            return [inline(item, within) for item in node]
        if not isinstance(node, dict):
            return node
        rest = {key: inline(value, within) for key, value in node.items() if key != "$ref"}
        ref = node.get("$ref")
        if not isinstance(ref, str) or not ref.startswith(prefix) or ref[len(prefix) :] not in defs:
            return {**node, **rest} if ref is not None else rest
        name = ref[len(prefix) :]
        if name in within:
            return {"type": "object", "title": name, **rest}
        return {**inline(defs[name], within | {name}), **rest}

    inlined = inline({k: v for k, v in schema.items() if k != "$defs"}, frozenset())
    return inlined if isinstance(inlined, dict) else schema


def action(
    *,
    outputs: Sequence[str],
    name: str | None = None,
    version: str = "1",
    determinism: Determinism = "pure",
    side_effects: Sequence[str] = (),
    description: str | None = None,
    optional: bool = False,
    preconditions: Sequence[Precondition] = (),
    summary: Summary | None = None,
) -> Callable[[F], F]:
    """Declare a function as a versioned action.

    Example::

        @action(outputs=["model"], determinism="seeded")
        def train_model(X: pd.DataFrame, y: np.ndarray, *, C: Annotated[float, Field(gt=0)] = 1.0,
                        ctx: ActionContext) -> LogisticRegression: ...

    The function is returned unchanged (still directly callable) with its spec attached;
    ``spec_of(fn)`` reads it back. ``summary``, if given, turns the outputs (a dict by name)
    into a short text an LLM planner reads in place of one-line value descriptions.
    """
    if summary is not None and not callable(summary):
        raise ActionSpecError(f"summary must be a function of the outputs, got {summary!r}")

    def decorate(fn: F) -> F:
        spec = _build_spec(
            fn,
            name=name,
            version=version,
            outputs=outputs,
            determinism=determinism,
            side_effects=side_effects,
            description=description,
            optional=optional,
            preconditions=preconditions,
        )
        if summary is not None:
            spec = replace(spec, summary=summary)
        setattr(fn, _SPEC_ATTR, spec)
        return fn

    return decorate


def spec_of(fn: Callable[..., Any] | ActionSpec) -> ActionSpec:
    """The spec of an ``@action`` function; a clear error if it is not one."""
    if isinstance(fn, ActionSpec):
        return fn
    spec = getattr(fn, _SPEC_ATTR, None)
    if not isinstance(spec, ActionSpec):
        label = getattr(fn, "__qualname__", repr(fn))
        raise ActionSpecError(
            f"{label} is not an action: decorate it with @reprolam.action(outputs=[...])"
        )
    return spec


class ActionSpace:
    """The registry of actions a workflow offers, in a stable order."""

    def __init__(self, actions: Iterable[Callable[..., Any] | ActionSpec] = ()) -> None:
        self._specs: dict[str, ActionSpec] = {}
        for fn in actions:
            self.register(fn)

    def register(self, fn: Callable[..., Any] | ActionSpec) -> ActionSpec:
        spec = spec_of(fn)
        if spec.name in self._specs:
            raise ActionSpecError(
                f"action {spec.name!r} is registered twice in this action space: "
                "give one of them another name (@action(name=...))"
            )
        self._specs[spec.name] = spec
        return spec

    def get(self, name: str) -> ActionSpec:
        try:
            return self._specs[name]
        except KeyError:
            raise NotFoundError(
                f"unknown action {name!r}: known actions are {', '.join(self._specs)}"
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __iter__(self) -> Iterator[ActionSpec]:
        return iter(self._specs.values())

    def __len__(self) -> int:
        return len(self._specs)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._specs)

    def tool_definitions(self) -> list[dict[str, Any]]:
        return [spec.tool_definition() for spec in self]

    def producer_of(self, output: str) -> ActionSpec | None:
        return next((s for s in self if output in s.outputs), None)


# -- decoration-time validation ------------------------------------------------------------


def _build_spec(
    fn: Callable[..., Any],
    *,
    name: str | None,
    version: str,
    outputs: Sequence[str],
    determinism: str,
    side_effects: Sequence[str],
    description: str | None,
    optional: bool,
    preconditions: Sequence[Precondition],
) -> ActionSpec:
    label = getattr(fn, "__qualname__", repr(fn))
    if not callable(fn):
        raise ActionSpecError(f"@action applies to functions, got {fn!r}")

    def fail(problem: str, fix: str) -> ActionSpecError:
        return ActionSpecError(f"action {label}: {problem}; {fix}")

    if inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn):
        raise fail(
            "it is an async function: calling it returns a coroutine, not its outputs",
            "make it a plain def that runs the coroutine, e.g. return asyncio.run(main())",
        )
    action_name = str(name or getattr(fn, "__name__", ""))
    if not action_name.isidentifier() or keyword.iskeyword(action_name):
        raise fail(f"name {action_name!r} is not an identifier", "pass @action(name='...')")
    if isinstance(outputs, str) or not outputs:
        raise fail(
            f"outputs must be a non-empty list of names, got {outputs!r}",
            "declare e.g. @action(outputs=['model'])",
        )
    _check_names(list(outputs), "output", fail)
    if determinism not in DETERMINISM_CLASSES:
        raise fail(
            f"determinism {determinism!r} is not one of {', '.join(DETERMINISM_CLASSES)}",
            "pick the class that describes the function",
        )
    if determinism == "external" and not side_effects:
        raise fail(
            "external actions must declare their side effects",
            "add side_effects=['writes results to ...']",
        )
    if not isinstance(version, str) or not version:
        raise fail(f"version must be a non-empty string, got {version!r}", "e.g. version='2'")

    inputs, params, wants_context = _split_signature(fn, fail)
    _check_names(inputs, "input", fail)
    reserved = sorted(set(params) & RESERVED_PARAMS)
    if reserved:
        raise fail(
            f"param {reserved[0]!r} is a reserved name (a tool call's {reserved[0]!r} binds the "
            "action's input artifacts, so the planner could never set it)",
            f"rename it, e.g. `{reserved[0]}_`",
        )
    _check_param_names(list(params), fail)
    clash = set(inputs) & set(params)
    if clash:
        raise fail(f"{sorted(clash)} used both as input and param", "rename one of them")
    _check_recordable_defaults(params, fail)
    _check_bounded_texts(params, fail)

    # Simple params (numbers, strings, flags, choices; defaults within bounds) are known to
    # be valid as declared; the rest are checked by building their pydantic model now.
    simple_params = simple.simple_params(params)
    model: list[type[BaseModel]] = []
    if simple_params is None:
        try:
            model.append(_params_model(action_name, params))
            model[0].model_json_schema()
        except Exception as exc:
            raise fail(
                f"its params cannot be validated ({exc})",
                "annotate params with JSON-able types (int, float, str, bool, Literal, lists)",
            ) from None
        _check_defaults(model[0], params, fail)

    return ActionSpec(
        name=action_name,
        version=version,
        fn=fn,
        inputs=tuple(inputs),
        outputs=tuple(outputs),
        param_declarations=params,
        determinism=determinism,  # type: ignore[arg-type]  # checked above
        side_effects=tuple(side_effects),
        description=description or _first_paragraph(inspect.getdoc(fn) or "") or action_name,
        fingerprint=code_fingerprint(fn),
        optional=optional,
        preconditions=tuple(preconditions),
        wants_context=wants_context,
        param_names=frozenset(params),
        simple_params=simple_params,
        _model=model,
    )


def _params_model(action_name: str, params: Mapping[str, tuple[Any, Any]]) -> type[BaseModel]:
    from pydantic import ConfigDict, create_model

    fields: dict[str, Any] = {
        name: (simple.for_pydantic(annotation), default)
        for name, (annotation, default) in params.items()
    }
    with warnings.catch_warnings():
        # A param named copy, json, schema or validate is a field like any other (the
        # model is only validated, its methods never called on it): not the user's concern.
        warnings.filterwarnings("ignore", "Field name .* shadows an attribute", UserWarning)
        return create_model(
            f"{action_name}_params",
            __config__=ConfigDict(extra="forbid", arbitrary_types_allowed=False),
            **fields,
        )


RESERVED_PARAMS = frozenset({"inputs"})  # keys a tool call uses besides the params
# Names the params' pydantic model cannot hold as fields: its config, and the methods
# validating and dumping it (pydantic's protected namespaces).
_PYDANTIC_NAMES = ("model_config",)
_PYDANTIC_PREFIXES = ("model_dump", "model_validate")


def _check_param_names(names: list[str], fail: Callable[[str, str], ActionSpecError]) -> None:
    """A param pydantic cannot hold failed at decoration with a message about its default
    ('Extra inputs are not permitted') or about JSON-able types, or later, at its first use."""
    for name in names:
        if name.startswith("_"):
            raise fail(
                f"param {name!r} starts with '_', which pydantic (validating the params) "
                "takes for a private attribute, never for a param",
                f"rename it, e.g. {name.lstrip('_') or 'value'!r}",
            )
        if name in _PYDANTIC_NAMES or name.startswith(_PYDANTIC_PREFIXES):
            raise fail(
                f"param {name!r} is a name pydantic keeps for itself (the params are "
                "validated by a pydantic model)",
                f"rename it, e.g. {name + '_'!r}"
                if name in _PYDANTIC_NAMES
                else f"rename it, e.g. {name.replace('model_', '', 1)!r}",
            )


def _check_defaults(
    model: type[BaseModel], params: dict[str, Any], fail: Callable[[str, str], ActionSpecError]
) -> None:
    """A default must satisfy its own declaration (type and bounds): it is used unchecked."""
    from pydantic import ValidationError

    defaults = {name: default for name, (_type, default) in params.items() if default is not ...}
    try:
        model.model_validate(defaults, strict=True)
    except ValidationError as exc:
        for err in exc.errors():
            if err["type"] == "missing" or not err["loc"] or err["loc"][0] not in defaults:
                continue
            name = err["loc"][0]
            raise fail(
                f"the default of param {name!r} ({defaults[str(name)]!r}) violates its own "
                f"declaration: {err['msg']}",
                "change the default or the bound so that they agree",
            ) from None


def _check_bounded_texts(
    params: dict[str, Any], fail: Callable[[str, str], ActionSpecError]
) -> None:
    """Bounds (gt, ge, lt, le) compare numbers: on a text param every value given to it
    failed the run with a TypeError ('Unable to apply constraint'), or its decoration did."""
    for name, (annotation, _default) in params.items():
        if typing.get_origin(annotation) is not Annotated:
            continue
        base, *extras = typing.get_args(annotation)
        texts = base is str or (
            typing.get_origin(base) is Literal
            and any(isinstance(c, str) for c in typing.get_args(base))
        )
        if texts and any(isinstance(e, simple.Field) and e.bounded for e in extras):
            raise fail(
                f"param {name!r} is text, and its bounds (gt, ge, lt, le) compare numbers",
                "drop the bounds, or make the param an int or a float",
            )


def _check_recordable_defaults(
    params: dict[str, Any], fail: Callable[[str, str], ActionSpecError]
) -> None:
    """Every step records its params as JSON text, which Python writes ints in only up to
    4,300 digits (``sys.get_int_max_str_digits``): a default past that could never be recorded."""
    for name, (_type, default) in params.items():
        if default is ...:
            continue
        try:
            canonical_json(default)
        except ValueError as exc:
            if isinstance(exc, UnicodeError):
                continue
            raise fail(
                f"the default of param {name!r} holds an integer of more than 4,300 digits, "
                "which no step can record (params are recorded as JSON text, and Python "
                "writes integers as text only up to 4,300 digits)",
                "give a smaller default, or hand the number to the action as an input",
            ) from None
        except TypeError:  # not JSON data: its pydantic model says so (_check_defaults)
            continue


def _split_signature(
    fn: Callable[..., Any], fail: Callable[[str, str], ActionSpecError]
) -> tuple[list[str], dict[str, Any], bool]:
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError) as exc:
        raise fail(f"its signature cannot be read ({exc})", "check its definition") from None
    inputs: list[str] = []
    params: dict[str, Any] = {}
    wants_context = False
    for p in signature.parameters.values():
        if p.name == CONTEXT_PARAM:
            wants_context = True
        elif p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise fail(
                f"*{p.name} / **{p.name} are not allowed",
                "list inputs positionally and params keyword-only (after *)",
            )
        elif p.kind is p.KEYWORD_ONLY:
            if p.annotation is inspect.Parameter.empty:
                raise fail(
                    f"param {p.name!r} has no type annotation",
                    f"annotate it, e.g. `{p.name}: float = 1.0`",
                )
            default = ... if p.default is inspect.Parameter.empty else p.default
            params[p.name] = (_resolve_annotation(fn, p, fail), default)
        else:
            if p.default is not inspect.Parameter.empty:
                raise fail(
                    f"input {p.name!r} has a default",
                    "inputs are artifacts and always bound; make it a keyword-only param (after *)",
                )
            inputs.append(p.name)
    return inputs, params, wants_context


def _resolve_annotation(
    fn: Callable[..., Any], p: inspect.Parameter, fail: Callable[[str, str], ActionSpecError]
) -> Any:
    """Evaluate a param's annotation (params need real types; inputs may be TYPE_CHECKING-only)."""
    if not isinstance(p.annotation, str):
        return p.annotation
    try:
        return eval(p.annotation, getattr(fn, "__globals__", {}), {})
    except Exception as exc:
        raise fail(
            f"param {p.name!r} annotation {p.annotation!r} cannot be resolved ({exc})",
            "import the names it uses at module level, not under TYPE_CHECKING",
        ) from None


def _check_names(names: list[str], what: str, fail: Callable[[str, str], ActionSpecError]) -> None:
    for n in names:
        if not isinstance(n, str) or not n.isidentifier():
            raise fail(f"{what} name {n!r} is not an identifier", f"rename the {what}")
    if len(set(names)) != len(names):
        raise fail(f"{what} names repeat: {names}", f"give each {what} a distinct name")


def _sets_sorted(value: Any, dumped: Any) -> Any:
    """``dumped`` (``value``'s JSON form) with each set in it as a list sorted by its items'
    JSON: pydantic writes a set in the order it iterates, which hash randomization changes
    from process to process (so one value recorded two ways: a new step hash, a cache
    miss, a param shown changed)."""
    from pydantic import BaseModel  # imported already: a model validated the value

    if isinstance(value, set | frozenset) and isinstance(dumped, list):
        try:
            return sorted(dumped, key=_set_item_order)
        except (TypeError, ValueError):
            return dumped
    if isinstance(value, BaseModel) and isinstance(dumped, dict):
        return {
            name: _sets_sorted(getattr(value, name), item) if hasattr(value, name) else item
            for name, item in dumped.items()
        }
    if isinstance(value, list | tuple) and isinstance(dumped, list) and len(value) == len(dumped):
        return [_sets_sorted(v, d) for v, d in zip(value, dumped, strict=True)]
    if isinstance(value, dict) and isinstance(dumped, dict) and all(type(k) is str for k in value):
        return {k: _sets_sorted(value.get(k), d) for k, d in dumped.items()}
    return dumped


def _set_item_order(item: Any) -> tuple[int, Any]:
    """Numbers by value, then texts, then anything else by its JSON."""
    if type(item) in (int, float):
        return (0, item)
    if type(item) is str:
        return (1, item)
    return (2, canonical_json(item))


def _same_param(first: Any, handed: Any) -> bool:
    """Equal as objects (or, for what == cannot tell, a NaN, by their JSON form)."""
    try:
        if bool(first == handed) and type(first) is type(handed):
            return True
    except Exception:  # an == that does not give a truth value
        pass
    try:
        return canonical_json(first) == canonical_json(handed)
    except (TypeError, ValueError):
        return repr(first) == repr(handed)


def _first_paragraph(text: str) -> str:
    return text.split("\n\n", maxsplit=1)[0].replace("\n", " ")


def code_fingerprint(fn: Callable[..., Any]) -> str:
    """BLAKE3 of the function's source (falls back to its bytecode when source is unavailable,
    and to its name and its compiled module's file for a function or class of an extension
    module: Cython, pybind11, f2py code has neither, and a rebuilt kernel must not look the
    same as the one recorded)."""
    try:
        source = textwrap.dedent(inspect.getsource(fn)).encode()
    except (OSError, TypeError):
        code = fn if isinstance(fn, types.CodeType) else getattr(fn, "__code__", None)
        source = code_text(code).encode() if code is not None else _compiled_code(fn)
    return digest(source)


def code_text(code: types.CodeType) -> str:
    """A code object's bytecode, constants and names as text that is the same in every
    process: nested code (a comprehension, a lambda) by its own text, not by its repr (which
    holds its address), and a frozenset constant (``x in {"a", "b"}``) sorted, not in the
    order of this process's string hashes."""
    return repr((code.co_code, tuple(_const_text(c) for c in code.co_consts), code.co_names))


def _const_text(const: Any) -> Any:
    if isinstance(const, types.CodeType):
        return code_text(const)
    if isinstance(const, frozenset):
        return f"frozenset({sorted(map(repr, const))})"
    if isinstance(const, tuple):
        return tuple(_const_text(c) for c in const)
    return const


def extension_file(module: str) -> str | None:
    """The file module ``module`` was loaded from, when it is an extension module (``.so``,
    ``.pyd``: compiled code, no source); None otherwise."""
    path = getattr(sys.modules.get(module), "__file__", None)
    return path if isinstance(path, str) and path.endswith(tuple(EXTENSION_SUFFIXES)) else None


def _compiled_code(fn: Any) -> bytes:
    """``fn``'s qualified name and the bytes of the extension module file it comes from
    (empty when it comes from none, or from one that cannot be read)."""
    path = extension_file(str(getattr(fn, "__module__", None)))
    if path is None:
        return b""
    try:
        with open(path, "rb") as compiled:
            return f"{getattr(fn, '__qualname__', '')}\0".encode() + compiled.read()
    except OSError:
        return b""
