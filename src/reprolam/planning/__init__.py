"""Planners: choose the next action; never execute it.

Import from the modules (``planning.base``, ``rules``, ``llm``, ``simulated``, ``choose``),
from ``reprolam``, or from here (``from reprolam.planning import LLMPlanner``): the names
below are looked up when first asked for, so the offline planners never pay for the LLM
client at start-up.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reprolam.planning.choose import LLMSettings, choose_planner
    from reprolam.planning.llm import LLMPlanner
    from reprolam.planning.rules import RulesPlanner, ScriptPlanner
    from reprolam.planning.simulated import SimulatedPlanner

_EXPORTS = {
    "LLMPlanner": "reprolam.planning.llm",
    "LLMSettings": "reprolam.planning.choose",
    "RulesPlanner": "reprolam.planning.rules",
    "ScriptPlanner": "reprolam.planning.rules",
    "SimulatedPlanner": "reprolam.planning.simulated",
    "choose_planner": "reprolam.planning.choose",
}
__all__ = [
    "LLMPlanner",
    "LLMSettings",
    "RulesPlanner",
    "ScriptPlanner",
    "SimulatedPlanner",
    "choose_planner",
]


def __getattr__(name: str) -> Any:  # PEP 562: import the defining module on first use
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
