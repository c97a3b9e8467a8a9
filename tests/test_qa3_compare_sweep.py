"""``compare SWEEP_ID``: a sweep's points side by side, without listing their run ids.

``reprolam sweep`` prints a sweep id, but ``compare`` refused it (``no run with id``), so
comparing a sweep meant copying every point's run id. A sweep id, or a unique prefix of one,
now stands for its points (in point order), next to any runs given with it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import reprolam
from reprolam import action, workflow
from reprolam.cli.main import cli
from reprolam.history.sweep import run_or_sweep_ids


@action(outputs=["metrics"])
def score(*, alpha: float = 1.0) -> dict[str, float]:
    return {"mse": alpha * 2.0}


FLOW = workflow("compare-sweep", [score], outputs=["metrics"])


@pytest.fixture
def swept(tmp_path: Path) -> tuple[str, str, str, list[str]]:
    store = str(tmp_path / "store")
    with reprolam.open(store) as rl:
        parent = rl.run(FLOW).id
        result = rl.sweep(parent, at="score", grid={"score.alpha": [3.0, 0.5, 1.5]})
    ids = [p.run.id for p in result.points if p.run is not None]
    return store, parent, result.id, ids


def _compare(store: str, *refs: str) -> object:
    return CliRunner().invoke(cli, ["--store", store, "compare", *refs, "--json"])


def test_a_sweep_id_stands_for_its_points(swept: tuple[str, str, str, list[str]]) -> None:
    store, parent, sweep_id, ids = swept
    done = _compare(store, sweep_id)
    assert done.exit_code == 0, done.output
    table = json.loads(done.stdout)
    assert [r["run"] for r in table["rows"]] == ids
    assert [r["metrics.mse"] for r in table["rows"]] == [6.0, 1.0, 3.0]
    # the shortest prefix of the sweep id that no run id starts with (ids made in the same
    # millisecond share their first 12 digits)
    runs = [parent, *ids]
    size = next(n for n in range(9, 37) if not any(r.startswith(sweep_id[:n]) for r in runs))
    with_parent = json.loads(_compare(store, parent, sweep_id[:size]).stdout)
    assert [r["run"] for r in with_parent["rows"]] == [parent, *ids]


def test_a_prefix_of_a_run_and_a_sweep_names_neither(
    swept: tuple[str, str, str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, _, sweep_id, ids = swept
    with reprolam.open(store) as rl:
        # a prefix only one run id and the sweep id share, as ids made in one millisecond do
        monkeypatch.setattr(rl.store, "find_run_ids", lambda prefix, limit=2: [ids[0]])
        with pytest.raises(reprolam.AmbiguousIdError, match=f"matches run {ids[0]} and sweep"):
            rl.compare(sweep_id[:9])
        # a whole id is never ambiguous
        assert run_or_sweep_ids(rl.store, [sweep_id]) == ids


def test_an_unknown_id_names_runs_and_sweeps(swept: tuple[str, str, str, list[str]]) -> None:
    store = swept[0]
    done = _compare(store, "ffff")
    assert done.exit_code == 2
    (line,) = done.stderr.splitlines()
    assert line.startswith("error: no run or sweep with id or prefix 'ffff'")


def test_a_prefix_of_two_sweeps_is_ambiguous(
    swept: tuple[str, str, str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, parent, sweep_id, _ = swept
    with reprolam.open(store) as rl:
        other = rl.sweep(parent, at="score", grid={"score.alpha": [2.0]}).id
        common = next(i for i in range(len(sweep_id)) if sweep_id[i] != other[i])
        # uuid7 prefixes of runs and sweeps made together overlap: say no run has this one
        monkeypatch.setattr(rl.store, "find_run_ids", lambda prefix, limit=2: [])
        with pytest.raises(reprolam.AmbiguousIdError, match="matches several sweeps"):
            rl.compare(sweep_id[:common])
