"""Pictures of a run's trace (SVG laid out in Python, DOT, Mermaid) and ``reprolam export``."""

from __future__ import annotations

import json
import re
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import reprolam
from reprolam import Engine, Policy, Proposal
from reprolam.cli.main import cli
from reprolam.provenance import export_run
from reprolam.trace.sqlite import SQLiteStore
from test_provenance_scenarios import FLOW, Scripted, fork_run, troubled_run

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pictures") / "store"


@pytest.fixture(scope="module")
def runs(store_dir: Path) -> dict[str, str]:
    with SQLiteStore(store_dir) as store:  # closed before the tests read: all applied
        bc = reprolam.run("breast-cancer", store=store, seed=0, planner="rules")
        troubled = troubled_run(store)
        return {"bc": bc.id, "troubled": troubled, "fork": fork_run(store, troubled, at=4)}


def svg_steps(text: str) -> dict[int, set[str]]:
    """Step index -> classes, for every <g class="step ..."> of a parsed SVG."""
    root = ET.fromstring(text)
    found: dict[int, set[str]] = {}
    for g in root.iter(f"{SVG}g"):
        classes = set(g.get("class", "").split())
        if "step" in classes:
            index = int(g.get("data-index", "-1"))
            assert g.get("id") == f"step-{index}"
            assert index not in found
            found[index] = classes
    return found


def export(store_dir: Path, run_id: str, fmt: str) -> str:
    with SQLiteStore(store_dir) as store:
        text = export_run(store, run_id, format=fmt)
    assert isinstance(text, str)
    return text


def test_svg_has_one_classed_node_per_step(store_dir: Path, runs: dict[str, str]) -> None:
    bc = svg_steps(export(store_dir, runs["bc"], "svg"))
    assert sorted(bc) == [0, 1, 2, 3, 4]
    assert all(c == {"step", "action", "succeeded"} for c in bc.values())

    troubled = svg_steps(export(store_dir, runs["troubled"], "svg"))
    assert sorted(troubled) == list(range(7))
    assert {"decision"} <= troubled[0]
    assert {"rejection", "rejected"} <= troubled[1]
    assert {"rejected"} <= troubled[2]
    assert {"failed", "recovered"} <= troubled[4]
    assert {"recovery"} <= troubled[5]
    assert "inherited" not in set().union(*troubled.values())

    fork = svg_steps(export(store_dir, runs["fork"], "svg"))
    assert sorted(fork) == list(range(6))
    assert [i for i, c in fork.items() if "inherited" in c] == [0, 1, 2, 3]


def test_svg_draws_data_recovery_and_fork_edges(store_dir: Path, runs: dict[str, str]) -> None:
    root = ET.fromstring(export(store_dir, runs["troubled"], "svg"))
    groups = list(root.iter(f"{SVG}g"))
    recovery = [
        g
        for g in groups
        if "recovery" in g.get("class", "").split() and "edge" in g.get("class", "")
    ]
    assert [(g.get("data-from"), g.get("data-to")) for g in recovery] == [("5", "4")]
    uses = {(g.get("data-to"), "".join(g.itertext())) for g in groups if g.get("class") == "use"}
    assert ("6", "data") in {(to, text.split("\n")[0][:4]) for to, text in uses}
    assert not [g for g in groups if g.get("id") == "fork-point"]

    root = ET.fromstring(export(store_dir, runs["fork"], "svg"))
    ids = {g.get("id") for g in root.iter(f"{SVG}g")}
    assert {"fork-point", "inherited-band", "parent-continuation"} <= ids
    texts = " ".join(root.itertext())
    assert "fork at step 4" in texts
    assert "parent went on: #4 add_up" in texts


def test_dot_and_mermaid_carry_the_same_steps_and_edges(
    store_dir: Path, runs: dict[str, str]
) -> None:
    dot = export(store_dir, runs["fork"], "dot")
    assert dot.startswith("digraph reprolam_trace {")
    assert dot.count("{") == dot.count("}")
    for i in range(6):
        assert re.search(rf'^\s*s{i} \[id="step-{i}"', dot, re.M)
    assert "subgraph cluster_inherited" in dot
    assert 'class="action succeeded inherited"' in dot
    troubled = export(store_dir, runs["troubled"], "dot")
    assert re.search(r"s5 -> s4 \[class=recovery", troubled)
    categories = ["decision", "rejected", "rejected", "succeeded", "failed", "recovery"]
    for i, category in enumerate(categories):
        assert re.search(rf's{i} \[id="step-{i}", class="[^"]*\b{category}\b', troubled)
    assert 'class="decision decision"' not in troubled  # kind and category are both "decision"

    mermaid = export(store_dir, runs["troubled"], "mermaid")
    assert mermaid.splitlines()[3] == "flowchart TD"
    assert "s5 -. recovers .-> s4" in mermaid
    for i, category in enumerate(["decision", "rejected", "rejected", "succeeded", "failed"]):
        assert f"class s{i} {category}" in mermaid
    assert "class s5 recovery" in mermaid
    assert '"' not in "".join(re.findall(r'\["([^\]]*)"\]', mermaid))  # quotes are escaped
    assert "class s0 inherited" in export(store_dir, runs["fork"], "mermaid")


