"""Sweeps driven by Optuna: a seeded TPE study, one fork per trial, reproducible from the
trace (same command, same points; with reuse nothing executes; the study rebuilt)."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import reprolam
from reprolam.cli.main import cli
from reprolam.errors import ConfigError
from reprolam.history.sweep import SWEEP_KEY, sweep_runs

pytest.importorskip("optuna")

from reprolam.history.sweep_optuna import default_direction, study_of

FLOW = f"{Path(__file__).with_name('sweep_flow.py')}:flow"
SPACE = ["fit.C=0.1:10:log", "make_data.n=5:50"]


@pytest.fixture
def parent(tmp_path: Path) -> tuple[Path, str]:
    store = tmp_path / "store"
    result = reprolam.run(FLOW, store=store, seed=3)
    assert result.succeeded
    return store, result.id


def values(result: Any) -> list[dict[str, Any]]:
    return [p.values for p in result.points]


def test_a_study_runs_one_fork_per_trial_and_records_how_to_run_it_again(
    parent: tuple[Path, str],
) -> None:
    store, run_id = parent
    with reprolam.open(store) as rl:
        result = rl.sweep(run_id, at="make_data", space=SPACE, optuna=12, seed=5, jobs=2)
        assert result.succeeded
        assert len(result.points) == 12
        assert [p.number for p in result.points] == list(range(12))
        for point in result.points:
            assert 0.1 <= point.values["fit.C"] <= 10
            assert isinstance(point.values["make_data.n"], int)
        runs = sweep_runs(rl.store, result.id)
        assert len(runs) == 12
        recorded = runs[0].planner[SWEEP_KEY]
        assert recorded["mode"] == "optuna"
        assert recorded["sampler"] == {"name": "TPESampler", "seed": 5}
        assert (recorded["trials"], recorded["batch"], recorded["seed"]) == (12, 2, 5)
        assert (recorded["metric"], recorded["direction"]) == ("score", "maximize")
        assert [r.planner[SWEEP_KEY]["values"] for r in runs] == values(result)
        # the best point is the one with the highest score (maximize)
        best = result.best()
        assert best is not None
        scores = [p.metrics["score"] for p in result.points if p.metrics]
        assert best.metrics is not None
        assert best.metrics["score"] == max(scores)
        # the study, rebuilt from the trace: same trials, same best value
        study = rl.study(result.id)
        assert len(study.trials) == 12
        assert study.best_value == max(scores)
        assert [t.params for t in study.trials] == values(result)
        assert all(rl.audit(r.id).clean for r in runs)


@pytest.mark.slow
def test_the_same_study_again_gives_the_same_points_and_with_reuse_executes_nothing(
    parent: tuple[Path, str],
) -> None:
    store, run_id = parent
    with reprolam.open(store) as rl:
        options: dict[str, Any] = {"space": SPACE, "optuna": 12, "seed": 7, "jobs": 3}
        first = rl.sweep(run_id, at="make_data", **options)
        again = rl.sweep(run_id, at="make_data", reuse=True, **options)
        assert values(again) == values(first)  # TPE took over after its 10 random trials
        assert again.executed == 0
        assert again.reused == 3 * 12
        other_seed = rl.sweep(run_id, at="make_data", **{**options, "seed": 8, "optuna": 2})
        assert values(other_seed) != values(first)[:2]


def test_direction_defaults_by_metric_name_and_minimize_picks_the_lowest(
    parent: tuple[Path, str],
) -> None:
    assert default_direction("val_loss") == "minimize"
    assert default_direction("accuracy") == "maximize"
    store, run_id = parent
    with reprolam.open(store) as rl:
        result = rl.sweep(
            run_id, at="fit", space=["fit.C=0.1:10"], optuna=3, metric="value", direction="minimize"
        )
        assert result.spec["direction"] == "minimize"
        best = result.best()
        assert best is not None
        assert best.metrics is not None
        assert best.metrics["value"] == min(p.metrics["value"] for p in result.points if p.metrics)


def test_bad_studies_are_refused_before_anything_is_written(parent: tuple[Path, str]) -> None:
    store, run_id = parent
    with reprolam.open(store) as rl:
        before = len(rl.store.list_runs())
        with pytest.raises(ConfigError, match="not a"):
            rl.sweep(run_id, at="fit", grid={"fit.C": [1, 2]}, optuna=2)
        with pytest.raises(ConfigError, match="needs a"):
            rl.sweep(run_id, at="fit", optuna=2)
        with pytest.raises(ConfigError, match="nope"):
            rl.sweep(run_id, at="fit", space=["fit.nope=1:2"], optuna=2)
        assert len(rl.store.list_runs()) == before


def test_without_optuna_installed_the_error_names_the_extra(
    parent: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = importlib.import_module

    def no_optuna(name: str, *args: Any) -> Any:
        if name == "optuna":
            raise ImportError("No module named 'optuna'")
        return real(name, *args)

    monkeypatch.setattr(importlib, "import_module", no_optuna)
    store, run_id = parent
    args = ["--store", str(store), "sweep", run_id, "--at", "fit", "--optuna", "2"]
    result = CliRunner().invoke(cli, [*args, "--space", "fit.C=0.1:10"])
    assert result.exit_code == 2, result.output
    assert "reprolam[optuna]" in result.stderr
    assert "--optuna" in result.stderr
    assert "Traceback" not in result.output


def test_cli_runs_a_study_and_reports_it_as_json(parent: tuple[Path, str]) -> None:
    store, run_id = parent
    args = ["--store", str(store), "sweep", run_id, "--at", "fit", "--optuna", "3"]
    args += ["--space", "fit.C=0.1:10:log", "--metric", "value", "--minimize", "--seed", "2"]
    result = CliRunner().invoke(cli, [*args, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["spec"]["mode"] == "optuna"
    assert report["spec"]["direction"] == "minimize"
    assert len(report["points"]) == 3
    bad = CliRunner().invoke(cli, [*args, "--grid", "fit.C=1,2"])
    assert bad.exit_code == 2
    assert "--grid" in bad.stderr


def test_only_an_optuna_sweep_has_a_study(parent: tuple[Path, str]) -> None:
    store, run_id = parent
    with reprolam.open(store) as rl:
        grid = rl.sweep(run_id, at="fit", grid={"fit.C": [1.0]})
        with pytest.raises(ConfigError, match="not recorded as an Optuna study"):
            study_of(rl.store, grid.id)
        with pytest.raises(ConfigError, match="not recorded as an Optuna study"):
            rl.study("01a2-no-such-sweep")
        # a run's id where the sweep's is wanted: said, and a point names its sweep
        with pytest.raises(ConfigError, match=f"{run_id} is a run, not a sweep"):
            rl.study(run_id)
        point = grid.points[0].run.id
        with pytest.raises(ConfigError, match=f"is a run: point 0 of sweep {grid.id}"):
            rl.study(point)


def test_a_metric_the_run_does_not_have_is_refused_before_any_trial_runs(
    parent: tuple[Path, str],
) -> None:
    # Every trial ran, its value missing (told as failed): the study searched blind, and the
    # sweep ended with a table of dashes and exit 0.
    store, run_id = parent
    args = ["sweep", run_id, "--at", "fit", "--optuna", "2", "--space", "fit.C=0.1:10"]
    result = CliRunner().invoke(cli, ["--store", str(store), *args, "--metric", "nope"])
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.splitlines()
    assert line == (
        f"error: --metric nope: run {run_id}'s headline metrics are score, value, so --optuna "
        "would have no value to optimize: name one of them with --metric NAME"
    )
    assert [r.id for r in reprolam.runs(store=store)] == [run_id]
