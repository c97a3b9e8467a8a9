"""The planner registry: name -> class, so any planner recorded in a run can be rebuilt.

Built-in planners are listed by import path (nothing imported until used); third-party ones
register with ``register_planner`` or the ``reprolam.planners`` entry point group. A run
records ``planner.config()``; ``planner_from_config`` turns that back into a planner for
``fork``, ``resume`` and ``reproduce`` without them knowing any planner's fields.

A planner class may define ``from_config(config, **context)`` (a classmethod); otherwise
it is built as ``cls(**settings)`` from the recorded config minus its ``name``. The context
carries what is never recorded, e.g. ``llm`` (the endpoint settings given now).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from importlib.metadata import entry_points
from typing import Any, TypeVar

from reprolam.errors import ConfigError
from reprolam.planning.base import Planner

ENTRY_POINT_GROUP = "reprolam.planners"
BUILTIN_PLANNERS = {
    "rules": "reprolam.planning.rules:RulesPlanner",
    "script": "reprolam.planning.rules:ScriptPlanner",
    "llm": "reprolam.planning.llm:LLMPlanner",
    "simulated": "reprolam.planning.simulated:SimulatedPlanner",
    "recorded": "reprolam.history.recorded:RecordedDecisions",
}
_registered: dict[str, type[Any]] = {}

C = TypeVar("C", bound=type[Any])


def register_planner(name: str, cls: C | None = None) -> Any:
    """Register a planner class under ``name`` (also usable as ``@register_planner("x")``)."""

    def add(planner_cls: C) -> C:
        if not name or not name.replace("-", "_").isidentifier():
            raise ConfigError(f"planner name {name!r} must be a word such as 'my-planner'")
        _registered[name] = planner_cls
        return planner_cls

    return add if cls is None else add(cls)


def planner_names() -> list[str]:
    """Every planner a run can name: built-in, registered and installed by entry point."""
    found = {*BUILTIN_PLANNERS, *_registered, *(ep.name for ep in _entry_points())}
    return sorted(found - {"recorded"})  # `recorded` is made by reproduce/fork, not chosen


def planner_class(name: str) -> type[Any]:
    if name in _registered:
        return _registered[name]
    target = BUILTIN_PLANNERS.get(name)
    if target is None:
        target = next((ep.value for ep in _entry_points() if ep.name == name), None)
    if target is None:
        raise ConfigError(
            f"unknown planner {name!r}",
            option="planner",
            value=name,
            hint=f"choose one of {', '.join(['auto', *planner_names()])}, or register it "
            "with reprolam.register_planner (or the reprolam.planners entry point)",
        )
    module, _, attr = target.partition(":")
    cls = getattr(importlib.import_module(module), attr)
    _registered.setdefault(name, cls)
    return cls  # type: ignore[no-any-return]


def planner_from_config(config: Mapping[str, Any], **context: Any) -> Planner:
    """A fresh planner of the kind (and with the settings) a run recorded.

    A sweep point's config also names its sweep (``history.sweep``); that is a record of
    where the run came from, not a planner setting, so a rebuilt planner does without it.
    """
    config = {k: v for k, v in config.items() if k != "sweep"}
    name = str(config.get("name") or "rules")
    cls = planner_class(name)
    build: Callable[..., Any] | None = getattr(cls, "from_config", None)
    if build is not None:
        planner = build(config, **context)
    else:
        settings = {k: v for k, v in config.items() if k != "name"}
        try:
            planner = cls(**settings)
        except TypeError as exc:
            raise ConfigError(
                f"cannot rebuild planner {name!r} from its recorded config {dict(config)!r}: {exc}",
                hint="give the class a from_config(config, **context) classmethod",
            ) from None
    if not isinstance(planner, Planner):
        raise ConfigError(f"planner {name!r} built {planner!r}, which is not a Planner")
    return planner


def _entry_points() -> Any:
    return entry_points(group=ENTRY_POINT_GROUP)
