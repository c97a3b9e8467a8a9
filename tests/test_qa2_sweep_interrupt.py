"""Ctrl-C in a sweep says how to finish it: the same command with --reuse (what finished
is reused, not executed again) -- it only said how to resume one interrupted point."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from reprolam.cli.sweep_cmd import _reports_interruption


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
