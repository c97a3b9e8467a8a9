"""Resolve ``--planner`` (and the LLM settings) into a planner, saying why it was chosen."""

from __future__ import annotations

import os
from dataclasses import dataclass

from reprolam.errors import ConfigError
from reprolam.planning.base import Planner
from reprolam.planning.rules import RulesPlanner, ScriptPlanner

PLANNER_NAMES = ("auto", "rules", "script")
LLM_ENV_VARS = (
    "REPROLAM_LLM_BASE_URL",
    "REPROLAM_LLM_MODEL",
    "OPENROUTER_API_KEY",
    "OPENAI_API_KEY",
)


@dataclass(frozen=True, slots=True)
class PlannerChoice:
    planner: Planner
    reason: str  # printed by the CLI: `auto` always says what it chose and why


def choose_planner(
    name: str = "auto", *, model: str | None = None, base_url: str | None = None
) -> PlannerChoice:
    """``auto`` picks the offline ``rules`` planner unless an LLM endpoint is configured."""
    if name == "rules":
        return PlannerChoice(RulesPlanner(), "requested with --planner rules")
    if name == "script":
        return PlannerChoice(ScriptPlanner(), "requested with --planner script")
    if name == "auto":
        configured = [v for v in LLM_ENV_VARS if os.environ.get(v)]
        if model or base_url:
            configured += ["--model" if model else "", "--llm-base-url" if base_url else ""]
        configured = [c for c in configured if c]
        if configured:
            raise ConfigError(
                f"an LLM endpoint is configured ({', '.join(configured)}) but this build has "
                "no llm planner yet: pass --planner rules, or unset those variables"
            )
        return PlannerChoice(
            RulesPlanner(),
            "auto: no LLM endpoint configured (REPROLAM_LLM_BASE_URL / OPENROUTER_API_KEY / "
            "OPENAI_API_KEY unset), using the offline rules planner",
        )
    raise ConfigError(f"unknown planner {name!r}: choose one of {', '.join(PLANNER_NAMES)}")
