"""The runs whose exports the community validators check (tests/test_provenance_validators.py)
and the offline set-up of ``rocrate-validator``. Not tests themselves.

Cases: a plain run; a run with failures and recoveries (injected faults, retries); a run
with rejected LLM proposals and a failed planner call; a fork; a diverged reproduction;
a run whose strings are full of control characters.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import reprolam
from reprolam import Engine, NoProposal, Proposal
from reprolam.engine.policy import Policy
from reprolam.history.fork import fork
from reprolam.history.reproduce import reproduce
from reprolam.trace.contract import TraceStore
from test_provenance_scenarios import FLOW, Scripted, troubled_run

DATA = Path(__file__).with_name("data")
NOISY = Path(__file__).with_name("noisy_flow.py")
CONTROL = "\x1b[31mred\x1b[0m bell\x07 nul\x00 vt\x0b ff\x0c esc\x1b done\x7f"


def control_run(store: TraceStore) -> str:
    """A run whose rationale, params and error message carry ANSI codes and C0 controls."""
    planner = Scripted(
        [
            NoProposal(f"model said {CONTROL}", error_type="APIError", decision={"raw": CONTROL}),
            Proposal("make_data", params={"n": 3}, rationale=CONTROL),
            Proposal("nope" + CONTROL, rationale=CONTROL),
            Proposal("add_up", params={"scale": 2}, rationale=f"why {CONTROL}"),
            Proposal("report"),
        ],
        {"name": "llm", "model": f"m{CONTROL}"},
    )
    result = Engine(store).run(FLOW, planner=planner, seed=3)
    assert result.succeeded, result.run.error
    return result.id


def build_cases(store: TraceStore) -> dict[str, str]:
    """Case name -> run id, every case recorded in ``store``."""
    plain = reprolam.run("breast-cancer", store=store, seed=0, planner="rules").id
    faults = Policy(retries=3, max_failures=5, faults={"train_model": 0.7})
    failures = reprolam.run("breast-cancer", store=store, seed=1, planner="rules", policy=faults)
    assert failures.succeeded
    assert any(s.error for s in failures.steps)
    forked = fork(store, plain, at="train_model", overrides={"train_model": {"C": 0.5}})
    noisy = reprolam.run(f"{NOISY}:flow", store=store, seed=0, planner="rules").id
    diverged = reproduce(store, noisy)
    assert diverged.divergence is not None
    assert diverged.reproduction is not None
    return {
        "plain": plain,
        "failures": failures.id,
        "rejections": troubled_run(store),
        "fork": forked.id,
        "diverged": diverged.reproduction.id,
        "control": control_run(store),
    }


# -- rocrate-validator, offline -------------------------------------------------------------------

# The remote documents a crate of ours makes the validator fetch, served from tests/data.
CONTEXTS = {
    "https://w3id.org/ro/crate/1.1/context": DATA / "jsonld" / "ro-crate-1.1-context.jsonld",
    "https://w3id.org/ro/terms/workflow-run/context": DATA / "jsonld" / "workflow-run-context.json",
}


def seed_http_cache(path: Path) -> None:
    """Fill a requests-cache database (the validator's HTTP cache) from ``CONTEXTS``.

    The responses go through a transport adapter that reads the shipped files, so the
    cache holds exactly what an online run would have stored, and nothing touches the
    network. The validator then runs with ``offline=True``: a document not in the cache
    is a cache miss (HTTP 504), which ``validate_crate`` reports as a failure.
    """
    import requests
    import urllib3
    from requests.adapters import BaseAdapter
    from requests_cache import CachedSession

    class LocalFiles(BaseAdapter):
        def send(self, request: Any, **kwargs: Any) -> requests.Response:
            source = CONTEXTS.get(str(request.url))
            body = source.read_bytes() if source is not None else b""
            response = requests.Response()
            response.status_code = 200 if source is not None else 404
            response.headers["Content-Type"] = "application/ld+json"
            response.url = str(request.url)
            response.request = request
            response.raw = urllib3.HTTPResponse(
                body=io.BytesIO(body),
                status=response.status_code,
                preload_content=False,
                request_url=str(request.url),
            )
            return response

        def close(self) -> None:
            pass

    session = CachedSession(cache_name=str(path), backend="sqlite", expire_after=-1)
    session.mount("https://", LocalFiles())
    session.mount("http://", LocalFiles())
    with session:
        for url in CONTEXTS:
            accept = "application/ld+json, application/json"
            assert session.get(url, headers={"Accept": accept}).status_code == 200


def validate_crate(crate: Path, profile: str, cache: Path) -> tuple[list[str], list[str], set[str]]:
    """(REQUIRED issues as text, URLs asked for but not served, profiles whose checks ran).

    The validator checks ``profile`` and every profile it builds on."""
    from rocrate_validator import services
    from rocrate_validator.models import ValidationSettings
    from rocrate_validator.utils.http import HttpRequester

    settings = ValidationSettings(
        rocrate_uri=str(crate),
        profile_identifier=profile,
        requirement_severity="REQUIRED",
        offline=True,
        cache_path=cache,
    )
    misses: list[str] = []
    with _recording(HttpRequester(), misses):
        result = services.validate(settings)
    issues = [
        f"{i.check.identifier} {i.check.name}: {i.message} ({i.violatingEntity or ''})"
        for i in result.get_issues()
    ]
    ran = {check.requirement.profile.identifier for check in result.executed_checks}
    return issues, misses, ran


class _recording:
    """Wraps the validator's HTTP session to note every request not answered from cache."""

    def __init__(self, requester: Any, misses: list[str]) -> None:
        self.requester = requester
        self.misses = misses

    def __enter__(self) -> None:
        inner = self.session = self.requester.session
        misses = self.misses

        class Session:
            def __getattr__(self, name: str) -> Any:
                return getattr(inner, name)

            def get(self, url: str, **kwargs: Any) -> Any:
                response = inner.get(url, **kwargs)
                if response.status_code != 200:
                    misses.append(url)
                return response

            def head(self, url: str, **kwargs: Any) -> Any:
                response = inner.head(url, **kwargs)
                if response.status_code != 200:
                    misses.append(url)
                return response

        self.requester.session = Session()

    def __exit__(self, *exc: object) -> None:
        self.requester.session = self.session


def claimed_profiles(metadata: dict[str, Any]) -> set[str]:
    root = next(e for e in metadata["@graph"] if e["@id"] == "./")
    claimed = root.get("conformsTo", [])
    items = claimed if isinstance(claimed, list) else [claimed]
    return {item["@id"] for item in items}


def walk_strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from walk_strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from walk_strings(v)
