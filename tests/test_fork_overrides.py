"""A fork's override that changes nothing is said, not silently ignored."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from click.testing import CliRunner

import reprolam
from reprolam.cli.main import cli

FLOW = f"{Path(__file__).with_name('sweep_flow.py')}:flow"


@pytest.fixture
def parent(tmp_path: Path) -> tuple[Path, str]:
    store = tmp_path / "store"
    result = reprolam.run(FLOW, store=store, seed=3)
    assert result.succeeded
    return store, result.id


def test_an_override_of_an_inherited_action_warns_from_the_callers_line(
    parent: tuple[Path, str],
) -> None:
    store, run_id = parent
    with reprolam.open(store) as rl:
        with pytest.warns(reprolam.OverrideNotApplied) as caught:
            fork = rl.fork(run_id, at="fit", set={"make_data.n": 5, "fit.C": 2.0})
        # the record is as it ran: the inherited step kept the parent's n
        assert fork.steps[0].params == rl.show(run_id).steps[0].params
    assert fork.succeeded
    assert len(caught) == 1  # fit ran in the fork: its override applied
    message = str(caught[0].message)
    assert message.startswith("make_data.n=5 changed nothing")
    assert "at='make_data'" in message  # Python's spelling of the fix
    assert caught[0].filename == __file__  # attributed to the caller, not to reprolam


def test_an_override_that_ran_says_nothing(parent: tuple[Path, str]) -> None:
    store, run_id = parent
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fork = reprolam.fork(run_id, at="make_data", set={"make_data.n": 5}, store=store)
    assert fork.steps[0].params["n"] == 5


def test_the_cli_prints_one_warning_line_with_flags(parent: tuple[Path, str]) -> None:
    store, run_id = parent
    result = CliRunner().invoke(
        cli, ["--store", str(store), "fork", run_id, "--at", "score", "--set", "fit.C=3"]
    )
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(lines) == 1
    assert "fit.C=3 changed nothing" in lines[0]
    assert "(--at fit)" in lines[0]
    assert "Warning" not in result.stderr  # not Python's file:line display


def test_an_int_param_too_long_for_decimal_text_is_a_clear_error(
    parent: tuple[Path, str],
) -> None:
    """Python writes an int as decimal text only up to 4,300 digits; such a param was a bare
    ValueError out of ``run`` and ``fork`` instead of a refusal naming the param."""
    store, run_id = parent
    with reprolam.open(store) as rl:
        with pytest.raises(reprolam.ReprolamError, match=r"make_data\.n: an integer of more"):
            rl.run(FLOW, set={"make_data.n": 10**5000})
        with pytest.raises(reprolam.ReprolamError, match=r"make_data\.n: an integer of more"):
            rl.fork(run_id, at="make_data", set={"make_data.n": 10**5000})
        assert len(rl.runs()) == 1  # nothing recorded


def test_a_param_given_two_values_is_refused_and_the_same_value_twice_is_not(
    parent: tuple[Path, str],
) -> None:
    """The last of `--set fit.C=1 --set fit.C=2` won silently: the record said 2, the user
    may have meant 1."""
    store, run_id = parent
    twice = CliRunner().invoke(
        cli,
        [
            "--store",
            str(store),
            "fork",
            run_id,
            "--at",
            "fit",
            "--set",
            "fit.C=1",
            "--set",
            "fit.C=2",
        ],
    )
    assert twice.exit_code == 2
    assert "error: --set fit.C is given twice (1 and 2)" in twice.stderr
    with reprolam.open(store) as rl:
        runs = len(rl.runs())
        with pytest.raises(reprolam.ConfigError, match=r"fit\.C is given twice \(1\.0 and 3\.0\)"):
            rl.fork(run_id, at="fit", set={"fit.C": 1.0}, overrides={"fit": {"C": 3.0}})
        with pytest.raises(reprolam.ConfigError, match="given twice"):
            rl.fork(run_id, at="fit", set={"fit.C": 1, "fit": {"C": True}})  # True is not 1
        assert len(rl.runs()) == runs  # nothing was written
        same = rl.fork(run_id, at="fit", set=["fit.C=0.5", "fit.C=0.5"])
    assert [s.params["C"] for s in same.steps if s.action == "fit"] == [0.5]
