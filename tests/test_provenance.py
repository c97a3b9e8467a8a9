"""Provenance export, checked by loading every export back with the reference libraries
(``prov``, ``rocrate``) and comparing what they see with what the store holds."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from blake3 import blake3
from prov.constants import PROV_ROLE, PROV_TYPE
from prov.identifier import QualifiedName
from prov.model import (
    ProvActivity,
    ProvAgent,
    ProvAssociation,
    ProvCommunication,
    ProvDerivation,
    ProvDocument,
    ProvEntity,
    ProvGeneration,
    ProvInfluence,
    ProvRecord,
    ProvSpecialization,
    ProvUsage,
)
from rocrate.rocrate import ROCrate

import reprolam
from reprolam.errors import ConfigError, NotFoundError
from reprolam.provenance import ExportError, export_run
from reprolam.trace.records import StepKind
from reprolam.trace.sqlite import SQLiteStore
from test_provenance_scenarios import fork_run, troubled_run

NS = "https://reprolam.dev/ns#"
STEP = "urn:reprolam:step-"
ART = "urn:reprolam:artifact-"
OUT = "urn:reprolam:output-"
RUN = "urn:reprolam:run-"
PLANNER = "urn:reprolam:planner-"
STEP_TYPES = {
    StepKind.ACTION: "ActionStep",
    StepKind.REJECTION: "RejectedProposal",
    StepKind.DECISION: "PlannerDecision",
}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SQLiteStore]:
    trace = SQLiteStore(tmp_path_factory.mktemp("prov") / "store")
    yield trace
    trace.close()


@pytest.fixture(scope="module")
def runs(store: SQLiteStore) -> dict[str, str]:
    bc = reprolam.run("breast-cancer", store=store, seed=0, planner="rules")
    troubled = troubled_run(store)
    return {"bc": bc.id, "troubled": troubled, "fork": fork_run(store, troubled, at=4)}


# -- helpers ----------------------------------------------------------------------------------


def uri(value: Any) -> str:
    return value.uri if isinstance(value, QualifiedName) else str(value)


def records(
    doc: ProvDocument, cls: type[ProvRecord]
) -> list[tuple[dict[str, str], dict[str, set[str]]]]:
    """(formal attributes by local name -> uri, extra attributes by uri -> values) per record."""
    found = []
    for rec in doc.get_records(cls):
        formal = {k.localpart: uri(v) for k, v in rec.formal_attributes if v is not None}
        if rec.identifier is not None:
            formal["id"] = uri(rec.identifier)
        extra: dict[str, set[str]] = {}
        for k, v in rec.extra_attributes:
            extra.setdefault(uri(k), set()).add(uri(v))
        found.append((formal, extra))
    return found


def typed(doc: ProvDocument, cls: type[ProvRecord], type_: str) -> dict[str, dict[str, set[str]]]:
    return {
        f["id"]: extra
        for f, extra in records(doc, cls)
        if NS + type_ in extra.get(PROV_TYPE.uri, set())
    }


def load_prov(path: Path, fmt: str) -> ProvDocument:
    return ProvDocument.deserialize(str(path), format=fmt)


def expected_artifacts(store: SQLiteStore, run_id: str) -> set[str]:
    keys = {d for s in store.steps(run_id) for d in [*s.inputs.values(), *s.outputs.values()]}
    run = store.get_run(run_id)
    while True:  # environments of the run and of every fork ancestor
        keys.add(run.environment or "")
        if run.parent_id is None:
            return keys - {""}
        run = store.get_run(run.parent_id)


# -- PROV -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["bc", "troubled", "fork"])
def test_prov_json_holds_every_step_artifact_and_edge(
    store: SQLiteStore, runs: dict[str, str], tmp_path: Path, name: str
) -> None:
    run_id = runs[name]
    path = export_run(store, run_id, format="prov-json", output=tmp_path / "run.json")
    doc = load_prov(Path(path), "json")
    steps = store.steps(run_id)

    activities = {f["id"]: extra for f, extra in records(doc, ProvActivity)}
    for step in steps:
        extra = activities[f"{STEP}{step.run_id}.{step.index}"]
        assert NS + STEP_TYPES[step.kind] in extra[PROV_TYPE.uri]
        assert extra[NS + "status"] == {step.status.value}
        if step.hash:
            assert extra[NS + "hash"] == {step.hash}
    step_activities = sum(len(typed(doc, ProvActivity, t)) for t in STEP_TYPES.values())
    assert step_activities == len(steps)

    outputs = typed(doc, ProvEntity, "Output")
    artifacts = {k: v for k, v in typed(doc, ProvEntity, "Artifact").items() if k not in outputs}
    assert set(artifacts) == {ART + d for d in expected_artifacts(store, run_id)}
    for key, extra in artifacts.items():
        record = store.get_artifact_record(key.removeprefix(ART))
        assert extra[NS + "digest"] == {record.digest}
        assert extra[NS + "codec"] == {record.codec}
        assert extra[NS + "size"] == {str(record.size)}

    used = {(f["activity"], f["entity"], *x[PROV_ROLE.uri]) for f, x in records(doc, ProvUsage)}
    made = {
        (f["activity"], f["entity"], *x[PROV_ROLE.uri]) for f, x in records(doc, ProvGeneration)
    }
    derived = {(f["generatedEntity"], f["usedEntity"]) for f, _ in records(doc, ProvDerivation)}
    special = {
        (f["specificEntity"], f["generalEntity"]) for f, _ in records(doc, ProvSpecialization)
    }
    generated = [f["entity"] for f, _ in records(doc, ProvGeneration)]
    assert len(generated) == len(set(generated)), "PROV-CONSTRAINTS: one generation per entity"
    latest: dict[str, str] = {}  # digest -> its latest generation's entity
    for step in steps:
        sid = f"{STEP}{step.run_id}.{step.index}"
        read = set()
        for input_name, key in step.inputs.items():
            entity = latest.get(key, ART + key)
            read.add(entity)
            assert (sid, entity, input_name) in used
        for output_name, key in step.outputs.items():
            oid = f"{OUT}{step.run_id}.{step.index}.{output_name}"
            assert (sid, oid, output_name) in made
            assert (oid, ART + key) in special
            assert outputs[oid][NS + "digest"] == {key}
            for source in read:
                assert (oid, source) in derived
            latest[key] = oid

    informed = records(doc, ProvCommunication)
    nexts = [f for f, x in informed if NS + "NextStep" in x[PROV_TYPE.uri]]
    assert len(nexts) == len(steps) - 1
    data = {
        (f["informed"], f["informant"])
        for f, x in informed
        if NS + "DataDependency" in x[PROV_TYPE.uri]
    }
    producers = {key: s for s in steps for key in s.outputs.values()}  # unique in these runs
    for step in steps:
        for key in step.inputs.values():
            p = producers[key]
            assert (f"{STEP}{step.run_id}.{step.index}", f"{STEP}{p.run_id}.{p.index}") in data
    run = store.get_run(run_id)
    assert f"{RUN}{run.id}" in activities
    associations = {(f["activity"], f.get("agent")) for f, _ in records(doc, ProvAssociation)}
    assert (f"{RUN}{run.id}", f"{PLANNER}{run.id}") in associations


def test_prov_keeps_failures_rejections_decisions_and_recovery(
    store: SQLiteStore, runs: dict[str, str], tmp_path: Path
) -> None:
    run_id = runs["troubled"]
    doc = load_prov(
        Path(export_run(store, run_id, format="prov-json", output=tmp_path / "t.json")), "json"
    )
    sid = f"{STEP}{run_id}."
    assert set(typed(doc, ProvActivity, "PlannerDecision")) == {sid + "0"}
    assert set(typed(doc, ProvActivity, "RejectedProposal")) == {sid + "1", sid + "2"}
    failed = typed(doc, ProvActivity, "ActionStep")[sid + "4"]
    assert failed[NS + "status"] == {"failed"}
    assert failed[NS + "errorType"] == {"ValueError"}
    assert failed[NS + "errorMessage"] == {"unlucky scale 13"}
    rejected = typed(doc, ProvActivity, "RejectedProposal")[sid + "1"]
    assert "unknown action 'nope'" in next(iter(rejected[NS + "errorMessage"]))
    recoveries = [
        (f["influencee"], f["influencer"])
        for f, x in records(doc, ProvInfluence)
        if NS + "Recovery" in x[PROV_TYPE.uri]
    ]
    assert recoveries == [(sid + "5", sid + "4")]
    assert typed(doc, ProvActivity, "Recovery").keys() == {sid + "5"}
    planner = typed(doc, ProvAgent, "Planner")[f"{PLANNER}{run_id}"]
    assert "http://www.w3.org/ns/prov#SoftwareAgent" in planner[PROV_TYPE.uri]
    assert NS + "LLMPlanner" in planner[PROV_TYPE.uri]
    assert json.loads(next(iter(planner[NS + "config"])))["model"] == "test-model"


def test_prov_fork_points_at_its_parent_and_the_steps_it_inherits(
    store: SQLiteStore, runs: dict[str, str]
) -> None:
    fork, parent = runs["fork"], runs["troubled"]
    doc = ProvDocument.deserialize(
        content=export_run(store, fork, format="prov-json"), format="json"
    )
    influences = records(doc, ProvInfluence)
    forks = [
        (f["influencee"], f["influencer"], x[NS + "forkIndex"])
        for f, x in influences
        if NS + "Fork" in x[PROV_TYPE.uri]
    ]
    assert forks == [(RUN + fork, RUN + parent, {"4"})]
    inherited = {f["influencer"] for f, x in influences if NS + "InheritedStep" in x[PROV_TYPE.uri]}
    assert inherited == {f"{STEP}{parent}.{i}" for i in range(4)}
    activities = {f["id"] for f, _ in records(doc, ProvActivity)}
    assert {RUN + fork, RUN + parent} <= activities
    assert f"{STEP}{fork}.4" in activities
    assert f"{STEP}{parent}.4" not in activities


def test_prov_says_which_step_a_reused_step_took_its_outputs_from(store: SQLiteStore) -> None:
    """A step --reuse took from the store executed nothing: PROV told it as an execution by
    the host under its action, with nothing to say that another run's step had computed its
    outputs but a cache note inside the proposal's JSON text."""
    first = reprolam.run("breast-cancer", store=store, seed=5, planner="rules").id
    again = reprolam.run("breast-cancer", store=store, seed=5, planner="rules", reuse=True).id
    assert all(s.reused for s in store.steps(again))
    doc = ProvDocument.deserialize(
        content=export_run(store, again, format="prov-json"), format="json"
    )
    reuses = {
        (f["influencee"], f["influencer"])
        for f, x in records(doc, ProvInfluence)
        if NS + "Reuse" in x[PROV_TYPE.uri]
    }
    steps = range(len(store.steps(again)))
    assert reuses == {(f"{STEP}{again}.{i}", f"{STEP}{first}.{i}") for i in steps}
    activities = typed(doc, ProvActivity, "ActionStep")
    assert {i: activities[f"{STEP}{again}.{i}"][NS + "reusedFrom"] for i in steps} == {
        i: {f"{first}.{i}"} for i in steps
    }


