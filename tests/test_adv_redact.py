"""Redaction in exports changes what is a secret, never what is a record: a crate of an
LLM-planned run (its planner config names a token count and an API key's variable) imports
and audits clean, while a real secret is still redacted (tests/test_provenance.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from reprolam import Proposal
from reprolam.history.audit import audit
from reprolam.history.fork import fork
from reprolam.provenance import export_run, import_crate
from reprolam.trace.memory import MemoryStore
from reprolam.trace.sqlite import SQLiteStore
from test_provenance_scenarios import FLOW, Scripted, troubled_run

pytest.importorskip("rocrate", reason="pip install 'reprolam[provenance]'")

LLM_CONFIG = {
    "name": "llm",
    "model": "test-model",
    "max_tokens": 512,  # names a count, not a token
    "api_key_from": "OPENAI_API_KEY",  # names a variable, not a key
}


@pytest.fixture(scope="module")
def crates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A run planned by an (offline) LLM and a fork of it, each exported as a crate."""
    root = tmp_path_factory.mktemp("adv-crates")
    with SQLiteStore(root / "store") as store:
        plain = troubled_run(store, config=LLM_CONFIG)
        script = Scripted([Proposal("report")], {"name": "script"})
        forked = fork(store, plain, at=6, workflow=FLOW, planner=script).id
        export_run(store, plain, format="rocrate", output=root / "plain")
        export_run(store, forked, format="rocrate", output=root / "fork")
        yield {"root": root, "plain": plain, "fork": forked}


@pytest.mark.parametrize("which", ["plain", "fork"])
def test_a_crate_of_an_llm_planned_run_imports_and_audits_clean(
    crates: dict[str, Any], which: str
) -> None:
    """Its planner config names a token count and an API key's variable: neither is a secret,
    and redacting them would break the run's header hash."""
    store = MemoryStore()
    report = import_crate(store, crates["root"] / which)
    assert report.run == crates[which]
    result = audit(store, crates[which])
    assert result.clean, [p.message for p in result.problems]
    assert store.get_run(crates["plain"]).planner == LLM_CONFIG
