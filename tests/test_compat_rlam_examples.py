"""The paper repository's three rlam examples, ported by changing the import only, run as
scripts into a store that ``reprolam audit`` (a separate process) passes and every other
reprolam command reads."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from reprolam.cli.main import cli

pytestmark = pytest.mark.slow  # fresh processes: three scripts, then reprolam audit per run

EXAMPLES = Path(__file__).parent.parent / "examples" / "rlam"
# sha256 of github.com/suriyasureshok/rlam examples/*.py (line endings normalized to \n)
UPSTREAM = {
    "workflow_basic.py": "a106fd5e7e472abbfa56fb57c205cf56d4e7debefc5ce59501a064f0dacace9e",
    "workflow_failure.py": "b23a88893e2a96eb506c9f350a9d7cec76ba092a78eacd35fea24e6a5aa4aad3",
    "workflow_fork.py": "acaf41fdbc00a7ae1aa3f64ea4e368d0cfb169156e3d3e47f6f3350126cf64b7",
}


def command(store: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The installed ``reprolam`` command, in its own process."""
    exe = shutil.which("reprolam", path=str(Path(sys.executable).parent))
    command = [exe] if exe else [sys.executable, "-m", "reprolam"]
    return subprocess.run(
        [*command, "--store", str(store), *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "COLUMNS": "200"},
    )


def as_json(store: Path, *args: str) -> Any:
    """The CLI's JSON answer, in this process (the same click command, faster)."""
    done = CliRunner().invoke(cli, ["--store", str(store), *args, "--json"])
    assert done.exit_code == 0, done.output
    return json.loads(done.stdout)


def test_the_examples_differ_from_the_papers_only_in_their_imports() -> None:
    for name, expected in UPSTREAM.items():
        ported = (EXAMPLES / name).read_text()
        changed = [line for line in ported.splitlines() if "reprolam" in line]
        assert changed, name
        assert all(line.startswith("from reprolam.compat.rlam.") for line in changed), changed
        original = ported.replace("from reprolam.compat.rlam.", "from rlam.")
        assert hashlib.sha256(original.encode()).hexdigest() == expected, name


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store written by running the three examples, as scripts, one after the other."""
    root = tmp_path_factory.mktemp("rlam-examples")
    env = {**os.environ, "REPROLAM_STORE": str(root / "store")}
    for name in UPSTREAM:
        done = subprocess.run(
            [sys.executable, str(EXAMPLES / name)],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert "ExecutionTrace(run=" in done.stdout
    return root / "store"


def views(store: Path) -> dict[str, dict[str, Any]]:
    """``show --json`` of each run, by its step labels (basic, failure, fork original, fork)."""
    runs = as_json(store, "runs")
    assert len(runs) == 4
    by_labels: dict[str, dict[str, Any]] = {}
    for run in reversed(runs):  # oldest first: the basic example's A1,A2,A3 is replaced
        view = as_json(store, "show", run["id"])
        by_labels[",".join(s["proposal"].get("label") for s in view["steps"])] = view
    assert set(by_labels) == {"A1,A2,A3", "A1,A2,A3,A4", "A1,A2,A3_prime"}
    return by_labels


def test_every_run_the_examples_wrote_passes_reprolam_audit(store: Path) -> None:
    for run in as_json(store, "runs"):
        done = command(store, "audit", run["id"], "--json")
        assert done.returncode == 0, done.stdout + done.stderr
        report = json.loads(done.stdout)
        assert report["clean"]
        assert report["metrics"]["trace_completeness"] == 1.0
        assert report["metrics"]["failure_visibility"] == 1.0


def test_the_failure_example_records_the_failure_and_what_followed_it(store: Path) -> None:
    view = views(store)["A1,A2,A3,A4"]
    assert view["run"]["status"] == "succeeded"  # A4 follows the failed A3
    failed = view["steps"][2]
    assert failed["status"] == "failed"
    assert failed["error"]["type"] == "RuntimeError"
    assert failed["error"]["message"] == "Numerical instability during training"
    assert view["steps"][3]["proposal"]["after"] == [2]
    report = as_json(store, "audit", view["run"]["id"])
    assert report["failures"]["failed"] == report["failures"]["visible"] == 1


def test_the_fork_example_is_a_fork_run_that_replays_and_exports(
    store: Path, tmp_path: Path
) -> None:
    by_labels = views(store)
    view, original = by_labels["A1,A2,A3_prime"], by_labels["A1,A2,A3"]
    run = view["run"]
    assert (run["parent_id"], run["fork_index"]) == (original["run"]["id"], 2)
    assert [s["inherited"] for s in view["steps"]] == [True, True, False]
    replayed = as_json(store, "replay", run["id"])
    assert replayed["verified"]
    assert set(replayed["outputs"]) == {"A3_prime"}  # the fork's leaf
    assert replayed["outputs"]["A3_prime"]["summary"] == "dict{loss=0.1000, weights=0.0300}"
    inherited = as_json(store, "replay", run["id"], "--step", "1")["outputs"]["A2"]
    original_a2 = as_json(store, "replay", original["run"]["id"], "--step", "1")["outputs"]["A2"]
    assert inherited == original_a2  # inherited by reference: the very same artifact
    for fmt in ("prov-json", "rocrate", "mermaid"):
        out = tmp_path / f"fork.{fmt}"
        done = CliRunner().invoke(
            cli, ["--store", str(store), "export", run["id"], "--format", fmt, "-o", str(out)]
        )
        assert done.exit_code == 0, done.output
        assert out.stat().st_size > 0
