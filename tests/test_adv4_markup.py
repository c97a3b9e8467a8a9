"""A forged digest in a store cannot inject markup into a trace picture.

Digests reach the DOT, Mermaid and SVG renderings as node ids (``a_<12 digits>``) and as
an attribute: they were written there raw, so a store whose step row names an output
``x"];evil[label="`` (a forged or damaged store: the row's hash is no signature) broke out
of the id into the picture's markup. Node ids are now hex whatever the digest holds, and
the SVG attribute is quoted.
"""

from __future__ import annotations

import json
import re
import sqlite3
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

import reprolam
from reprolam import action, workflow
from reprolam.cli.main import cli

FORGED = 'abc"];injected[label="pwned"];x["<svg onload=alert(1)>'


@action(outputs=["x"])
def make() -> int:
    return 1


@action(outputs=["y"])
def use(x: int) -> int:
    return x + 1


FLOW = workflow("forged", [make, use], outputs=["y"])


@pytest.fixture
def forged(tmp_path: Path) -> tuple[str, str]:
    store = str(tmp_path / "store")
    with reprolam.open(store) as rl:
        run = rl.run(FLOW, planner="script").run.id
    with sqlite3.connect(Path(store) / "trace.db") as db:
        for idx, column in ((0, "outputs"), (1, "inputs")):
            (text,) = db.execute(
                f"SELECT {column} FROM steps WHERE run_id = ? AND idx = ?", (run, idx)
            ).fetchone()
            forged = {name: FORGED for name in json.loads(text)}
            db.execute(
                f"UPDATE steps SET {column} = ? WHERE run_id = ? AND idx = ?",
                (json.dumps(forged), run, idx),
            )
    return store, run


def _export(store: str, run: str, fmt: str) -> str:
    done = CliRunner().invoke(cli, ["--store", store, "export", run, "--format", fmt])
    assert done.exit_code == 0, done.output
    return done.stdout


def test_dot_and_mermaid_keep_a_forged_digest_out_of_their_markup(
    forged: tuple[str, str],
) -> None:
    for fmt in ("dot", "mermaid"):
        text = _export(*forged, fmt)
        ids = re.findall(r"\ba_([^\s\[\];|\"/]+)", text)
        assert ids, fmt
        assert all(re.fullmatch(r"[0-9a-f]{12}", i) for i in ids), (fmt, ids)
        assert 'abc"' not in text, fmt  # the forged quote never closes a string
    dot = _export(*forged, "dot")
    # the digest is still told, as a quoted tooltip, escaped
    assert 'tooltip="abc\\"];injected' in dot


def test_svg_stays_well_formed_with_the_digest_as_an_attribute(forged: tuple[str, str]) -> None:
    svg = _export(*forged, "svg")
    root = ET.fromstring(svg)  # well-formed: nothing broke out of an attribute
    ns = "{http://www.w3.org/2000/svg}"
    digests = {g.get("data-digest") for g in root.iter(f"{ns}g") if g.get("data-digest")}
    assert FORGED in digests
    assert not any(el.tag.endswith("svg") and el.get("onload") for el in root.iter())
