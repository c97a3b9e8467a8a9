"""What actions print and warn is kept with their steps, never mixed with the CLI's output."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from click.testing import CliRunner

import reprolam
from reprolam import action, workflow
from reprolam.cli.main import cli
from reprolam.engine.observe import OUTPUT_CAP
from reprolam.trace.memory import MemoryStore

FLOW_FILE = """
import sys
import warnings

import numpy as np
from sklearn.linear_model import LogisticRegression

from reprolam import action, workflow


@action(outputs=["model"], determinism="seeded")
def fit() -> LogisticRegression:
    print("fitting with max_iter=1")
    print("to stderr", file=sys.stderr)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 5))
    y = (X[:, 0] + rng.normal(size=200) > 0).astype(int)
    return LogisticRegression(max_iter=1).fit(X, y)


@action(outputs=["score"])
def noisy(model: LogisticRegression) -> float:
    print("{not json")
    warnings.warn("a user warning", UserWarning)
    return 1.0


flow = workflow("printing", [fit, noisy], outputs=["score"])
"""


def test_prints_and_warnings_appear_in_show_json_and_run_json_stays_parseable(
    tmp_path: Path,
) -> None:
    flow = tmp_path / "printing_flow.py"
    flow.write_text(FLOW_FILE)
    store = str(tmp_path / "store")
    runner = CliRunner()
    run = runner.invoke(cli, ["--store", store, "run", f"{flow}:flow", "--json"])
    assert run.exit_code == 0, run.output
    run_id = json.loads(run.stdout)["run"]["id"]  # nothing the actions printed got in

    shown = runner.invoke(cli, ["--store", store, "show", run_id, "--json"])
    steps = json.loads(shown.stdout)["steps"]
    fit, noisy = steps[0]["captured"], steps[1]["captured"]
    assert fit["stdout"] == "fitting with max_iter=1\n"
    assert fit["stderr"] == "to stderr\n"
    (convergence,) = fit["warnings"]
    assert convergence["category"] == "ConvergenceWarning"
    assert "max_iter" in convergence["message"] or "iterations" in convergence["message"]
    assert noisy["stdout"] == "{not json\n"
    assert noisy["warnings"][0] == {
        "category": "UserWarning",
        "message": "a user warning",
        "filename": str(flow),
        "lineno": noisy["warnings"][0]["lineno"],
    }

    human = runner.invoke(cli, ["--store", store, "show", run_id])
    assert "ConvergenceWarning" in human.output
    assert "fitting with max_iter=1" in human.output


@action(outputs=["n"])
def floods() -> int:
    sys.stdout.write("x" * (OUTPUT_CAP + 100))
    return 1


@action(outputs=["n"])
def prints_then_fails() -> int:
    print("about to fail")
    raise ValueError("boom")


def test_output_is_size_capped_and_kept_for_failed_steps() -> None:
    with reprolam.open(MemoryStore()) as rl:
        big = rl.run(workflow("big", [floods], outputs=["n"]), planner="rules")
        view = rl.show(big.id)
        captured = view.captured[0]
        assert len(captured["stdout"]) == OUTPUT_CAP
        assert captured["stdout_dropped"] == 100
        assert big.steps[0].proposal["observed"]["printed"] == OUTPUT_CAP

        failed = rl.run(workflow("fails", [prints_then_fails], outputs=["n"]), planner="rules")
        step = failed.steps[0]
        assert step.error is not None
        assert step.error.type == "ValueError"
        assert rl.show(failed.id).captured[0] == {"stdout": "about to fail\n"}


def test_captured_output_is_an_artifact_covered_by_the_chain() -> None:
    with reprolam.open(MemoryStore()) as rl:
        run = rl.run(workflow("fails", [prints_then_fails], outputs=["n"]), planner="rules")
        key = run.steps[0].proposal["observed"]["output"]
        record, _ = rl.store.get_artifact(key)
        assert record.codec == "json"
        assert rl.audit(run.id).checks()["artifacts"]["ok"]


def test_the_process_executor_brings_observations_back(tmp_path: Path) -> None:
    flow = tmp_path / "printing_proc.py"
    flow.write_text(FLOW_FILE)
    with reprolam.open(tmp_path / "store") as rl:
        run = rl.run(f"{flow}:flow", planner="rules", executor="process")
        captured = rl.show(run.id).captured
    assert captured[0]["stdout"] == "fitting with max_iter=1\n"
    assert captured[0]["warnings"][0]["category"] == "ConvergenceWarning"
    assert captured[1]["stdout"] == "{not json\n"
