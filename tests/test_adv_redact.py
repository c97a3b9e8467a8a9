"""Redaction in exports changes what is a secret, never what is a record: a crate of an
LLM-planned run (its planner config names a token count and an API key's variable) imports
and audits clean, while a real secret is still redacted (tests/test_provenance.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reprolam import Proposal
from reprolam.errors import IntegrityError
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


def test_a_crate_of_a_run_with_the_llm_planners_own_config_imports(tmp_path: Path) -> None:
    """The llm planner records its provider profile, whose ``max_tokens_param`` names the
    parameter it sends (``max_tokens``): redacted as a token, every crate of an LLM-planned
    run failed to import ('the record ... was changed after it was created')."""
    from reprolam import LLMPlanner

    config = LLMPlanner(base_url="http://127.0.0.1:9/v1", model="qwen2.5:7b").config()
    assert config["profile"]["max_tokens_param"] == "max_tokens"
    with SQLiteStore(tmp_path / "store") as store:
        run_id = troubled_run(store, config=config)
        export_run(store, run_id, format="rocrate", output=tmp_path / "crate")
    store = MemoryStore()
    import_crate(store, tmp_path / "crate")
    assert audit(store, run_id).clean
    assert store.get_run(run_id).planner == config


def test_a_crate_of_a_planner_naming_its_tokenizer_imports(tmp_path: Path) -> None:
    """A plug-in planner's config may name a tokenizer or its stop tokens (text, a list of
    text): neither is a secret. Both were redacted as a token, so the crate's record no
    longer matched its header hash and import refused it as altered."""
    config = {"name": "tok", "tokenizer": "cl100k_base", "stop_tokens": ["</s>"]}
    with SQLiteStore(tmp_path / "store") as store:
        run_id = troubled_run(store, config=config)
        export_run(store, run_id, format="rocrate", output=tmp_path / "crate")
    store = MemoryStore()
    import_crate(store, tmp_path / "crate")
    assert audit(store, run_id).clean
    assert store.get_run(run_id).planner == config
    assert "<redacted>" not in (tmp_path / "crate" / "ro-crate-metadata.json").read_text()


def test_a_crate_whose_planner_config_was_redacted_says_so_on_import(tmp_path: Path) -> None:
    """A planner config holding a secret (against the planner contract) is redacted by the
    export, which changes the run's header-hashed record: import refused the crate as
    'altered or damaged', blaming whoever handled it for what the export itself did."""
    config = {"name": "llm", "api_key": "sk-test-SECRET", "model": "m"}
    with SQLiteStore(tmp_path / "store") as store:
        run_id = troubled_run(store, config=config)
        export_run(store, run_id, format="rocrate", output=tmp_path / "crate")
    with pytest.raises(IntegrityError) as raised:
        import_crate(MemoryStore(), tmp_path / "crate")
    message = str(raised.value)
    assert (
        f"the export redacted a secret-looking value in the planner config of run {run_id}"
        in message
    )
    assert "altered" not in message
    assert "reprolam store copy" in message
