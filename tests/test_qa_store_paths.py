"""A mistyped --store: reading commands say there is no store there and create nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from reprolam.cli.main import cli

RUN = "01a22f9d-6de3-72c2-afdb-8505f12060d4"

READERS = [
    ["runs"],
    ["runs", "--json"],
    ["show", RUN],
    ["replay", RUN],
    ["reproduce", RUN],
    ["audit", RUN, "--json"],
    ["resume", RUN],
    ["fork", RUN, "--at", "1"],
    ["sweep", RUN, "--at", "1", "--grid", "a.b=1,2"],
    ["diff", RUN, RUN],
    ["compare", RUN, RUN],
    ["get", RUN, "metrics"],
    ["tag", RUN, "best"],
    ["note", RUN, "text"],
    ["export", RUN, "--format", "dot"],
    ["ui", "--port", "0"],
]


@pytest.mark.parametrize("args", READERS, ids=lambda a: " ".join(a[:1] + a[2:3]))
def test_a_command_reading_a_missing_store_names_it_and_creates_nothing(
    tmp_path: Path, args: list[str]
) -> None:
    typo = tmp_path / "my-stor"
    result = CliRunner().invoke(cli, ["--store", str(typo), *args])
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"error: there is no trace store in {typo}")
    assert "recording a run creates one" in line  # how one is made
    assert result.stdout == ""
    assert not typo.exists()


def test_run_still_creates_the_store_it_is_given(tmp_path: Path) -> None:
    flows = tmp_path / "flows.py"
    flows.write_text(
        "from reprolam import action, workflow\n"
        "@action(outputs=['x'])\n"
        "def one() -> int:\n    return 1\n"
        "flow = workflow('one', [one], outputs=['x'])\n"
    )
    store = tmp_path / "new-store"
    result = CliRunner().invoke(cli, ["--store", str(store), "run", f"{flows}:flow"])
    assert result.exit_code == 0, result.output
    assert (store / "trace.db").is_file()
    listed = CliRunner().invoke(cli, ["--store", str(store), "runs"])
    assert listed.exit_code == 0, listed.output


@pytest.mark.parametrize(
    "verb",
    ["runs", "show", "replay", "audit", "reproduce", "resume", "get", "export"],
)
def test_module_level_reads_of_a_missing_store_create_nothing(tmp_path: Path, verb: str) -> None:
    import reprolam
    from reprolam.errors import NotFoundError

    typo = tmp_path / "my-stor"
    calls = {
        "runs": lambda: reprolam.runs(store=typo),
        "show": lambda: reprolam.show(RUN, store=typo),
        "replay": lambda: reprolam.replay(RUN, store=typo),
        "audit": lambda: reprolam.audit(RUN, store=typo),
        "reproduce": lambda: reprolam.reproduce(RUN, store=typo),
        "resume": lambda: reprolam.resume(RUN, store=typo),
        "get": lambda: reprolam.get(RUN, "metrics", store=typo),
        "export": lambda: reprolam.export(RUN, store=typo, format="dot"),
    }
    with pytest.raises(NotFoundError, match="there is no trace store in"):
        calls[verb]()
    assert not typo.exists()


def test_a_store_given_as_its_database_file_names_the_directory_to_pass(tmp_path: Path) -> None:
    """--store .reprolam/trace.db said 'there is no trace store in .reprolam/trace.db (no
    trace.db)', which reads as if the file were missing."""
    store = tmp_path / "store"
    made = CliRunner().invoke(cli, ["--store", str(store), "run", "--planner", "rules"])
    assert made.exit_code == 0, made.output
    result = CliRunner().invoke(cli, ["--store", str(store / "trace.db"), "runs"])
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: {store / 'trace.db'} is a store's database file, not its directory: pass {store}\n"
    )
