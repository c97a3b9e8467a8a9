"""Exports checked by the community's own validators, offline: ``rocrate-validator`` for the
RO-Crates (every profile a crate claims, REQUIRED level) and the W3C PROV-XML schema with
lxml; PROV-N, PROV-JSON and PROV-XML must be the same document.

The cases (tests/provenance_cases.py): a plain run, failures and recoveries, rejected LLM
proposals, a fork, a diverged reproduction, and strings full of control characters.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from prov.model import ProvDocument

from provenance_cases import (
    CONTROL,
    DATA,
    build_cases,
    claimed_profiles,
    seed_http_cache,
    validate_crate,
    walk_strings,
)
from reprolam.provenance import export_run
from reprolam.trace.sqlite import SQLiteStore

CASES = ("plain", "failures", "rejections", "fork", "diverged", "control")
# Claimed profile -> the validator's identifier for it.
VALIDATOR_PROFILES = {
    "https://w3id.org/ro/wfrun/process/0.5": "process-run-crate-0.5",
    "https://w3id.org/ro/wfrun/workflow/0.5": "workflow-run-crate-0.5",
    "https://w3id.org/ro/wfrun/provenance/0.5": "provenance-run-crate-0.5",
    "https://w3id.org/workflowhub/workflow-ro-crate/1.0": "workflow-ro-crate-1.0",
}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SQLiteStore]:
    trace = SQLiteStore(tmp_path_factory.mktemp("validators") / "store")
    yield trace
    trace.close()


@pytest.fixture(scope="module")
def cases(store: SQLiteStore) -> dict[str, str]:
    return build_cases(store)


@pytest.fixture(scope="module")
def http_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("http-cache") / "cache"
    seed_http_cache(path)
    return path


# -- RO-Crate -------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES)
def test_every_claimed_profile_passes_rocrate_validator_offline(
    store: SQLiteStore, cases: dict[str, str], http_cache: Path, tmp_path: Path, case: str
) -> None:
    pytest.importorskip("rocrate_validator", reason="pip install 'reprolam[dev]'")
    crate = tmp_path / "crate"
    export_run(store, cases[case], format="rocrate", output=crate)
    metadata = json.loads((crate / "ro-crate-metadata.json").read_text())
    descriptor = next(e for e in metadata["@graph"] if e["@id"] == "ro-crate-metadata.json")
    assert descriptor["conformsTo"][0]["@id"] == "https://w3id.org/ro/crate/1.1"
    claimed = claimed_profiles(metadata)
    assert set(VALIDATOR_PROFILES) <= claimed
    # The most specific profile is checked with every profile it builds on: all the others.
    issues, misses, ran = validate_crate(crate, "provenance-run-crate-0.5", http_cache)
    assert not misses, f"the validator needed documents not shipped in tests/data: {misses}"
    assert {*VALIDATOR_PROFILES.values(), "ro-crate-1.1"} <= ran
    assert not issues, f"{case} crate fails at REQUIRED level:\n" + "\n".join(issues)


def test_the_validator_does_catch_a_broken_crate(
    store: SQLiteStore, cases: dict[str, str], http_cache: Path, tmp_path: Path
) -> None:
    """The offline set-up really validates: a crate without a license fails REQUIRED."""
    pytest.importorskip("rocrate_validator", reason="pip install 'reprolam[dev]'")
    crate = tmp_path / "crate"
    export_run(store, cases["rejections"], format="rocrate", output=crate)
    path = crate / "ro-crate-metadata.json"
    metadata = json.loads(path.read_text())
    root = next(e for e in metadata["@graph"] if e["@id"] == "./")
    del root["license"]
    path.write_text(json.dumps(metadata))
    issues, misses, _ = validate_crate(crate, "ro-crate-1.1", http_cache)
    assert not misses
    assert any("license" in issue for issue in issues), issues


def _run_without_executed_steps(store: SQLiteStore, *, rejected: bool) -> str:
    """A run that executed no action: stopped before its first step, or (``rejected``) whose
    one proposal the policy refused."""
    import time
    from dataclasses import replace

    from reprolam.trace.records import (
        RunRecord,
        RunStatus,
        StepKind,
        StepRecord,
        StepStatus,
        seal,
    )

    run_id = f"01a00000-0000-7000-8000-{time.time_ns() % 10**12:012d}"
    now = time.time()
    store.create_run(RunRecord(id=run_id, workflow="breast-cancer", seed=0, created_at=now))
    head = store.get_run(run_id).header_hash or ""
    steps = []
    if rejected:
        proposal = StepRecord(
            run_id, 0, StepKind.REJECTION, "train_model", StepStatus.REJECTED, now
        )
        steps.append(seal(replace(proposal, prev_hash=head, params={"C": -1.0}, duration=0.0)))
    ended = replace(store.get_run(run_id), status=RunStatus.FAILED, finished_at=now + 1)
    store.record(steps=steps, run=replace(ended, error="the planner gave up"))
    return run_id


@pytest.mark.slow
@pytest.mark.parametrize("rejected", [False, True], ids=["no steps", "only a rejection"])
def test_a_run_that_executed_nothing_claims_only_the_profiles_it_meets(
    store: SQLiteStore, http_cache: Path, tmp_path: Path, rejected: bool
) -> None:
    """Its crate claimed Provenance Run Crate and failed two of its REQUIRED checks (the
    workflow lists no tool, the engine's OrganizeAction orchestrates no step)."""
    pytest.importorskip("rocrate_validator", reason="pip install 'reprolam[dev]'")
    crate = tmp_path / "crate"
    export_run(
        store, _run_without_executed_steps(store, rejected=rejected), format="rocrate", output=crate
    )
    claimed = claimed_profiles(json.loads((crate / "ro-crate-metadata.json").read_text()))
    assert "https://w3id.org/ro/wfrun/workflow/0.5" in claimed
    # The most specific profile it claims, checked with every profile it builds on.
    most = "provenance" if "https://w3id.org/ro/wfrun/provenance/0.5" in claimed else "workflow"
    issues, misses, _ = validate_crate(crate, f"{most}-run-crate-0.5", http_cache)
    assert not misses
    assert not issues, "\n".join(issues)


# -- PROV -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def prov_schema() -> object:
    etree = pytest.importorskip("lxml.etree")
    # prov-core.xsd imports xml.xsd by a relative schemaLocation: resolved next to it, offline.
    return etree.XMLSchema(etree.parse(str(DATA / "prov-xsd" / "prov.xsd")))


@pytest.mark.parametrize("case", CASES)
def test_prov_xml_is_valid_against_the_w3c_schema_and_equals_prov_n_and_json(
    store: SQLiteStore, cases: dict[str, str], prov_schema: object, tmp_path: Path, case: str
) -> None:
    from lxml import etree

    texts = {fmt: export_run(store, cases[case], format=fmt) for fmt in ("prov-xml", "prov-n")}
    texts["prov-json"] = export_run(store, cases[case], format="prov-json")
    document = etree.fromstring(str(texts["prov-xml"]).encode())
    valid = prov_schema.validate(document)  # type: ignore[attr-defined]
    errors = [f"{e.line}: {e.message}" for e in prov_schema.error_log]  # type: ignore[attr-defined]
    assert not errors, f"{len(errors)} schema errors, first: {errors[:3]}"
    assert valid
    docs = {
        fmt: ProvDocument.deserialize(content=str(text), format=kind)
        for (fmt, text), kind in zip(texts.items(), ("xml", "provn", "json"), strict=True)
    }
    assert docs["prov-xml"] == docs["prov-json"]
    assert docs["prov-n"] == docs["prov-json"]
    assert len(docs["prov-json"].get_records()) > 10


def test_control_characters_become_visible_pictures_in_every_export(
    store: SQLiteStore, cases: dict[str, str], tmp_path: Path
) -> None:
    run_id = cases["control"]
    prov = json.loads(str(export_run(store, run_id, format="prov-json")))
    strings = list(walk_strings(prov))
    assert not any(c in s for s in strings for c in "\x00\x07\x0b\x0c\x1b")
    assert any("\u241b[31mred\u241b[0m bell\u2407 nul\u2400" in s for s in strings)
    crate = tmp_path / "crate"
    export_run(store, run_id, format="rocrate", output=crate)
    # JSON escapes control characters itself: the crate keeps the rationale exactly.
    metadata = json.loads((crate / "ro-crate-metadata.json").read_text())
    assert any(CONTROL in s for s in walk_strings(metadata))
    for fmt in ("svg", "dot", "mermaid"):
        text = str(export_run(store, run_id, format=fmt))
        assert not any(c in text for c in "\x00\x07\x1b"), fmt
