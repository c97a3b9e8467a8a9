"""Start-up guards: what `--help` and `show` import (whole-process speed depends on it)."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import reprolam
from reprolam import action, workflow
from reprolam.cli.main import LAZY_COMMANDS, cli

HEAVY = ("numpy", "pandas", "sklearn", "scipy", "pydantic")


def _imported_after(args: list[str]) -> tuple[str, list[str]]:
    """Run the CLI with ``args`` in a fresh interpreter: its output and the heavy modules loaded."""
    code = (
        "import sys\n"
        "from reprolam.cli.main import cli\n"
        f"cli.main({args!r}, standalone_mode=False)\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    *output, heavy = done.stdout.strip().splitlines()
    return "\n".join(output), json.loads(heavy.replace("'", '"'))


def test_help_lists_lazy_commands_without_importing_their_modules() -> None:
    code = (
        "import sys\n"
        "from reprolam.cli.main import cli\n"
        "cli.main(['--help'], standalone_mode=False)\n"
        "print(sorted(m for m in sys.modules if m.endswith('_cmd')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert "sweep" in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize("name", sorted(LAZY_COMMANDS))
def test_each_lazy_summary_is_the_first_paragraph_of_its_command_help(name: str) -> None:
    """--help lists lazy commands from LAZY_COMMANDS: it must say what their own help says."""
    target, summary = LAZY_COMMANDS[name]
    module, _, attr = target.partition(":")
    command = getattr(importlib.import_module(module), attr)
    assert isinstance(command, click.Command)
    assert command.help is not None
    assert command.help.split("\n\n")[0] == summary
    assert command.short_help is None  # else click would list short_help, not the summary


def test_help_lists_every_command_as_the_commands_themselves_would() -> None:
    listed = CliRunner().invoke(cli, ["--help"]).output
    group = cli
    assert isinstance(group, click.Group)
    ctx = click.Context(group, info_name="reprolam")
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None
        assert f"  {name} " in listed
        assert command.get_short_help_str(limit=45).split("...")[0] in listed


@action(outputs=["metrics"])
def score(*, k: int = 2) -> dict[str, float]:
    """A step with a param, captured output and a headline metric."""
    print("scoring")
    return {"accuracy": 0.25 * k}


TINY = workflow("tiny", [score], outputs=["metrics"], metrics="metrics")


@pytest.mark.parametrize("as_json", [False, True])
def test_show_imports_no_numpy_pandas_sklearn_or_pydantic(tmp_path: Path, as_json: bool) -> None:
    store = tmp_path / "store"
    run_id = reprolam.run(TINY, store=str(store), planner="script").run.id
    args = ["--store", str(store), "show", run_id, *(["--json"] if as_json else [])]
    output, heavy = _imported_after(args)
    assert heavy == []
    if as_json:
        shown = json.loads(output)
        assert shown["metrics"] == {"accuracy": 0.5}
        assert shown["steps"][0]["captured"]["stdout"] == "scoring\n"
    else:
        assert "score" in output
        assert "k=2" in output
        assert "metrics: accuracy=0.5000" in output
        assert "scoring" in output


def test_only_the_reprolam_process_freezes_its_imports(tmp_path: Path) -> None:
    """``gc.freeze`` suits a process that runs one command; a caller of ``cli`` keeps its GC."""
    import gc

    before = gc.get_freeze_count()
    done = CliRunner().invoke(cli, ["--store", str(tmp_path), "run", "--json"])
    assert done.exit_code == 0, done.output
    assert gc.get_freeze_count() == before
    code = (
        "import gc, sys\n"
        f"sys.argv = ['reprolam', '--store', {str(tmp_path / 'p')!r}, 'run', '--json']\n"
        "from reprolam.cli.main import main\n"
        "try:\n"
        "    main()\n"
        "finally:\n"
        "    print('frozen', gc.get_freeze_count() > 0, file=sys.stderr)\n"
    )
    ran = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False
    )
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["steps"] == 5
    assert "frozen True" in ran.stderr
