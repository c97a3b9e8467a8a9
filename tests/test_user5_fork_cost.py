"""The experiment report's fork cost: "5.0 of 4.0" read as a fraction over 1.

Fork calls count every call the fork made (retries, re-planned steps) and may exceed the
distinct actions the trial ran; counts were printed as floats. Now they are named for what
they are, whole means without decimals.
"""

from __future__ import annotations

from reprolam.experiments.report import fork_cost


def test_counts_read_as_counts_and_are_not_a_fraction() -> None:
    assert fork_cost(5.0, 4.0) == "5 calls (trial: 4 actions)"
    assert fork_cost(2, 5) == "2 calls (trial: 5 actions)"


def test_a_mean_over_trials_keeps_one_decimal() -> None:
    assert fork_cost(2.6666, 4.5) == "2.7 calls (trial: 4.5 actions)"
