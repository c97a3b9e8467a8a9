"""Ctrl-C in a sweep says how to finish it: the same command with --reuse (what finished
is reused, not executed again) -- it only said how to resume one interrupted point."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from reprolam._interrupts import release_interrupts
from reprolam.cli.sweep_cmd import _reports_interruption


def test_the_interruption_line_says_how_to_finish_the_sweep(
    capsys: pytest.CaptureFixture[str],
) -> None:
    finished: list[Any] = [SimpleNamespace(run=SimpleNamespace(id="01a2-finished-point"))]
    try:
        with pytest.raises(SystemExit) as stopped, _reports_interruption(finished):
            raise KeyboardInterrupt
    finally:  # it holds a second Ctrl-C off until the command ends (reports_errors gives it back)
        release_interrupts()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert stopped.value.code == 130  # 128 + SIGINT, as the shell reports Ctrl-C
    line = capsys.readouterr().err.strip()
    assert "\n" not in line
    assert line.startswith("error: interrupted: the sweep stopped; 1 finished point kept")
    assert line.endswith(
        "to finish the sweep, run the same command again with --reuse: what finished is "
        "reused, not executed again"
    )


_SWEEP_THEN_CTRL_C = """
import os, signal, sys, threading, time
import reprolam
store, flow = sys.argv[1], sys.argv[2]
with reprolam.open(store) as rl:
    parent = rl.run(flow)

    def when_both_fit():  # Ctrl-C once both points are in their slow step
        for _ in range(1200):
            with reprolam.open(store) as watcher:
                forks = [r for r in watcher.store.list_runs() if r.id != parent.id]
                steps = [watcher.store.own_steps(r.id) for r in forks]
                fitting = [r for r in steps if any(s.action == "fit" for s in r)]
            if len(fitting) == 2:
                break
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=when_both_fit, daemon=True).start()
    try:
        rl.sweep(parent.id, at="fit", grid={"fit.C": [1.0, 2.0]}, set={"fit.delay": 2.0}, jobs=2)
    except KeyboardInterrupt:
        print("INTERRUPTED")
    for run in rl.store.list_runs():
        if run.id != parent.id:
            actions = [s.action for s in rl.store.own_steps(run.id)]
            print("POINT", run.status.value, "score" in actions)
"""


def test_ctrl_c_stops_running_points_before_their_next_step(tmp_path: Path) -> None:
    # Ctrl-C reaches only the main thread: the points running in the sweep's threads went on
    # to their end (every later step executed) while the sweep said it had stopped. In its own
    # process: Ctrl-C is delivered to a process's main thread.
    flow = f"{Path(__file__).with_name('sweep_flow.py')}:flow"
    done = subprocess.run(
        [sys.executable, "-c", _SWEEP_THEN_CTRL_C, str(tmp_path / "store"), flow],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    lines = done.stdout.splitlines()
    assert lines[0] == "INTERRUPTED", done.stdout + done.stderr
    assert sorted(lines[1:]) == ["POINT interrupted False", "POINT interrupted False"]
