"""Hole: recorded strings (digests from an imported store, names) were written raw into
SVG attributes and DOT/Mermaid node identifiers, so a crafted store could inject markup."""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET
from pathlib import Path

import reprolam
from reprolam.provenance._model import RunGraph, build_run_graph
from reprolam.provenance._svg import render_svg
from reprolam.provenance._text import render_dot, render_mermaid
from test_provenance_scenarios import FLOW

HOSTILE = '"><script>alert(1)</script>];x->y;click a_ "\\\n%%'


def hostile_graph(tmp_path: Path) -> RunGraph:
    """A real run's graph whose every artifact digest is replaced by a hostile string."""
    with reprolam.open(tmp_path / "store") as rl:
        run = rl.run(FLOW, planner="script")
        graph = build_run_graph(rl.store, run.id)
    renamed = {key: f"{n}{HOSTILE}" for n, key in enumerate(graph.artifacts)}

    def moved(refs: dict[str, str]) -> dict[str, str]:
        return {name: renamed.get(key, key) for name, key in refs.items()}

    steps = tuple(
        dataclasses.replace(
            s,
            record=dataclasses.replace(
                s.record, inputs=moved(s.record.inputs), outputs=moved(s.record.outputs)
            ),
        )
        for s in graph.steps
    )
    return dataclasses.replace(
        graph,
        steps=steps,
        artifacts={
            renamed[k]: dataclasses.replace(a, digest=renamed[k], names=(HOSTILE,))
            for k, a in graph.artifacts.items()
        },
        used=tuple(dataclasses.replace(e, digest=renamed[e.digest]) for e in graph.used),
        generated=tuple(
            dataclasses.replace(e, digest=renamed[e.digest], name=HOSTILE) for e in graph.generated
        ),
    )


def test_svg_stays_well_formed_and_scriptless(tmp_path: Path) -> None:
    svg = render_svg(hostile_graph(tmp_path))
    root = ET.fromstring(svg)  # well-formed: nothing broke out of an attribute
    assert not [e for e in root.iter() if e.tag.endswith("script")]


def test_dot_and_mermaid_identifiers_carry_no_recorded_text(tmp_path: Path) -> None:
    graph = hostile_graph(tmp_path)
    dot, mermaid = render_dot(graph), render_mermaid(graph)
    for text in (dot, mermaid):
        for line in text.splitlines():
            # every node identifier is generated: a hostile string appears only quoted
            assert not line.lstrip().startswith(("x->y", "click", "%%", '"', "\\")), line
            assert 'a_"' not in line, line
            assert "a_\\" not in line, line
