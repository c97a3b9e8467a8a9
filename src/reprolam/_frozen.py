"""Building frozen records fast where the engine builds one per step.

A frozen dataclass's ``__init__`` sets each field through ``object.__setattr__`` (the
frozen ``__setattr__`` refuses plain assignment): about a thousand machine instructions a
field, most of what building a small record costs. ``builder(cls)`` returns a function
taking every field positionally that fills a twin with the same slot layout and no frozen
``__setattr__``, then makes it a ``cls`` (``__class__`` assignment, which Python allows
between identical layouts; ``trace._step_decode`` does the same for step records): the
same record, built about 2.5x faster. The record is frozen from then on, as any other.

``__class__`` assignment raises an audit event, which runs every audit hook the process has
(``engine.observe`` installs one): about 3,000 instructions however small the record. A
record of at most ``_FEW`` fields is filled through its slots' descriptors instead (each
``__set__`` about 150 instructions, no event).

Only for frozen, slotted dataclasses whose slots are exactly their fields, whose fields
left out of ``__init__`` have a plain default, and that do nothing in ``__post_init__``; for
anything else the builder is the class itself (it takes the same positional arguments).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
# at most this many fields: filled through their slot descriptors (see the docstring)
_FEW = 8


def builder(cls: type[T], *, every_field: bool = False) -> Callable[..., T]:
    """A positional constructor of ``cls`` (its ``__init__`` fields, in declaration order).

    ``every_field``: it takes the fields left out of ``__init__`` too, in their place (for a
    class it cannot build fast, the class's ``__init__`` then sets of each such field).
    """
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    names = tuple(f.name for f in fields)
    given = names if every_field else tuple(f.name for f in fields if f.init)
    # left to their defaults
    fixed = {f.name: f.default for f in fields if f.name not in given}
    if not _plain(cls, names) or dataclasses.MISSING in fixed.values():
        return _through_init(cls, names) if every_field else cls
    scope: dict[str, Any] = {"_new": object.__new__, "_cls": cls, "_fixed": fixed}
    if len(names) <= _FEW:
        scope.update({f"_set_{name}": getattr(cls, name).__set__ for name in names})
        fills = "".join(f"    _set_{name}(r, {name})\n" for name in given)
        fills += "".join(f"    _set_{name}(r, _fixed[{name!r}])\n" for name in fixed)
        source = f"def build({', '.join(given)}):\n    r = _new(_cls)\n{fills}    return r\n"
    else:
        slots = cls.__dict__["__slots__"]  # the same layout, without the frozen __setattr__
        scope["_twin"] = type(f"_Unfrozen{cls.__name__}", (), {"__slots__": slots})
        fills = "".join(f"    r.{name} = {name}\n" for name in given)
        fills += "".join(f"    r.{name} = _fixed[{name!r}]\n" for name in fixed)
        source = (
            f"def build({', '.join(given)}):\n    r = _new(_twin)\n{fills}"
            "    r.__class__ = _cls\n    return r\n"
        )
    exec(source, scope)  # generated from the field names checked above
    build: Callable[..., T] = scope["build"]
    build.__qualname__ = f"builder({cls.__qualname__})"
    try:
        build(*(None for _ in given))  # the layouts really are the same (else TypeError)
    except TypeError:
        return _through_init(cls, names) if every_field else cls
    return build


def _plain(cls: type, names: tuple[str, ...]) -> bool:
    """Whether ``cls`` is a slotted dataclass whose slots are exactly its fields, of its own
    (no base, no ``__post_init__``), with names the generated code can use."""
    slots = getattr(cls, "__slots__", None)
    return (
        isinstance(slots, tuple)
        and cls.__bases__ == (object,)
        and set(slots) == set(names)
        and not hasattr(cls, "__post_init__")
        and all(name.isidentifier() and not name.startswith("_") for name in names)
    )


def _through_init(cls: type[T], names: tuple[str, ...]) -> Callable[..., T]:
    """``builder(cls, every_field=True)`` the slow way: ``__init__``, then the other fields."""
    init = {f.name for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]

    def build(*values: Any) -> T:
        given = dict(zip(names, values, strict=True))
        record = cls(**{name: value for name, value in given.items() if name in init})
        for name, value in given.items():
            if name not in init:
                object.__setattr__(record, name, value)
        return record

    return build


class _Factory:
    """The default of a field with a ``default_factory`` in a ``fast_init`` signature."""

    def __repr__(self) -> str:
        return "<factory>"  # as dataclasses shows it


_FACTORY = _Factory()


def fast_init(cls: type[T]) -> type[T]:
    """Class decorator, above ``@dataclass(frozen=True, slots=True)``, for a public record built
    once per step (a planner's ``Proposal``): its ``__init__`` made again with the same
    parameters, defaults and checks, setting each field through its slot's descriptor rather
    than ``object.__setattr__`` (about half the cost). A class it cannot rebuild exactly
    (``__post_init__``, a field left out of ``__init__``, inheritance) keeps its own."""
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    if not _plain(cls, tuple(f.name for f in fields)) or not all(f.init for f in fields):
        return cls
    scope: dict[str, Any] = {"_FACTORY": _FACTORY}
    positional: list[str] = []
    keyword: list[str] = []
    body: list[str] = []
    for f in fields:
        name = f.name
        scope[f"_set_{name}"] = getattr(cls, name).__set__
        value = name
        if f.default is not dataclasses.MISSING:
            scope[f"_default_{name}"] = f.default
            parameter = f"{name}=_default_{name}"
        elif f.default_factory is not dataclasses.MISSING:
            scope[f"_factory_{name}"] = f.default_factory
            parameter = f"{name}=_FACTORY"
            value = f"_factory_{name}() if {name} is _FACTORY else {name}"
        else:
            parameter = name
        (keyword if f.kw_only else positional).append(parameter)
        body.append(f"    _set_{name}(self, {value})\n")
    signature = ", ".join(["self", *positional, *(["*", *keyword] if keyword else [])])
    exec(f"def __init__({signature}):\n{''.join(body)}", scope)  # from the names checked above
    init = scope["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__annotations__ = {**{f.name: f.type for f in fields}, "return": None}
    cls.__init__ = init  # type: ignore[method-assign]
    return cls
