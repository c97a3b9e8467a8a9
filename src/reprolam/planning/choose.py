"""Resolve ``--planner`` (and the LLM settings) into a planner, saying why it was chosen."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from reprolam.errors import ConfigError
from reprolam.planning.base import Planner
from reprolam.planning.rules import RulesPlanner, ScriptPlanner

PLANNER_NAMES = ("auto", "rules", "script", "llm", "simulated")
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
    """``auto`` picks the ``llm`` planner when an endpoint or key is configured, else ``rules``.

    The LLM settings come from the arguments first (``--model``, ``--llm-base-url``), then
    the environment (``LLM_ENV_VARS``). ``ConfigError`` when ``llm`` cannot be set up.
    """
    if name == "rules":
        return PlannerChoice(RulesPlanner(), "requested with --planner rules")
    if name == "script":
        return PlannerChoice(ScriptPlanner(), "requested with --planner script")
    if name == "simulated":
        from reprolam.planning.simulated import SimulatedPlanner

        return PlannerChoice(
            SimulatedPlanner(), "requested with --planner simulated (offline, seeded stand-in)"
        )
    if name == "llm":
        from reprolam.planning.llm import NOT_CONFIGURED, LLMPlanner, resolve_endpoint

        if not has_endpoint(base_url=base_url):
            raise ConfigError(f"--planner llm: {NOT_CONFIGURED}")
        planner = LLMPlanner(resolve_endpoint(model=model, base_url=base_url))
        return PlannerChoice(planner, f"llm: {planner.endpoint.describe()}")
    if name == "auto":
        if not has_endpoint(base_url=base_url):
            model_only = configured_settings(model=model)
            note = f" ({', '.join(model_only)} alone names no endpoint)" if model_only else ""
            return PlannerChoice(
                RulesPlanner(),
                "auto: no LLM endpoint configured (REPROLAM_LLM_BASE_URL / OPENROUTER_API_KEY / "
                f"OPENAI_API_KEY unset){note}, using the offline rules planner",
            )
        from reprolam.planning.llm import LLMPlanner, resolve_endpoint

        found = configured_settings(model=model, base_url=base_url)
        planner = LLMPlanner(resolve_endpoint(model=model, base_url=base_url))
        return PlannerChoice(
            planner,
            f"auto: LLM configured ({', '.join(found)}), using the llm planner: "
            f"{planner.endpoint.describe()}",
        )
    raise ConfigError(f"unknown planner {name!r}: choose one of {', '.join(PLANNER_NAMES)}")


def configured_settings(
    *, model: str | None = None, base_url: str | None = None, env: Mapping[str, str] | None = None
) -> list[str]:
    """Which LLM settings are present (names only), for explaining the planner choice."""
    env = os.environ if env is None else env
    found = [v for v in ("REPROLAM_LLM_BASE_URL", "REPROLAM_LLM_MODEL") if env.get(v)]
    found += [v for v in ("OPENROUTER_API_KEY", "OPENAI_API_KEY") if env.get(v)]
    if base_url and "REPROLAM_LLM_BASE_URL" not in found:
        found.insert(0, "--llm-base-url")
    if model and "REPROLAM_LLM_MODEL" not in found:
        found.insert(0, "--model")
    return found


def has_endpoint(*, base_url: str | None = None, env: Mapping[str, str] | None = None) -> bool:
    """An endpoint is configured when a base URL or a provider key is (a model alone is not)."""
    env = os.environ if env is None else env
    keys = ("REPROLAM_LLM_BASE_URL", "OPENROUTER_API_KEY", "OPENAI_API_KEY")
    return bool(base_url or any(env.get(k) for k in keys))