def test_prov_n_and_prov_xml_are_the_same_document(
    store: SQLiteStore, runs: dict[str, str], tmp_path: Path
) -> None:
    run_id = runs["troubled"]
    as_json = load_prov(
        Path(export_run(store, run_id, format="prov-json", output=tmp_path / "a.json")), "json"
    )
    provn = tmp_path / "a.provn"
    export_run(store, run_id, format="prov-n", output=provn)
    assert provn.read_text().startswith("document\n")
    assert load_prov(provn, "provn") == as_json
    pytest.importorskip("lxml", reason="PROV-XML needs lxml (prov[xml])")
    xml = tmp_path / "a.xml"
    export_run(store, run_id, format="prov-xml", output=xml)
    assert load_prov(xml, "xml") == as_json


# -- RO-Crate ---------------------------------------------------------------------------------


def crate_entities(crate: ROCrate) -> dict[str, Any]:
    return {e.id: e for e in crate.get_entities()}


def ids(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value] if value is not None else []
    return [item.id for item in items]


@pytest.mark.parametrize("suffix", ["", ".zip"])
def test_rocrate_has_one_action_per_step_with_inputs_outputs_and_status(
    store: SQLiteStore, runs: dict[str, str], tmp_path: Path, suffix: str
) -> None:
    run_id = runs["troubled"]
    out = tmp_path / f"crate{suffix}"
    assert export_run(store, run_id, format="rocrate", output=out) == out.absolute()
    crate = ROCrate(str(out))
    entities = crate_entities(crate)
    workflow = crate.mainEntity
    assert {"ComputationalWorkflow", "HowTo"} <= set(workflow.type)
    assert {t["name"] for t in workflow["hasPart"]} == {"make_data", "add_up", "report"}
    assert all(h.type == "HowToStep" and h["workExample"] for h in workflow["step"])
    profiles = {p.id for p in crate.root_dataset["conformsTo"]}
    assert "https://w3id.org/ro/wfrun/provenance/0.5" in profiles
    files = {e.id: e for e in crate.data_entities}
    source = Path(crate.source)
    assert (source / "ro-crate-preview.html").is_file()

    def artifact(key: str) -> str:
        (found,) = [
            i
            for i, e in entities.items()
            if e.get("reprolam:digest") == key and i != "environment.json"
        ]
        return found

    steps = store.steps(run_id)
    for step in steps:
        action = entities[f"#step/{run_id}/{step.index}"]
        if step.kind is StepKind.ACTION:
            assert action.type == "CreateAction"
            assert action["instrument"]["name"] == step.action
            assert sorted(i for i in ids(action["object"]) if not i.startswith("#pv/")) == sorted(
                artifact(k) for k in step.inputs.values()
            )
            assert sorted(ids(action.get("result"))) == sorted(
                artifact(k) for k in step.outputs.values()
            )
            control = entities[f"#control/{run_id}/{step.index}"]
            assert control["object"].id == action.id
            assert control["instrument"].type == "HowToStep"
        else:
            assert action.type == "ChooseAction"
            assert action["reprolam:kind"] == step.kind.value
        assert action["startTime"]
        ok = step.status.value == "succeeded"
        assert action["actionStatus"] == (
            "http://schema.org/CompletedActionStatus"
            if ok
            else "http://schema.org/FailedActionStatus"
        )
        if not ok:
            assert step.error is not None
            assert step.error.message in action["error"]
    assert entities[f"#step/{run_id}/5"]["reprolam:recovers"].id == f"#step/{run_id}/4"
    organize = next(e for e in entities.values() if e.type == "OrganizeAction")
    assert len(ids(organize["object"])) == sum(s.kind is StepKind.ACTION for s in steps)
    assert organize["result"].id == f"#run/{run_id}"
    run_action = entities[f"#run/{run_id}"]
    assert run_action["instrument"].id == workflow.id
    assert crate.root_dataset["mentions"][0].id == run_action.id
    for file_id, entity in files.items():  # every included file holds exactly its digest's bytes
        key = entity.get("reprolam:digest")
        if key:
            assert blake3((source / file_id).read_bytes()).hexdigest() == key
    env = run_action["reprolam:environment"]
    assert env.id == "environment.json"
    assert json.loads((source / "environment.json").read_text())["workflow"]["name"] == "troubled"


