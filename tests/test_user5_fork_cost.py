"""The experiment report's fork cost: "5.0 of 4.0" read as a fraction over 1.

Fork calls count every call the fork made (retries, re-planned steps) and may exceed the
distinct actions the trial ran; counts were printed as floats. Now they are named for what
they are, whole means without decimals.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from reprolam.experiments.pipelines import PARADIGMS
from reprolam.experiments.report import fork_cost


def test_counts_read_as_counts_and_are_not_a_fraction() -> None:
    assert fork_cost(5.0, 4.0) == "5 calls (trial: 4 actions)"
    assert fork_cost(2, 5) == "2 calls (trial: 5 actions)"


def test_a_mean_over_trials_keeps_one_decimal() -> None:
    assert fork_cost(2.6666, 4.5) == "2.7 calls (trial: 4.5 actions)"


def test_the_plot_says_n_a_where_no_trial_succeeded(tmp_path: Path) -> None:
    """The table said n/a; time.png said '0 calls (trial: 0 actions)' for every paradigm."""
    pytest.importorskip("matplotlib")
    from reprolam.experiments.harness import ExperimentConfig, run_experiment
    from reprolam.experiments.plots import _time

    failing = ExperimentConfig(trials=1, faults={"load_dataset": 1.0})
    experiment = run_experiment(failing, out=tmp_path)
    assert all(experiment.summary[p]["fork_calls"] is None for p in PARADIGMS)
    fork_axes = _time(experiment).axes[1]
    labels = [text.get_text() for text in fork_axes.texts]
    assert labels == ["n/a\n(no successful trial)"] * len(PARADIGMS)
