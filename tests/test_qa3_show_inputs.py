"""``reprolam show`` says which data a run was given.

A run's ``--input`` data (path, digest, copied or not) was recorded but ``show`` never
mentioned it, nor did ``show --json``: a reader had to open the environment snapshot. Each
input is now one line under the run's header, and ``inputs`` in ``--json``.
"""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

import reprolam
from reprolam import action, workflow
from reprolam.cli.main import cli


@action(outputs=["rows"])
def count(raw: Path, notes: Path, weights: object) -> int:
    return len(raw.read_text().splitlines())


FLOW = workflow("show-inputs", [count], outputs=["rows"], inputs=["raw", "notes", "weights"])


def test_show_lists_the_inputs(tmp_path: Path) -> None:
    (tmp_path / "raw.csv").write_text("a\n1\n")
    (tmp_path / "notes.txt").write_text("n")
    inputs = {
        "raw": tmp_path / "raw.csv",
        "notes": reprolam.InputData(tmp_path / "notes.txt", copy=False),
        "weights": [1.0, 2.0],
    }
    store = str(tmp_path / "store")
    with reprolam.open(store) as rl:
        run = rl.run(FLOW, inputs=inputs)
        digests = rl.show(run.id).steps[0].inputs
    shown = CliRunner().invoke(cli, ["--store", store, "show", run.id])
    assert shown.exit_code == 0, shown.output
    lines = shown.stdout.splitlines()
    assert f"input raw {digests['raw'][:12]} {tmp_path / 'raw.csv'}" in lines
    notes = f"input notes {digests['notes'][:12]} {tmp_path / 'notes.txt'}"
    assert f"{notes} (not copied: digest only)" in lines
    assert f"input weights {digests['weights'][:12]} a value" in lines
    as_json = CliRunner().invoke(cli, ["--store", store, "show", run.id, "--json"])
    given = json.loads(as_json.stdout)["inputs"]
    assert given["raw"] == {
        "digest": digests["raw"],
        "codec": "file",
        "path": str(tmp_path / "raw.csv"),
        "copied": True,
    }
    assert given["notes"]["copied"] is False
    assert given["weights"]["path"] == ""


def test_a_run_without_inputs_shows_none(tmp_path: Path) -> None:
    @action(outputs=["x"])
    def make() -> int:
        return 1

    store = str(tmp_path / "store")
    with reprolam.open(store) as rl:
        run = rl.run(workflow("no-inputs", [make], outputs=["x"]))
    shown = CliRunner().invoke(cli, ["--store", store, "show", run.id, "--json"])
    assert json.loads(shown.stdout)["inputs"] == {}
    assert "input " not in CliRunner().invoke(cli, ["--store", store, "show", run.id]).stdout
