"""Exports of the runs the other validator cases do not cover, against the community's
validators, and crates that round-trip exactly.

Cases: a failed run, a fork of a fork, a sweep point, a reproduction, a run with an input
file, non-ASCII workflow, action, output and param names and a 20,000-item param, and a
hand-built run (``ManualRun``: a failure and its recovery) with a fork of it. Each exports
to PROV-XML valid against the W3C schema, PROV-N and PROV-JSON that the ``prov`` library
reads back as the same document (and can flatten and unify), an RO-Crate passing
``rocrate-validator`` for every profile it claims, and a crate that imports into an empty
store as the very same records (run and steps) and audits clean.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prov.model import ProvDocument

import reprolam
from provenance_cases import DATA, seed_http_cache, validate_crate
from reprolam import ManualRun, action, execute, workflow
from reprolam.engine.policy import Policy
from reprolam.history.audit import audit
from reprolam.history.fork import fork
from reprolam.history.reproduce import reproduce
from reprolam.provenance import export_run, import_crate
from reprolam.trace.sqlite import SQLiteStore

CASES = (
    "failed",
    "fork_of_fork",
    "sweep_point",
    "reproduction",
    "inputs_unicode_huge",
    "manual",
    "manual_fork",
)


def load(path: str) -> list[int]:
    return [1, 2, 3]


def train(data: list[int], lr: float) -> dict[str, float]:
    if lr > 1:
        raise RuntimeError("instabilité numérique ☃")
    return {"weights": sum(data) * lr}


@action(outputs=["rows"])
def count_rows(table: Path) -> int:
    return len(table.read_text().splitlines())


@action(outputs=["größe"])
def große_zahl(  # noqa: PLC2401 - non-ASCII names are the case
    rows: int,
    *,
    étiquette: str = "défaut",  # noqa: PLC2401
    big: list[int] | None = None,
) -> Any:
    return {"n": rows, "étiquette": étiquette, "len": len(big or [])}


FLOW = workflow("données ✓", [count_rows, große_zahl], outputs=["größe"], inputs=["table"])


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SQLiteStore]:
    trace = SQLiteStore(tmp_path_factory.mktemp("adv2-exports") / "store")
    yield trace
    trace.close()


@pytest.fixture(scope="module")
def cases(store: SQLiteStore, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    plain = reprolam.run("breast-cancer", store=store, planner="rules")
    doomed = Policy(max_failures=1, faults={"train_model": 1.0})
    failed = reprolam.run("breast-cancer", store=store, seed=2, planner="rules", policy=doomed)
    assert failed.run.status.value == "failed"
    first = fork(store, plain.id, at="train_model", overrides={"train_model": {"C": 0.5}})
    second = fork(store, first.id, at="evaluate_model")
    sweep = reprolam.sweep(plain.id, store=store, at="train_model", grid={"train_model.C": [0.1]})
    reproduction = reproduce(store, plain.id).reproduction
    assert reproduction is not None
    table = tmp_path_factory.mktemp("inputs") / "tâble.csv"
    table.write_text("a,b\n1,2\n3,4\n")
    params = {"große_zahl.étiquette": "naïve ☃ 日本", "große_zahl.big": list(range(20_000))}
    inputs = reprolam.run(FLOW, store=store, planner="script", inputs={"table": table}, set=params)
    assert inputs.succeeded
    manual = ManualRun(store)
    manual.record(execute(load, inputs={"path": "data.csv"}), label="A1")
    manual.record(
        execute(train, inputs={"data": manual.value("A1")}, params={"lr": 10.0}), label="A2"
    )
    manual.record(
        execute(train, inputs={"data": manual.value("A1")}, params={"lr": 0.1}),
        label="A3",
        recovers="A2",
    )
    branch = manual.fork("A2")
    branch.record(execute(train, inputs={"data": branch.value("A1")}, params={"lr": 0.5}))
    return {
        "failed": failed.id,
        "fork_of_fork": second.id,
        "sweep_point": sweep.points[0].run.id,
        "reproduction": reproduction.id,
        "inputs_unicode_huge": inputs.id,
        "manual": manual.id or "",
        "manual_fork": branch.id or "",
    }


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES)
def test_prov_reads_back_as_one_document(
    store: SQLiteStore, cases: dict[str, str], case: str
) -> None:
    from lxml import etree

    schema = etree.XMLSchema(etree.parse(str(DATA / "prov-xsd" / "prov.xsd")))
    texts = {f: str(export_run(store, cases[case], format=f)) for f in ("prov-xml", "prov-n")}
    texts["prov-json"] = str(export_run(store, cases[case], format="prov-json"))
    assert schema.validate(etree.fromstring(texts["prov-xml"].encode())), schema.error_log
    docs = {
        fmt: ProvDocument.deserialize(content=text, format=kind)
        for (fmt, text), kind in zip(texts.items(), ("xml", "provn", "json"), strict=True)
    }
    assert docs["prov-xml"] == docs["prov-json"] == docs["prov-n"]
    assert docs["prov-json"].flattened().unified().get_records()


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES)
def test_crates_pass_the_validator_and_round_trip_exactly(
    store: SQLiteStore, cases: dict[str, str], tmp_path: Path, case: str
) -> None:
    pytest.importorskip("rocrate_validator", reason="pip install 'reprolam[dev]'")
    cache = tmp_path / "http-cache"
    seed_http_cache(cache)
    crate = tmp_path / "crate"
    run_id = cases[case]
    export_run(store, run_id, format="rocrate", output=crate)
    issues, misses, _ran = validate_crate(crate, "provenance-run-crate-0.5", cache)
    assert not misses
    assert not issues, "\n".join(issues)
    assert json.loads((crate / "ro-crate-metadata.json").read_text())["@graph"]
    with SQLiteStore(tmp_path / "imported") as fresh:
        import_crate(fresh, crate)
        assert fresh.get_run(run_id).to_dict() == store.get_run(run_id).to_dict()
        assert [s.to_dict() for s in fresh.steps(run_id)] == [
            s.to_dict() for s in store.steps(run_id)
        ]
        assert audit(fresh, run_id).clean
