"""Where the LLM lives: the endpoint from arguments and the environment, and the SDK client.

A key goes only to the provider it belongs to, is kept out of ``repr`` and of everything
recorded; what is recorded instead is the base URL's host and the key's variable name.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from reprolam.errors import ConfigError

OPENROUTER_BASE_URL = "https://openrouter.ai/api/v1"
OPENAI_BASE_URL = "https://api.openai.com/v1"
DEFAULT_MODELS = {"openrouter.ai": "openai/gpt-4o-mini", "api.openai.com": "gpt-4o-mini"}
NO_KEY = "not-needed"  # local servers (Ollama, llama.cpp, vLLM) usually want no key
NOT_CONFIGURED = (
    "the llm planner needs an endpoint: set REPROLAM_LLM_BASE_URL (or {base_url}) to an "
    "OpenAI-compatible server, or OPENROUTER_API_KEY / OPENAI_API_KEY for OpenRouter / OpenAI; "
    "and the model with REPROLAM_LLM_MODEL (or {model})"
)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where the LLM lives. The key is kept out of ``repr`` and of everything recorded."""

    base_url: str
    model: str
    api_key: str = field(repr=False)
    key_source: str  # the variable the key came from, "argument", or "none"
    # where the base URL came from: "argument", "REPROLAM_LLM_BASE_URL", or the key's
    # variable when it is that provider's default
    url_source: str = "argument"

    def check_url(self) -> str:
        """Where to check the base URL, as it was given (never the URL: it may hold a key)."""
        if self.url_source == "argument":
            return "the base URL given"
        if self.url_source == "REPROLAM_LLM_BASE_URL":
            return "the base URL (REPROLAM_LLM_BASE_URL)"
        return f"the base URL ({self.base_url}, chosen by {self.url_source})"

    @property
    def host(self) -> str:
        return url_host(self.base_url)

    def describe(self) -> str:
        return f"model {self.model} at {self.host} (API key: {self.key_source})"


def url_host(url: str) -> str:
    """``host[:port]`` of a URL: what is recorded instead of a URL that may carry credentials."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    return f"{host}:{parts.port}" if parts.port else host


def resolve_endpoint(
    *,
    model: str | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Endpoint:
    """Flags first, then the environment; ``ConfigError`` naming the variables to set."""
    env = os.environ if env is None else env
    url_source = "argument" if base_url else "REPROLAM_LLM_BASE_URL"
    base_url = base_url or env.get("REPROLAM_LLM_BASE_URL") or None
    if base_url is None:
        if env.get("OPENROUTER_API_KEY"):
            base_url, url_source = OPENROUTER_BASE_URL, "OPENROUTER_API_KEY"
        elif env.get("OPENAI_API_KEY"):
            base_url, url_source = OPENAI_BASE_URL, "OPENAI_API_KEY"
        else:
            raise ConfigError(NOT_CONFIGURED)
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"LLM base URL with host {url_host(base_url) or '(none)'!r} is not an http(s) URL: "
            "pass e.g. {base_url=http://localhost:11434/v1} (Ollama)"
        )
    hostname = parts.hostname
    # A key goes only to the provider it belongs to: an OpenRouter key never travels to a
    # self-hosted server. OPENAI_API_KEY is the conventional key for OpenAI-compatible ones.
    variable = "OPENROUTER_API_KEY" if hostname.endswith("openrouter.ai") else "OPENAI_API_KEY"
    if api_key:
        key, source = api_key, "argument"
    elif env.get(variable):
        key, source = env[variable], variable
    elif hostname in DEFAULT_MODELS:
        raise ConfigError(f"{hostname} needs an API key: set {variable}")
    else:
        key, source = NO_KEY, "none"
    model = model or env.get("REPROLAM_LLM_MODEL") or DEFAULT_MODELS.get(hostname)
    if not model:
        raise ConfigError(
            f"no model given for the LLM at {url_host(base_url)}: pass {{model}} or set "
            "REPROLAM_LLM_MODEL (e.g. llama3.1 for Ollama, the served name for vLLM)"
        )
    return Endpoint(
        base_url=base_url, model=model, api_key=key, key_source=source, url_source=url_source
    )


def make_client(endpoint: Endpoint, timeout: float) -> Any:
    try:
        import openai
    except ImportError:
        raise ConfigError(
            "the llm planner needs the openai package: pip install 'reprolam[llm]'"
        ) from None
    # max_retries=0: the SDK would otherwise retry 429/5xx silently; our retries are steps.
    return openai.OpenAI(
        api_key=endpoint.api_key, base_url=endpoint.base_url, timeout=timeout, max_retries=0
    )
