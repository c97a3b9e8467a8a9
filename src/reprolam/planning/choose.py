"""Resolve a planner name (and the LLM settings) into a planner, saying why it was chosen."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from reprolam.errors import ConfigError, render_markup
from reprolam.planning.base import Planner

AUTO = "auto"
LLM_ENV_VARS = (
    "REPROLAM_LLM_BASE_URL",
    "REPROLAM_LLM_MODEL",
    "OPENROUTER_API_KEY",
    "OPENAI_API_KEY",
)


@dataclass(frozen=True, slots=True)
class LLMSettings:
    """Where the llm planner finds its model, and how to sample it, as given now.

    The endpoint is never recorded (it may carry secrets); the sampling settings are, in the
    planner's config. ``None`` falls back to the environment (``REPROLAM_LLM_BASE_URL``,
    ``REPROLAM_LLM_MODEL``) or, for a planner rebuilt from a run, to the recorded setting,
    else the planner's default. ``tool_mode``: ``native``, ``text`` or ``auto``.
    """

    model: str | None = None
    base_url: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    tool_mode: str | None = None
    timeout: float | None = None  # seconds one call may take
    prompt_budget: int | None = None  # characters of messages before old results elide

    def sampling(self) -> dict[str, Any]:
        """The planner settings given now (the ones not ``None``)."""
        given = {
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "tool_mode": self.tool_mode,
            "timeout": self.timeout,
            "prompt_budget": self.prompt_budget,
        }
        return {k: v for k, v in given.items() if v is not None}


OFFLINE_PLANNERS = ("rules", "script", "simulated")  # the built-in planners that call no LLM


def refuse_non_planner(planner: Any) -> None:
    """A ``planner`` that is neither a name nor a planner failed the run with an
    AttributeError ('int' object has no attribute 'config')."""
    if not callable(getattr(planner, "propose", None)):
        raise ConfigError(
            f"{{planner}} {planner!r} ({type(planner).__name__}) is not a planner",
            option="planner",
            hint="give a name ({planner=rules}, {planner=llm}) or an object with a "
            "propose(state) method",
        )


def refuse_llm_without_llm(llm: LLMSettings | None, why: str, *, fix: str) -> None:
    """LLM settings given for a planner that calls no LLM would be silently ignored (and a
    reader of the code would believe the model was used): refuse them, naming the fix."""
    given = [
        f"{name}={getattr(llm, name)!r}"
        for name in (f.name for f in fields(LLMSettings))
        if llm is not None and getattr(llm, name) is not None
    ]
    if given:
        raise ConfigError(
            f"llm=LLMSettings({', '.join(given)}) sets up an LLM, but {why}, so it would be "
            "ignored",
            option="llm",
            hint=f"drop the llm argument{fix}",
        )


@dataclass(frozen=True, slots=True)
class PlannerChoice:
    planner: Planner
    why: str  # shown to the user (with {option} markup): `auto` always says what and why

    @property
    def reason(self) -> str:
        return render_markup(self.why)


def choose_planner(
    name: str = AUTO,
    *,
    llm: LLMSettings | None = None,
    model: str | None = None,
    base_url: str | None = None,
) -> PlannerChoice:
    """``auto`` picks the ``llm`` planner when a base URL is given explicitly, else ``rules``.

    An API key in the environment alone is not consent to spend money: ``auto`` then says so
    and uses ``rules``; ``llm`` (asked for by name) may use the key's provider.

    Any other name is looked up in the planner registry (``planning.registry``). ``model``
    and ``base_url`` are shorthands for ``llm=LLMSettings(model, base_url)``.
    ``ConfigError`` when the planner is unknown or cannot be set up.
    """
    from reprolam.planning.registry import planner_from_config

    llm = llm or LLMSettings()
    if model or base_url:
        llm = replace(llm, model=model or llm.model, base_url=base_url or llm.base_url)
    if name in OFFLINE_PLANNERS:
        refuse_llm_without_llm(
            llm, f"the {name} planner calls none", fix=", or choose {planner=llm}"
        )
    if name != AUTO:
        if name == "llm" and not has_endpoint(base_url=llm.base_url):
            from reprolam.planning.llm import NOT_CONFIGURED

            raise ConfigError(f"{{planner=llm}}: {NOT_CONFIGURED}", option="planner", value=name)
        planner = planner_from_config({"name": name}, llm=llm)
        endpoint = getattr(planner, "endpoint", None)
        about = getattr(planner, "description", "")
        detail = f": {endpoint.describe()}" if endpoint is not None else ""
        detail += f" ({about})" if about else ""
        return PlannerChoice(planner, f"requested with {{planner={name}}}{detail}")
    if not has_base_url(base_url=llm.base_url):
        return PlannerChoice(planner_from_config({"name": "rules"}), _why_rules(llm))
    planner = planner_from_config({"name": "llm"}, llm=llm)
    found = configured_settings(llm)
    return PlannerChoice(
        planner,
        f"auto: LLM configured ({', '.join(found)}), using the llm planner: "
        f"{planner.endpoint.describe()}",  # type: ignore[attr-defined]
    )


def configured_settings(llm: LLMSettings, env: Mapping[str, str] | None = None) -> list[str]:
    """Which LLM settings are present (names only), for explaining the planner choice."""
    env = os.environ if env is None else env
    found = [v for v in LLM_ENV_VARS if env.get(v)]
    if llm.base_url and "REPROLAM_LLM_BASE_URL" not in found:
        found.insert(0, "{base_url}")
    if llm.model and "REPROLAM_LLM_MODEL" not in found:
        found.insert(0, "{model}")
    return found


def has_endpoint(*, base_url: str | None = None, env: Mapping[str, str] | None = None) -> bool:
    """An endpoint is configured when a base URL or a provider key is (a model alone is not)."""
    env = os.environ if env is None else env
    keys = ("REPROLAM_LLM_BASE_URL", "OPENROUTER_API_KEY", "OPENAI_API_KEY")
    return bool(base_url or any(env.get(k) for k in keys))


def has_base_url(*, base_url: str | None = None, env: Mapping[str, str] | None = None) -> bool:
    """Whether an LLM base URL is given explicitly: what ``auto`` needs to use an LLM."""
    env = os.environ if env is None else env
    return bool(base_url or env.get("REPROLAM_LLM_BASE_URL"))


def _why_rules(llm: LLMSettings, env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    keys = [k for k in ("OPENROUTER_API_KEY", "OPENAI_API_KEY") if env.get(k)]
    if keys:
        return (
            f"auto: no LLM endpoint configured: {' and '.join(keys)} set but no base URL given; "
            "an API key alone is not consent to spend money: set REPROLAM_LLM_BASE_URL or "
            "{base_url} (e.g. https://openrouter.ai/api/v1), or choose {planner=llm}; using the "
            "offline rules planner"
        )
    model_only = configured_settings(llm, env)
    note = f" ({', '.join(model_only)} alone names no endpoint)" if model_only else ""
    return (
        f"auto: no LLM endpoint configured (REPROLAM_LLM_BASE_URL unset){note}, "
        "using the offline rules planner"
    )
