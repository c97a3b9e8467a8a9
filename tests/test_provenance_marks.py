"""What an outside reader must see in every export: a reproduction's verdict, the params a
fork changed, the params a failed step ran with, the workflow's order, the license; pictures
of a run with many retries stay readable; exports never replace what is not a regular file.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from provenance_cases import build_cases
from reprolam import Engine, Proposal, workflow
from reprolam.cli.main import cli
from reprolam.engine.policy import Policy
from reprolam.errors import ConfigError
from reprolam.history.reproduce import reproduce
from reprolam.history.verdict import verdict_of
from reprolam.provenance import ExportError, export_run
from reprolam.trace.sqlite import SQLiteStore
from test_provenance_scenarios import FLOW, Scripted, add_up, make_data, report

PICTURES = ("svg", "dot", "mermaid")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SQLiteStore]:
    trace = SQLiteStore(tmp_path_factory.mktemp("marks") / "store")
    yield trace
    trace.close()


@pytest.fixture(scope="module")
def cases(store: SQLiteStore) -> dict[str, str]:
    return build_cases(store)


def crate_graph(store: SQLiteStore, run_id: str, out: Path, **options: Any) -> dict[str, Any]:
    export_run(store, run_id, format="rocrate", output=out, **options)
    graph = json.loads((out / "ro-crate-metadata.json").read_text())["@graph"]
    return {e["@id"]: e for e in graph}


def prov_run(store: SQLiteStore, run_id: str) -> dict[str, Any]:
    doc = json.loads(str(export_run(store, run_id, format="prov-json")))
    return dict(doc["activity"][f"id:run-{run_id}"])


# -- reproductions --------------------------------------------------------------------------------


def test_verdict_of_compares_a_reproduction_with_its_original(
    store: SQLiteStore, cases: dict[str, str]
) -> None:
    plain = store.get_run(cases["plain"])
    assert verdict_of(store, plain) is None  # not a reproduction
    again = reproduce(store, plain.id)
    assert again.reproduction is not None
    assert verdict_of(store, again.reproduction) == "identical"
    diverged = store.get_run(cases["diverged"])
    assert verdict_of(store, diverged) == "diverged"
    assert verdict_of(store, diverged, rtol=1e-6) == "within-tolerance"


def test_a_diverged_reproduction_says_so_in_crate_prov_and_pictures(
    store: SQLiteStore, cases: dict[str, str], tmp_path: Path
) -> None:
    run_id = cases["diverged"]
    original = store.get_run(run_id).verifies
    assert store.get_run(run_id).verdict == "diverged"  # recorded by reproduce
    entities = crate_graph(store, run_id, tmp_path / "crate")
    assert entities[f"#run/{run_id}"]["reprolam:verdict"] == "diverged"
    assert f"reproduction of run {original}: diverged" in entities["./"]["description"]
    assert prov_run(store, run_id)["reprolam:verdict"] == "diverged"
    for fmt in PICTURES:
        text = str(export_run(store, run_id, format=fmt))
        assert f"reproduction of {original}: diverged" in text, fmt


# -- forks and failures ---------------------------------------------------------------------------


def test_a_fork_shows_the_params_it_changed(
    store: SQLiteStore, cases: dict[str, str], tmp_path: Path
) -> None:
    run_id = cases["fork"]
    entities = crate_graph(store, run_id, tmp_path / "crate")
    changed = entities[f"#pv/{run_id}/3/C"]
    assert changed["value"] == 0.5
    assert changed["reprolam:changedByFork"] is True
    assert "reprolam:changedByFork" not in entities[f"#pv/{run_id}/3/max_iter"]
    assert "changed: train_model.C=0.5" in entities["./"]["description"]
    doc = json.loads(str(export_run(store, run_id, format="prov-json")))
    assert doc["activity"][f"id:step-{run_id}.3"]["reprolam:changedParams"] == "C"
    for fmt in PICTURES:
        text = str(export_run(store, run_id, format=fmt))
        assert "changed train_model.C=0.5" in text, fmt
        assert "C=0.5*" in text, fmt  # on the step itself


def test_a_failed_step_shows_the_params_it_ran_with(
    store: SQLiteStore, cases: dict[str, str], tmp_path: Path
) -> None:
    run_id = cases["rejections"]  # step 4: add_up(scale=13) failed
    for fmt in PICTURES:
        text = str(export_run(store, run_id, format=fmt))
        assert "ValueError: unlucky scale 13 · scale=13" in text, fmt
    entities = crate_graph(store, run_id, tmp_path / "crate")
    failed = entities[f"#step/{run_id}/4"]
    assert failed["actionStatus"] == "http://schema.org/FailedActionStatus"
    assert "params: scale=13" in failed["description"]
    assert entities[f"#pv/{run_id}/4/scale"]["value"] == 13
    assert "result" not in failed  # nothing produced: no empty result


# -- workflow order, license ----------------------------------------------------------------------


def test_howto_positions_follow_the_workflows_declared_order(
    store: SQLiteStore, cases: dict[str, str], tmp_path: Path
) -> None:
    entities = crate_graph(store, cases["plain"], tmp_path / "crate")
    positions = {
        e["workExample"]["@id"].split(":")[3]: e["position"]
        for e in entities.values()
        if e.get("@type") == "HowToStep"
    }
    declared = ["load_dataset", "analyze_data", "preprocess_data", "train_model"]
    assert sorted(positions, key=positions.__getitem__) == [*declared, "evaluate_model"]
    assert positions["load_dataset"] == 0


def test_license_is_the_users_else_the_workflows_else_cc_by_with_a_note(
    store: SQLiteStore, cases: dict[str, str], tmp_path: Path
) -> None:
    default = crate_graph(store, cases["plain"], tmp_path / "a")
    license_ = default[default["./"]["license"]["@id"]]
    assert license_["name"] == "CC-BY-4.0"
    assert "declares no license" in license_["description"]
    chosen = crate_graph(store, cases["plain"], tmp_path / "b", license="CC0-1.0")
    assert chosen["./"]["license"]["@id"] == "https://spdx.org/licenses/CC0-1.0"
    licensed = workflow("licensed", [make_data, add_up, report], outputs=["report"], license="MIT")
    planner = Scripted([Proposal("make_data"), Proposal("add_up"), Proposal("report")], {})
    run_id = Engine(store).run(licensed, planner=planner).id
    declared = crate_graph(store, run_id, tmp_path / "c")
    assert declared["./"]["license"]["@id"] == "https://spdx.org/licenses/MIT"
    assert (
        "declared by workflow licensed" in declared[declared["./"]["license"]["@id"]]["description"]
    )


@pytest.mark.parametrize("license_", ["my license", "<b>MIT</b>", "https://example.org/a b"])
def test_a_license_that_is_neither_an_spdx_id_nor_a_url_is_refused(
    store: SQLiteStore, cases: dict[str, str], tmp_path: Path, license_: str
) -> None:
    """It made the license @id 'https://spdx.org/licenses/my license', no IRI:
    rocrate-validator then failed the crate (the root has no license)."""
    out = tmp_path / "crate.zip"
    args = ["--store", str(store.location), "export", cases["plain"], "--format", "rocrate"]
    result = CliRunner().invoke(cli, [*args, "-o", str(out), "--license", license_])
    assert result.exit_code == 2, result.output
    assert f"license {license_!r} is neither an SPDX license id" in result.output
    assert "--license SPDX_OR_URL" in result.output
    assert not out.exists()
    licensed = workflow(
        "badly-licensed", [make_data, add_up, report], outputs=["report"], license=license_
    )
    planner = Scripted([Proposal("make_data"), Proposal("add_up"), Proposal("report")], {})
    run_id = Engine(store).run(licensed, planner=planner).id
    with pytest.raises(ConfigError, match="the license workflow badly-licensed declares"):
        export_run(store, run_id, format="rocrate", output=tmp_path / "declared.zip")
    chosen = crate_graph(store, run_id, tmp_path / "chosen", license="CC0-1.0")  # overrides it
    assert chosen["./"]["license"]["@id"] == "https://spdx.org/licenses/CC0-1.0"


@pytest.mark.parametrize("license_", ["", " "])
def test_an_empty_license_is_refused_not_replaced_by_the_default(
    store: SQLiteStore, cases: dict[str, str], tmp_path: Path, license_: str
) -> None:
    """--license '' wrote a crate under the default CC-BY-4.0, described as chosen because
    none was: a crate must name a license (RO-Crate), so an empty one is bad input."""
    out = tmp_path / "crate.zip"
    args = ["--store", str(store.location), "export", cases["plain"], "--format", "rocrate"]
    result = CliRunner().invoke(cli, [*args, "-o", str(out), "--license", license_])
    assert result.exit_code == 2, result.output
    assert f"error: license {license_!r} is neither an SPDX license id" in result.output
    assert not out.exists()
    with pytest.raises(ConfigError, match="is neither an SPDX license id"):
        export_run(store, cases["plain"], format="rocrate", output=out, license=license_)
    assert not out.exists()


# -- many retries ---------------------------------------------------------------------------------


def test_a_fifty_step_run_with_retries_draws_each_run_of_retries_as_one_node(
    tmp_path: Path,
) -> None:
    decisions = [Proposal("make_data", params={"n": 3})]
    for _ in range(4):  # 4 x (11 failed attempts + the recovery)
        decisions += [Proposal("add_up", params={"scale": 13}) for _ in range(11)]
        decisions.append(Proposal("add_up", params={"scale": 2}, recovers=len(decisions) - 1))
    decisions.append(Proposal("report"))
    with SQLiteStore(tmp_path / "store") as trace:
        policy = Policy(max_steps=100, max_failures=100)
        result = Engine(trace).run(FLOW, planner=Scripted(decisions, {}), policy=policy)
        assert len(result.steps) == 50
        dot = str(export_run(trace, result.id, format="dot"))
        mermaid = str(export_run(trace, result.id, format="mermaid"))
        svg = str(export_run(trace, result.id, format="svg"))
    step_nodes = re.findall(r'^  (s\d+) \[id="step-', dot, re.M)
    assert len(step_nodes) == 1 + 4 * 2 + 1  # make_data, 4 x (retries, recovery), report
    assert dot.count("add_up failed ×11") == 4
    assert "last: ValueError: unlucky scale 13 · scale=13" in dot
    mermaid_steps = re.findall(r'^  (s\d+)\["', mermaid, re.M)
    assert len(mermaid_steps) == len(step_nodes)
    assert mermaid.count("add_up failed ×11") == 4
    assert svg.count('class="step ') >= 50  # the SVG keeps every step (it has room)


# -- where exports are written --------------------------------------------------------------------


def test_exports_replace_only_regular_files(
    store: SQLiteStore, cases: dict[str, str], tmp_path: Path
) -> None:
    run_id = cases["plain"]
    target = tmp_path / "target.txt"
    target.write_text("keep me")
    link = tmp_path / "link.dot"
    link.symlink_to(target)
    with pytest.raises(ExportError, match="symbolic link"):
        export_run(store, run_id, format="dot", output=link)
    assert target.read_text() == "keep me"
    with pytest.raises(ExportError, match="not a regular file"):
        export_run(store, run_id, format="dot", output=os.devnull)
    regular = tmp_path / "run.dot"
    regular.write_text("old")
    export_run(store, run_id, format="dot", output=regular)
    assert regular.read_text().startswith("digraph")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp left


def test_an_export_named_with_the_longest_file_name_is_written(
    store: SQLiteStore, cases: dict[str, str], tmp_path: Path
) -> None:
    """Its temporary name (the name plus 14 bytes) went past the file system's limit: an
    'OSError: File name too long' traceback."""
    target = tmp_path / ("e" * 251 + ".dot")
    export_run(store, cases["plain"], format="dot", output=target)
    assert target.read_text().startswith("digraph")


def test_cli_dash_writes_stdout_and_devices_are_refused(
    store: SQLiteStore, cases: dict[str, str]
) -> None:
    args = ["--store", str(store.location), "export", cases["plain"], "--format", "mermaid"]
    result = CliRunner().invoke(cli, [*args, "-o", "-"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("---\ntitle:")
    result = CliRunner().invoke(cli, [*args, "-o", "/dev/stdout"])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: refusing to write export to")
    result = CliRunner().invoke(cli, [*args, "--license", "MIT"])
    assert result.exit_code == 2
    assert "--license applies to --format rocrate only" in result.stderr
