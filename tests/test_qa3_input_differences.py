"""A reproduction whose input data changed says so under its own heading.

The changed digest of an input was listed as ``environment differences in the system:
inputs.raw.digest: ...`` -- as if the operating system had changed, when the data had. It
is now ``input data differences:``; the system keeps its heading.
"""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from reprolam.cli.main import cli

FLOWS = """
from pathlib import Path
from reprolam import action, workflow

@action(outputs=["rows"])
def count(raw: Path) -> int:
    return len(raw.read_text().splitlines())

flow = workflow("input-diff", [count], outputs=["rows"], inputs=["raw"])
"""


def test_changed_input_data_is_not_a_system_difference(tmp_path: Path) -> None:
    (tmp_path / "flows.py").write_text(FLOWS)
    (tmp_path / "raw.csv").write_text("a\n1\n")
    store = ["--store", str(tmp_path / "store")]
    runner = CliRunner()
    flow, data = f"{tmp_path / 'flows.py'}:flow", f"raw={tmp_path / 'raw.csv'}"
    ran = runner.invoke(cli, [*store, "run", flow, "--input", data, "--json"])
    assert ran.exit_code == 0, ran.output
    run_id = json.loads(ran.stdout)["run"]["id"]
    (tmp_path / "raw.csv").write_text("a\n1\n2\n")
    done = runner.invoke(cli, [*store, "reproduce", run_id])
    assert done.exit_code == 1, done.output
    out = done.stdout
    assert "input data differences:\n  inputs.raw.digest: " in out
    assert "environment differences in the system:\n  inputs." not in out