def test_rocrate_references_large_artifacts_by_digest_and_marks_forks(
    store: SQLiteStore, runs: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "bc"
    export_run(store, runs["bc"], format="rocrate", output=out, max_file_bytes=3000)
    crate = ROCrate(str(out))
    entities = crate_entities(crate)
    for step in store.steps(runs["bc"]):
        for key in step.outputs.values():
            size = store.get_artifact_record(key).size
            if size > 3000:
                assert f"#artifact/{key}" in entities
                assert not list(out.glob(f"artifacts/{key}*"))
            else:
                assert len(list(out.glob(f"artifacts/{key}.*"))) == 1
    fork, parent = runs["fork"], runs["troubled"]
    out = tmp_path / "fork.zip"
    export_run(store, fork, format="rocrate", output=out)
    entities = crate_entities(ROCrate(str(out)))
    run_action = entities[f"#run/{fork}"]
    assert run_action["reprolam:forkOf"].id == f"#run/{parent}"
    assert run_action["reprolam:forkIndex"] == 4
    assert entities[f"#step/{parent}/3"]["reprolam:inherited"] is True
    assert f"#step/{fork}/4" in entities
    assert f"#step/{parent}/4" not in entities


# -- secrets, errors, atomic writes -----------------------------------------------------------


def test_no_secret_reaches_any_exported_byte(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "sk-test-SECRET"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    with SQLiteStore(tmp_path / "store") as trace:
        # The api_key in the planner config breaks the planner contract on purpose: the
        # export must redact it anyway.
        run_id = troubled_run(trace, config={"name": "llm", "api_key": secret, "model": "m"})
        out = tmp_path / "out"
        out.mkdir()
        for fmt in ("prov-json", "prov-n", "prov-xml", "dot", "svg", "mermaid"):
            if fmt == "prov-xml":
                pytest.importorskip("lxml")
            export_run(trace, run_id, format=fmt, output=out / f"run.{fmt}")
        export_run(trace, run_id, format="rocrate", output=out / "crate")
        export_run(trace, run_id, format="rocrate", output=out / "crate.zip")
    with zipfile.ZipFile(out / "crate.zip") as zf:
        zf.extractall(out / "unzipped")
    scanned = [p for p in out.rglob("*") if p.is_file() and p.suffix != ".zip"]
    assert len(scanned) > 10
    for path in scanned:
        assert secret.encode() not in path.read_bytes(), path
    assert "<redacted>" in (out / "run.prov-json").read_text()


def test_missing_library_says_how_to_install(
    store: SQLiteStore, runs: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(__import__("sys").modules, "rocrate", None)
    with pytest.raises(ConfigError, match=r"pip install 'reprolam\[provenance\]'"):
        export_run(store, runs["bc"], format="rocrate", output="x.zip")


@pytest.mark.parametrize(
    ("format", "package", "old"), [("rocrate", "rocrate", "0.14.0"), ("prov-n", "prov", "2.1.0")]
)
def test_a_library_too_old_says_which_version_is_needed(
    store: SQLiteStore,
    runs: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    format: str,
    package: str,
    old: str,
) -> None:
    """rocrate before 0.15 takes no ROCrate(version=...): an export (or an import) with it
    installed, which the extra's old floor rocrate>=0.10 allowed, was a TypeError traceback;
    prov before 2.1.1 wrote PROV-N that does not parse back."""
    import importlib.metadata

    real = importlib.metadata.version
    monkeypatch.setattr(
        importlib.metadata, "version", lambda name: old if name == package else real(name)
    )
    out = tmp_path / "out"
    with pytest.raises(ConfigError, match=rf"needs {package} .* {old} is installed: pip install"):
        export_run(store, runs["bc"], format=format, output=out)
    assert not out.exists()


def test_unknown_run_and_bad_paths_leave_nothing_behind(
    store: SQLiteStore, runs: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(NotFoundError, match="no run with id or prefix 'zzz'"):
        export_run(store, "zzz", format="svg", output=tmp_path / "a.svg")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ExportError, match="is a file, not a directory"):
        export_run(store, runs["bc"], format="prov-json", output=blocker / "a.json")
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep").write_text("x")
    with pytest.raises(ExportError, match="not an empty directory"):
        export_run(store, runs["bc"], format="rocrate", output=full)

    from reprolam.provenance import _rocrate

    def explode(self: Any) -> None:
        raise RuntimeError("boom half way")

    monkeypatch.setattr(_rocrate._Builder, "build", explode)
    with pytest.raises(RuntimeError, match="boom"):
        export_run(store, runs["bc"], format="rocrate", output=tmp_path / "c.zip")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "full"]
    assert [p.name for p in full.iterdir()] == ["keep"]
