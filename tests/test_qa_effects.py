"""A new user's first `reprolam run`: library import-time clock reads are not the action's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import reprolam
from reprolam import action, workflow
from reprolam.trace.memory import MemoryStore


def _effects(step: object) -> list[dict[str, object]]:
    return list(getattr(step, "proposal", {}).get("observed", {}).get("effects", []))


def test_a_clock_read_by_a_function_a_module_calls_while_it_is_imported_is_not_the_actions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """dateutil builds its default parser at import (``parser()`` reads ``time.localtime()``):
    pandas imported for the first time inside a pure action must not count as a clock read."""
    (tmp_path / "builds_at_import.py").write_text(
        "import time\n"
        "class Parser:\n"
        "    def __init__(self):\n"
        "        self.year = time.localtime().tm_year\n"
        "DEFAULT = Parser()\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("builds_at_import", None)

    @action(outputs=["n"], determinism="pure")
    def imports_a_module_building_a_parser() -> int:
        import builds_at_import

        return int(builds_at_import.DEFAULT.year > 0)

    @action(outputs=["n"], determinism="pure")
    def reads_the_clock_through_a_class() -> int:
        import builds_at_import

        return int(builds_at_import.Parser().year > 0)  # called by the action: a real read

    flow = workflow("f", [imports_a_module_building_a_parser], outputs=["n"])
    with reprolam.open(MemoryStore()) as rl:
        run = rl.run(flow)
        assert [_effects(s) for s in run.steps] == [[]]
        read = rl.run(workflow("g", [reads_the_clock_through_a_class], outputs=["n"]))
    ((effect,),) = [_effects(s) for s in read.steps]
    assert effect["kind"] == "clock"


@pytest.mark.slow
def test_the_quick_start_run_in_a_fresh_process_observes_no_undeclared_effect(
    tmp_path: Path,
) -> None:
    """The README's first command, as a new user runs it: its steps show no effect line."""
    env = {**os.environ, "REPROLAM_STORE": str(tmp_path / "store")}
    env.pop("REPROLAM_LLM_BASE_URL", None)
    cmd = [sys.executable, "-m", "reprolam"]
    done = subprocess.run([*cmd, "run"], env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "undeclared" not in done.stderr
    listed = subprocess.run(
        [*cmd, "runs", "--json"], env=env, capture_output=True, text=True, check=True
    )
    run_id = json.loads(listed.stdout)[0]["id"]
    shown = subprocess.run(
        [*cmd, "show", run_id, "--json"], env=env, capture_output=True, text=True, check=True
    )
    steps = json.loads(shown.stdout)["steps"]
    assert [s.get("effects") for s in steps if s.get("effects")] == []
