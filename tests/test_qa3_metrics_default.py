"""An output named ``metrics`` is the run's headline metrics unless another is declared.

The README calls the headline metric "the workflow's ``metrics`` output", but a workflow
had to declare ``metrics="metrics"`` as well: without it ``runs --metric``, ``compare``,
``diff``, ``run.metrics`` and the sweep table showed nothing. And a grid or random sweep's
"best" point was the one with the *largest* value whatever the metric, so a sweep over an
``mse`` named its worst point best; it now follows ``--minimize/--maximize``, else minimizes
metrics named like a loss or an error (as ``--optuna`` does). ``runs --metric mse``, "best
first", likewise listed the largest error first.
"""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

import reprolam
from reprolam import action, workflow
from reprolam.cli.main import cli


@action(outputs=["metrics"])
def score(*, alpha: float = 1.0) -> dict[str, float]:
    return {"mse": alpha * 2.0, "r2": 1.0 - alpha / 10}


FLOW = workflow("metrics-default", [score], outputs=["metrics"])


def test_an_output_named_metrics_is_the_headline() -> None:
    assert FLOW.metrics == "metrics"
    other = workflow("declared-elsewhere", [score], outputs=["metrics"], metrics=None)
    assert other.metrics == "metrics"


def test_runs_compare_and_sweeps_show_it(tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    with reprolam.open(store) as rl:
        run = rl.run(FLOW)
        assert run.metrics == {"mse": 2.0, "r2": 0.9}
        swept = rl.sweep(run.id, at="score", grid={"score.alpha": [0.5, 3.0, 1.5]})
        assert swept.best() is swept.points[0]  # the smallest mse
        by_r2 = rl.sweep(run.id, at="score", grid={"score.alpha": [3.0, 0.5]}, metric="r2")
        assert by_r2.best() is by_r2.points[1]  # the largest r2
    listed = CliRunner().invoke(cli, ["--store", store, "runs", "--metric", "mse", "--json"])
    assert listed.exit_code == 0, listed.output
    assert sorted(r["metrics"]["mse"] for r in json.loads(listed.stdout)) == [
        1.0,
        1.0,
        2.0,
        3.0,
        6.0,
        6.0,
    ]
    first = swept.points[0].run
    assert first is not None
    compared = CliRunner().invoke(cli, ["--store", store, "compare", run.id, first.id, "--json"])
    assert compared.exit_code == 0, compared.output
    assert json.loads(compared.stdout)["metrics"] == ["metrics.mse", "metrics.r2"]


def test_the_direction_asked_for_wins(tmp_path: Path) -> None:
    with reprolam.open(tmp_path / "store") as rl:
        run = rl.run(FLOW)
        swept = rl.sweep(run.id, at="score", grid={"score.alpha": [0.5, 3.0]}, direction="maximize")
    assert swept.best() is swept.points[1]
    assert swept.to_dict()["best"]["point"] == 1


def test_runs_lists_the_best_first_by_the_metrics_direction(tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    with reprolam.open(store) as rl:
        for alpha in (2.0, 0.5, 5.0):
            rl.run(FLOW, set={"score.alpha": alpha})

    def listed(metric: str) -> list[float]:
        done = CliRunner().invoke(cli, ["--store", store, "runs", "--metric", metric, "--json"])
        assert done.exit_code == 0, done.output
        return [r["metrics"][metric] for r in json.loads(done.stdout)]

    assert listed("mse") == [1.0, 4.0, 10.0]  # an error: the smallest first
    assert listed("r2") == [0.95, 0.8, 0.5]  # anything else: the largest first