def test_svg_stays_sane_for_two_hundred_steps(tmp_path: Path) -> None:
    decisions: list[Proposal] = [Proposal("make_data", params={"n": 3})]
    for i in range(199):
        if i % 17 == 5:
            decisions.append(Proposal("nope"))
        elif i % 3 == 0:
            decisions.append(Proposal("make_data", params={"n": 1 + i % 7}))
        else:
            decisions.append(Proposal("add_up", params={"scale": 1 + i % 4}))
    with SQLiteStore(tmp_path / "store") as store:
        planner = Scripted(list(decisions), {"name": "scripted"})
        result = Engine(store).run(FLOW, planner=planner, policy=Policy(max_steps=500))
        t0 = time.perf_counter()
        text = export_run(store, result.id, format="svg")
        elapsed = time.perf_counter() - t0
    assert isinstance(text, str)
    root = ET.fromstring(text)
    assert len(svg_steps(text)) == 200
    assert float(root.get("width", "0")) < 1400  # data flows are local: few bus tracks
    assert float(root.get("height", "0")) < 200 * 80
    assert elapsed < 5


# -- CLI --------------------------------------------------------------------------------------


def invoke(store_dir: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--store", str(store_dir), "export", *args])


def test_cli_prints_text_formats_and_writes_files(
    store_dir: Path, runs: dict[str, str], tmp_path: Path
) -> None:
    result = invoke(store_dir, runs["bc"][:13], "--format", "prov-json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["prefix"]["id"] == "urn:reprolam:"
    assert f"id:run-{runs['bc']}" in doc["activity"]
    out = tmp_path / "trace.svg"
    result = invoke(store_dir, runs["bc"], "--format", "svg", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"wrote {out}"
    ET.parse(out)
    result = invoke(store_dir, runs["bc"], "--format", "rocrate", "-o", str(tmp_path / "c.zip"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "c.zip").stat().st_size > 1000


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope", "--format", "svg"], "error: no run with id or prefix 'nope'"),
        (["RUN", "--format", "rocrate"], "error: the rocrate format writes a directory"),
        (["RUN", "--format", "dot", "-o", "BLOCK/x.dot"], "is a file, not a directory"),
        (["RUN", "--format", "rocrate", "-o", "BLOCK/c"], "is a file, not a directory"),
        (["RUN", "--format", "svg", "-o", "MISSING/x.svg"], "does not exist: create it first"),
    ],
)
def test_cli_bad_input_is_one_line_exit_2_and_nothing_written(
    store_dir: Path, runs: dict[str, str], tmp_path: Path, args: list[str], message: str
) -> None:
    (tmp_path / "block").write_text("a regular file")
    args = [
        a.replace("RUN", runs["bc"])
        .replace("BLOCK", str(tmp_path / "block"))
        .replace("MISSING", str(tmp_path / "missing"))
        for a in args
    ]
    result = invoke(store_dir, *args)
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: ")
    assert message in lines[0]
    assert [p.name for p in tmp_path.iterdir()] == ["block"]


def test_help_has_an_example() -> None:
    result = CliRunner().invoke(cli, ["export", "--help"])
    assert result.exit_code == 0
    assert "Example:" in result.output
    assert "prov-json" in result.output


def test_an_interrupted_run_exports_its_unfinished_step(tmp_path: Path) -> None:
    from rocrate.rocrate import ROCrate

    from reprolam import RulesPlanner, action, workflow
    from test_provenance_scenarios import add_up, make_data

    @action(outputs=["boom"])
    def interrupt(total: float) -> None:
        raise KeyboardInterrupt

    flow = workflow("ctrl-c", [make_data, add_up, interrupt], outputs=["boom"])
    with SQLiteStore(tmp_path / "store") as store:
        with pytest.raises(KeyboardInterrupt):
            Engine(store).run(flow, planner=RulesPlanner())
        (run,) = store.list_runs()
        classes = svg_steps(str(export_run(store, run.id, format="svg")))
        assert classes[2] == {"step", "action", "started"}
        assert 'class="action started"' in str(export_run(store, run.id, format="dot"))
        export_run(store, run.id, format="rocrate", output=tmp_path / "crate")
        prov = json.loads(str(export_run(store, run.id, format="prov-json")))
    step = ROCrate(str(tmp_path / "crate")).get(f"#step/{run.id}/2")
    assert step["actionStatus"] == "http://schema.org/FailedActionStatus"
    assert "no completion recorded" in step["error"]
    assert "endTime" not in step
    started = prov["activity"][f"id:step-{run.id}.2"]
    assert started["reprolam:status"] == "started"
    assert "prov:endTime" not in started


def test_cli_offers_exactly_the_formats_export_run_knows() -> None:
    from reprolam.cli.export_cmd import FORMATS
    from reprolam.provenance import EXPORT_FORMATS

    assert set(FORMATS) == set(EXPORT_FORMATS)
