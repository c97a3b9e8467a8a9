"""An action that claims more determinism than it has: reproduce explains its divergence.

``noisy`` is declared pure but draws from the global ``random`` state; the engine records
that undeclared effect on its step. When a reproduction diverges there, the summary says so
instead of leaving a bare pair of hashes.
"""

from __future__ import annotations

import itertools
import random
from pathlib import Path

from click.testing import CliRunner

import reprolam
from reprolam import action, workflow
from reprolam.cli.main import cli
from reprolam.history.reproduce import reproduce
from reprolam.trace.memory import MemoryStore
from reprolam.trace.sqlite import SQLiteStore


@action(outputs=["x"])
def make(*, n: int = 3) -> list[int]:
    """Honestly pure."""
    return list(range(n))


@action(outputs=["y"])
def noisy(x: list[int]) -> list[float]:
    """Declared pure (the default), but draws from the global random module."""
    return [v + random.random() for v in x]


@action(outputs=["z"])
def honest(x: list[int]) -> int:
    """Pure, and deterministic."""
    return sum(x)


FLOW = workflow("noisy-pure", [make, noisy], outputs=["y"])
CLEAN = workflow("clean-pure", [make, honest], outputs=["z"])


def test_a_divergence_at_a_step_with_undeclared_effects_names_them() -> None:
    store = MemoryStore()
    run = reprolam.run(FLOW, store=store, planner="rules")
    result = reproduce(store, run.id, workflow=FLOW)
    assert result.divergence is not None
    assert result.divergence.step == 1
    summary = result.summary()
    assert summary.startswith("diverged at step 1: noisy output 'y'")
    assert "step 1 (noisy) had undeclared effects when recorded" in summary
    assert "global rng" in summary
    (effect,) = result.effects
    assert (effect["step"], effect["action"], effect["kind"]) == (1, "noisy", "global_rng")
    assert result.to_dict()["effects"] == result.effects
    assert result.reproduction is not None
    assert "undeclared effects" in (result.reproduction.error or "")


def test_the_cli_prints_the_explanation_and_exits_1(tmp_path: Path) -> None:
    path = str(tmp_path / "store")
    with SQLiteStore(path) as store:
        run_id = reprolam.run(f"{__file__}:FLOW", store=store, planner="rules").id
    result = CliRunner().invoke(cli, ["--store", path, "reproduce", run_id])
    assert result.exit_code == 1, result.output
    assert "had undeclared effects when recorded: undeclared global rng" in result.stdout


def test_a_clean_reproduction_says_nothing_about_effects() -> None:
    store = MemoryStore()
    run = reprolam.run(CLEAN, store=store, planner="rules")
    result = reproduce(store, run.id, workflow=CLEAN)
    assert result.bitwise
    assert "effects" not in result.summary()
    assert result.to_dict()["effects"] == []


_TICKS = itertools.count()  # no data reprolam can describe


@action(outputs=["n"])
def _counts() -> int:
    return next(_TICKS)  # state the action keeps between calls: nothing recorded changes


def test_a_divergence_with_no_recorded_cause_says_the_action_is_nondeterministic(
    tmp_path: Path,
) -> None:
    flow = workflow("counts", [_counts], outputs=["n"])
    with reprolam.open(tmp_path) as rl:
        run = rl.run(flow)
        result = rl.reproduce(run.id, workflow=flow)
    assert result.divergence is not None
    assert "no recorded cause" in result.summary()
    assert "PYTHONHASHSEED" in result.summary()


_DRAWS = itertools.count()


@action(outputs=["n"], determinism="nondeterministic")
def _declared_variable() -> int:
    return next(_DRAWS)


def test_a_divergence_of_an_action_declared_nondeterministic_names_the_declaration(
    tmp_path: Path,
) -> None:
    flow = workflow("declared", [_declared_variable], outputs=["n"])
    with reprolam.open(tmp_path) as rl:
        run = rl.run(flow)
        result = rl.reproduce(run.id, workflow=flow)
    assert result.divergence is not None
    assert result.declared == "nondeterministic"
    assert "is declared nondeterministic" in result.summary()
    assert "no recorded cause" not in result.summary()
