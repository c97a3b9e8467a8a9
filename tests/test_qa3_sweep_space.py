"""A random space reaching outside a param's bounds is named as typed, not by a drawn value.

``--space make_noise.scale=0:20`` for a param bounded ``le=10`` said ``--space
make_noise.scale=17: Input should be less than or equal to 10``: 17 is a number the user
never typed (one the seeded draw happened to produce). The error now names the space, the
value it drew and the fix; nothing runs.
"""

from __future__ import annotations

import enum
from datetime import date
from pathlib import Path
from typing import Annotated, Literal

import pytest
from click.testing import CliRunner

import reprolam
from reprolam import Field, action, workflow
from reprolam.cli.main import cli


class Mode(enum.Enum):
    FAST = "fast"
    SLOW = "slow"


@action(outputs=["metrics"])
def score(
    *,
    scale: Annotated[float, Field(gt=0, le=10)] = 1.0,
    rounds: int = 2,
    depth: Annotated[int, Field(ge=1)] | None = None,
    kind: Literal["a", "b"] = "a",
    day: date = date(2020, 1, 1),
    mode: Mode = Mode.FAST,
    pair: tuple[int, int] = (1, 2),
) -> dict[str, float]:
    return {"mse": scale * rounds}


FLOW = workflow("space-bounds", [score], outputs=["metrics"])


def test_a_space_beyond_the_bounds_names_the_space(tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    with reprolam.open(store) as rl:
        parent = rl.run(FLOW).id
    done = CliRunner().invoke(
        cli,
        ["--store", store, "sweep", parent, "--at", "score", "--random", "4", "--seed", "1",
         "--space", "score.scale=0.5:40"],
    )  # fmt: skip
    assert done.exit_code == 2, done.output
    (line,) = done.stderr.splitlines()
    assert line.startswith("error: --space score.scale=0.5:40 drew ")
    assert "out of the param's range: Input should be less than or equal to 10" in line
    assert line.endswith(": keep the space within the param's bounds")
    with reprolam.open(store) as rl:
        assert len(rl.runs()) == 1  # nothing was forked


def test_a_space_within_the_bounds_runs(tmp_path: Path) -> None:
    with reprolam.open(tmp_path / "store") as rl:
        parent = rl.run(FLOW).id
        swept = rl.sweep(parent, at="score", space={"score.scale": (0.5, 10)}, random=3)
    assert all(p.run is not None and p.run.status.value == "succeeded" for p in swept.points)


@pytest.mark.parametrize(
    ("space", "error"),
    [
        (
            "score.rounds=1.5:3",
            "error: --space score.rounds=1.5:3: rounds is an int param and float bounds draw "
            "floats: give integer bounds without log, which draw integers: "
            "--space score.rounds=2:3",
        ),
        (
            "score.rounds=1:30:log",
            "error: --space score.rounds=1:30:log: rounds is an int param and a log scale "
            "draws floats: give integer bounds without log, which draw integers: "
            "--space score.rounds=1:30",
        ),
        (
            "score.depth=1:4.5",
            "error: --space score.depth=1:4.5: depth is an int param and float bounds draw "
            "floats: give integer bounds without log, which draw integers: "
            "--space score.depth=1:4",
        ),
        (
            "score.kind=1:3",
            "error: --space score.kind=1:3: kind is a choice param and a random space draws "
            "numbers: sweep its values with a grid, e.g. --grid score.kind=a,b",
        ),
        # drawn numbers that no date, enum or tuple takes: refused after drawing, before
        (
            "score.day=1:3",
            "error: --space score.day=1:3: day is a date param and a random space draws "
            "numbers: sweep its values with a grid, e.g. --grid score.day=V1,V2",
        ),
        (
            "score.mode=1:3",
            "error: --space score.mode=1:3: mode is a Mode param and a random space draws "
            "numbers: sweep its values with a grid, e.g. --grid score.mode=fast,slow",
        ),
        (
            "score.pair=1:3",
            "error: --space score.pair=1:3: pair is a tuple param and a random space draws "
            "numbers: sweep its values with a grid, e.g. --grid score.pair=V1,V2",
        ),
    ],
)
def test_a_space_whose_draws_the_param_never_takes_is_refused_naming_the_fix(
    tmp_path: Path, space: str, error: str
) -> None:
    store = str(tmp_path / "store")
    with reprolam.open(store) as rl:
        parent = rl.run(FLOW).id
    done = CliRunner().invoke(
        cli, ["--store", store, "sweep", parent, "--at", "score", "--random", "2", "--space", space]
    )
    assert done.exit_code == 2, done.output
    assert done.stderr.splitlines() == [error]
