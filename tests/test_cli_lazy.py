"""Whole-process start-up guards: ``reprolam --help`` finds its width without shutil, exactly
as click would with it, and loads no command module, shutil, rich or the engine; ``runs``
loads neither the engine, the codecs nor the scientific stack."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click import formatting

import reprolam
from reprolam import action, workflow
from reprolam.cli.main import help_width


def _click_width(max_width: int) -> int:
    """What click's HelpFormatter computes when no width is given (its own code path)."""
    return max(min(shutil.get_terminal_size().columns, max_width) - 2, 50)


@pytest.mark.parametrize("columns", ["60", "100", "200", "30", "0", "-5", "wide", None])
@pytest.mark.parametrize("max_width", [80, 100])
def test_help_width_is_clicks_width(
    monkeypatch: pytest.MonkeyPatch, columns: str | None, max_width: int
) -> None:
    monkeypatch.setattr(formatting, "FORCED_WIDTH", None)
    if columns is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", columns)
    assert help_width(max_width) == _click_width(max_width)


def test_a_forced_width_is_left_to_click(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(formatting, "FORCED_WIDTH", 72)
    assert help_width(100) is None


def test_help_loads_no_command_module_shutil_or_engine() -> None:
    code = (
        "import sys\n"
        "sys.argv = ['reprolam', '--help']\n"
        "from reprolam.cli import start\n"
        "try:\n"
        "    start()\n"
        "finally:\n"
        "    loaded = [m for m in sys.modules if m.endswith('_cmd') or m in "
        "('shutil', 'reprolam.cli.options', 'reprolam.engine', 'reprolam.trace', 'rich')]\n"
        "    print('LOADED', sorted(loaded))\n"
    )
    env = {**os.environ, "COLUMNS": "90"}
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    listed = {line.split()[0]: line for line in lines if line[:2] == "  " and line[2] != " "}
    assert "Plan, execute and record" in listed["run"]
    assert done.stdout.strip().splitlines()[-1] == "LOADED []"


@action(outputs=["metrics"])
def score() -> dict[str, float]:
    return {"accuracy": 0.5}


TINY = workflow("lazy-tiny", [score], outputs=["metrics"], metrics="metrics")
HEAVY = (
    "numpy",
    "pandas",
    "sklearn",
    "scipy",
    "pydantic",
    "reprolam.engine",
    "reprolam.codecs._frame",
)


@pytest.mark.parametrize("as_json", [False, True])
def test_runs_loads_no_engine_codecs_or_scientific_stack(tmp_path: Path, as_json: bool) -> None:
    store = tmp_path / "store"
    with reprolam.open(store) as rl:
        rl.run(TINY, planner="script")
    args = ["reprolam", "--store", str(store), "runs", *(["--json"] if as_json else [])]
    code = (
        "import sys\n"
        f"sys.argv = {args!r}\n"
        "from reprolam.cli import start\n"
        "try:\n"
        "    start()\n"
        "finally:\n"
        f"    print('LOADED', sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    *output, loaded = done.stdout.strip().splitlines()
    assert loaded == "LOADED []"
    if as_json:
        (listed,) = json.loads("\n".join(output))
        assert listed["workflow"] == "lazy-tiny"
        assert listed["metrics"] == {"accuracy": 0.5}
    else:
        assert "lazy-tiny" in "\n".join(output)
