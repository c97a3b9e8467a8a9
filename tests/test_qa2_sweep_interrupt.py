"""Ctrl-C in a sweep says how to finish it: the same command with --reuse (what finished
is reused, not executed again) -- it only said how to resume one interrupted point."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import reprolam
from reprolam.cli.sweep_cmd import _reports_interruption
from reprolam.trace import RunStatus


def test_the_interruption_line_says_how_to_finish_the_sweep(
    capsys: pytest.CaptureFixture[str],
) -> None:
    finished: list[Any] = [SimpleNamespace(run=SimpleNamespace(id="01a2-finished-point"))]
    with pytest.raises(SystemExit) as stopped, _reports_interruption(finished):
        raise KeyboardInterrupt
    assert stopped.value.code == 130  # 128 + SIGINT, as the shell reports Ctrl-C
    line = capsys.readouterr().err.strip()
    assert "\n" not in line
    assert line.startswith("error: interrupted: the sweep stopped; 1 finished point kept")
    assert line.endswith(
        "to finish the sweep, run the same command again with --reuse: what finished is "
        "reused, not executed again"
    )


def test_ctrl_c_stops_running_points_before_their_next_step(tmp_path: Path) -> None:
    # Ctrl-C reaches only the main thread: the points running in the sweep's threads went on
    # to their end (every later step executed) while the sweep said it had stopped.
    flow = f"{Path(__file__).with_name('sweep_flow.py')}:flow"
    with reprolam.open(tmp_path / "store") as rl:
        parent = rl.run(flow)
        store = tmp_path / "store"

        def when_both_fit() -> None:  # Ctrl-C once both points are in their slow step
            for _ in range(600):
                with reprolam.open(store) as watcher:
                    forks = [r for r in watcher.store.list_runs() if r.id != parent.id]
                    fitting = [
                        r
                        for r in forks
                        if "fit" in [s.action for s in watcher.store.own_steps(r.id)]
                    ]
                if len(fitting) == 2:
                    break
                time.sleep(0.05)
            os.kill(os.getpid(), signal.SIGINT)

        ctrl_c = threading.Thread(target=when_both_fit, daemon=True)
        ctrl_c.start()
        try:
            with pytest.raises(KeyboardInterrupt):
                rl.sweep(
                    parent.id,
                    at="fit",
                    grid={"fit.C": [1.0, 2.0]},
                    set={"fit.delay": 2.0},
                    jobs=2,
                )
        finally:
            ctrl_c.join()
        points = [r for r in rl.store.list_runs() if r.id != parent.id]
        assert len(points) == 2
        for run in points:
            assert run.status is RunStatus.INTERRUPTED
            assert "score" not in [s.action for s in rl.store.own_steps(run.id)]
