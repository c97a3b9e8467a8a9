"""`reprolam runs` at any terminal width: a metric shown is shown whole, never cut at the edge."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

import reprolam
from reprolam import action, workflow
from reprolam.cli.main import cli


@action(outputs=["metrics"])
def score(*, c: float = 1.0) -> dict[str, float | int]:
    return {"accuracy": 0.9366 + c / 100, "f1": 0.9497, "n_test": 142}


FLOW = workflow("runs-width", [score], outputs=["metrics"], metrics="metrics")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("runs") / "store"
    with reprolam.open(path) as rl:
        for c in (0.0, 1.0):
            rl.tag(rl.run(FLOW, set={"score.c": c}).id, "sweep")
    return path


@pytest.mark.parametrize("width", [60, 80, 100, 120, 140, 160, 220])
def test_every_metric_column_shown_is_whole_and_the_table_fits(store: Path, width: int) -> None:
    result = CliRunner(env={"COLUMNS": str(width)}).invoke(cli, ["--store", str(store), "runs"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    header = next(line for line in lines if line.lstrip().startswith("run "))
    rows = [line for line in lines if line.lstrip().startswith("01")]
    assert len(rows) == 2
    assert all(len(line) <= width for line in lines), result.stdout
    shown = [name for name in ("accuracy", "f1", "n_test") if f" {name}" in header]
    assert shown[:1] == ["accuracy"]  # at least the first headline metric, always
    for row in rows:
        cells = row.split()
        if "f1" in shown:
            assert "0.9497" in cells
        if "n_test" in shown:
            assert "142" in cells  # not "14", cut by the terminal's edge
    if width >= 160:
        assert shown == ["accuracy", "f1", "n_test"]
        assert "tags" in header  # the runs are tagged: a wide terminal shows it
        assert all("sweep" in row for row in rows)


def test_an_empty_list_says_why_it_is_empty(store: Path, tmp_path: Path) -> None:
    # It told a store with no runs, listed without filters, to 'drop --tag / --metric'.
    with reprolam.open(tmp_path / "empty", create=True):
        pass
    empty = CliRunner().invoke(cli, ["--store", str(tmp_path / "empty"), "runs"])
    assert empty.exit_code == 0, empty.output
    assert "no runs in this store yet" in empty.stdout
    assert "--tag" not in empty.stdout
    none_tagged = CliRunner().invoke(cli, ["--store", str(store), "runs", "--tag", "nope"])
    assert none_tagged.exit_code == 0, none_tagged.output
    assert "no runs match --tag / --metric: drop them" in none_tagged.stdout


def test_a_misspelled_metric_names_the_metrics_the_runs_have(store: Path) -> None:
    # 'runs --metric acuracy' listed nothing and said only 'no runs match --tag / --metric'
    for args in (["--metric", "acuracy"], ["--metric", "acuracy", "--json"]):
        result = CliRunner().invoke(cli, ["--store", str(store), "runs", *args])
        assert result.exit_code == 0, result.output
        assert result.stderr == (
            "note: no run has a headline metric 'acuracy'; theirs are accuracy, f1, n_test: "
            "e.g. --metric accuracy\n"
        )
    assert (
        CliRunner()
        .invoke(cli, ["--store", str(store), "runs", "--json", "--metric", "acuracy"])
        .stdout.strip()
        == "[]"
    )
    known = CliRunner().invoke(cli, ["--store", str(store), "runs", "--metric", "f1"])
    assert known.stderr == ""


def test_a_misspelled_tag_names_the_tags_the_runs_have(store: Path, tmp_path: Path) -> None:
    # 'runs --tag swep' listed nothing and said only 'no runs match --tag / --metric'
    result = CliRunner().invoke(cli, ["--store", str(store), "runs", "--tag", "swep"])
    assert result.exit_code == 0, result.output
    assert (
        result.stderr == "note: no run is tagged 'swep'; their tags are sweep: e.g. --tag sweep\n"
    )
    with reprolam.open(tmp_path / "untagged") as rl:
        rl.run(FLOW)
    untagged = CliRunner().invoke(
        cli, ["--store", str(tmp_path / "untagged"), "runs", "--tag", "x"]
    )
    assert untagged.stderr == "note: no run has a tag yet: `reprolam tag RUN x` adds one\n"
