"""Action params that need no pydantic until a value needs a closer look.

Importing pydantic and building one model per action cost ~80 ms at every start-up, for
params that are nearly always a bounded number, a string, a flag or a choice. Those are
checked here, exactly as pydantic would accept them; anything else (a value pydantic might
coerce or refuse, a richer type, pydantic's own ``Field``) goes to the pydantic model, built
on first use, so every refusal keeps pydantic's wording.

``Field`` declares bounds and a description the same way as pydantic's ``Field`` (which
works too, at the cost of importing pydantic)::

    from reprolam import Field

    @action(outputs=["model"])
    def train(X, *, C: Annotated[float, Field(gt=0, le=1e4, description="...")] = 1.0): ...
"""

from __future__ import annotations

import math
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

_NUMBER_TYPES = (int, float)
_CHOICE_TYPES = (str, int, bool)
_EXACT_FLOAT_INT = 2**53  # ints up to this convert to float exactly, as pydantic does


@dataclass(frozen=True, slots=True, kw_only=True)
class Field:
    """Bounds and a description for a keyword-only action param (a subset of pydantic's
    ``Field``: ``gt``, ``ge``, ``lt``, ``le``, ``description``)."""

    gt: float | None = None
    ge: float | None = None
    lt: float | None = None
    le: float | None = None
    description: str | None = None

    def to_pydantic(self) -> Any:
        """The equivalent ``pydantic.Field``: same validation, same JSON schema."""
        from pydantic import Field as PydanticField

        given = {
            name: getattr(self, name)
            for name in ("gt", "ge", "lt", "le", "description")
            if getattr(self, name) is not None
        }
        return PydanticField(**given)

    def allows(self, value: float) -> bool:
        return (
            (self.gt is None or value > self.gt)
            and (self.ge is None or value >= self.ge)
            and (self.lt is None or value < self.lt)
            and (self.le is None or value <= self.le)
        )

    @property
    def numeric(self) -> bool:
        bounds = (self.gt, self.ge, self.lt, self.le)
        return all(b is None or (type(b) in _NUMBER_TYPES and math.isfinite(b)) for b in bounds)

    @property
    def bounded(self) -> bool:
        return any(b is not None for b in (self.gt, self.ge, self.lt, self.le))


def for_pydantic(annotation: Any) -> Any:
    """The annotation with every reprolam ``Field`` in it replaced by pydantic's."""
    if typing.get_origin(annotation) is Annotated:
        base, *extras = typing.get_args(annotation)
        converted = [e.to_pydantic() if isinstance(e, Field) else e for e in extras]
        return Annotated[(for_pydantic(base), *converted)]
    return annotation


@dataclass(frozen=True, slots=True)
class SimpleParam:
    """A param of type bool, int, float, str or a Literal of str/int/bool, maybe bounded."""

    name: str
    kind: type | None  # None: a choice among ``choices``
    choices: tuple[Any, ...]
    bounds: Field | None
    default: Any  # ``...`` when required

    def accepts(self, value: Any, *, strict: bool) -> tuple[bool, Any]:
        """Whether pydantic certainly accepts ``value``, and the value it would record."""
        kind = type(value)
        if self.kind is None:
            return any(kind is type(c) and value == c for c in self.choices), value
        if self.kind is float and kind is int and not strict and abs(value) <= _EXACT_FLOAT_INT:
            value, kind = float(value), float
        if kind is not self.kind:
            return False, value
        if kind is float and not math.isfinite(value):
            return False, value  # pydantic records inf and nan its own way
        if self.bounds is not None and not self.bounds.allows(value):
            return False, value
        return True, value


def simple_params(params: Mapping[str, tuple[Any, Any]]) -> tuple[SimpleParam, ...] | None:
    """The params as ``SimpleParam``s with defaults they accept, or None if any is not one."""
    found: list[SimpleParam] = []
    for name, (annotation, default) in params.items():
        param = _simple(name, annotation, default)
        if param is None:
            return None
        if default is not ... and not param.accepts(default, strict=True)[0]:
            return None  # pydantic says what is wrong with it (or that it is fine)
        found.append(param)
    return tuple(found)


def _simple(name: str, annotation: Any, default: Any) -> SimpleParam | None:
    bounds: Field | None = None
    if typing.get_origin(annotation) is Annotated:
        annotation, *extras = typing.get_args(annotation)
        if len(extras) != 1 or type(extras[0]) is not Field or not extras[0].numeric:
            return None
        bounds = extras[0]
    if annotation in (bool, int, float, str):
        if bounds is not None and bounds.bounded and annotation not in _NUMBER_TYPES:
            return None
        return SimpleParam(name, annotation, (), bounds, default)
    if typing.get_origin(annotation) is Literal:
        choices = typing.get_args(annotation)
        if choices and all(type(c) in _CHOICE_TYPES for c in choices):
            if bounds is not None and bounds.bounded:
                return None
            return SimpleParam(name, None, choices, bounds, default)
    return None


def validated(simple: tuple[SimpleParam, ...], params: Mapping[str, Any]) -> dict[str, Any] | None:
    """Every param, given or default, as pydantic would record it; None if pydantic must say."""
    if len(params) > len(simple):
        return None
    values: dict[str, Any] = {}
    used = 0
    for param in simple:
        if param.name in params:
            ok, value = param.accepts(params[param.name], strict=False)
            if not ok:
                return None
            values[param.name] = value
            used += 1
        elif param.default is ...:
            return None
        else:
            values[param.name] = param.default
    return values if used == len(params) else None


def certainly_valid(
    simple: tuple[SimpleParam, ...], params: Mapping[str, Any], *, partial: bool, strict: bool
) -> bool:
    """Whether pydantic would find no problem with ``params`` (False: ask it)."""
    by_name = {p.name: p for p in simple}
    for name, value in params.items():
        param = by_name.get(name)
        if param is None or not param.accepts(value, strict=strict)[0]:
            return False
    return partial or all(p.default is not ... or p.name in params for p in simple)
