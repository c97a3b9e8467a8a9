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

from collections.abc import Mapping
from typing import Any

from reprolam._registry import Registry
from reprolam.errors import ConfigError
from reprolam.planning.base import Planner

BUILTIN_PLANNERS = {
    "rules": "reprolam.planning.rules:RulesPlanner",
    "script": "reprolam.planning.rules:ScriptPlanner",
    "llm": "reprolam.planning.llm:LLMPlanner",
    "simulated": "reprolam.planning.simulated:SimulatedPlanner",
    "recorded": "reprolam.history.recorded:RecordedDecisions",
}
# `recorded` is made by reproduce and fork, never chosen; `auto` is resolved by choose_planner
PLANNERS = Registry("planner", BUILTIN_PLANNERS, hidden=["recorded"], choices=["auto"])
register_planner = PLANNERS.register
planner_names = PLANNERS.names
planner_class = PLANNERS.get


def planner_from_config(config: Mapping[str, Any], **context: Any) -> Planner:
    """A fresh planner of the kind (and with the settings) a run recorded.

    A sweep point's config also names its sweep (``history.sweep``); that is a record of
    where the run came from, not a planner setting, so a rebuilt planner does without it.
    """
    config = {k: v for k, v in config.items() if k != "sweep"}
    name = str(config.get("name") or "rules")
    planner = PLANNERS.build({**config, "name": name}, **context)
    if not isinstance(planner, Planner):
        raise ConfigError(f"planner {name!r} built {planner!r}, which is not a Planner")
    return planner
