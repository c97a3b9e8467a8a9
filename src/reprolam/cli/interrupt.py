"""Ctrl-C while a command executes a run: one line naming the run and how to continue it.

The engine has already recorded the run as ``interrupted`` (every step that finished is
kept) and re-raised ``KeyboardInterrupt``; click would only say "aborted". The run is found
by this process's pid, recorded on every run it writes.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

from reprolam.trace.leases import go_on

if TYPE_CHECKING:
    from reprolam.trace.records import RunRecord


@contextmanager
def reports_interruption(client: Any, run: str | None = None) -> Iterator[None]:
    """Turn Ctrl-C into ``error: interrupted: run X ...; continue it with reprolam resume X``.

    ``run``: the run being continued (``resume``), else the newest runs are searched."""
    started = time.time()
    try:
        yield
    except KeyboardInterrupt:
        from reprolam._interrupts import hold_interrupts

        hold_interrupts()  # a second Ctrl-C: this line is still said (reports_errors releases)
        from reprolam.cli.main import EXIT_INTERRUPTED

        found = _interrupted(client, run, started)
        if found is None:
            click.echo("error: interrupted (Ctrl-C): no run was recorded", err=True)
        else:
            steps = _finished_steps(client, found.id)
            click.echo(
                f"error: interrupted: run {found.id} is recorded as interrupted ({steps} "
                f"finished step{'s' * (steps != 1)} kept); {go_on(found.id, found.verifies)}",
                err=True,
            )
        sys.exit(EXIT_INTERRUPTED)


def _finished_steps(client: Any, run: str) -> int:
    """The steps that finished (the one the Ctrl-C stopped is recorded too, as started: resume
    executes it again, so it is not counted as kept)."""
    from reprolam.trace.records import StepStatus

    return sum(step.status is not StepStatus.STARTED for step in client.store.steps(run))


def _interrupted(client: Any, run: str | None, started: float) -> RunRecord | None:
    from reprolam.trace.records import RunStatus

    candidates: list[RunRecord]
    try:
        store = client.store
        candidates = [store.get_run(store.resolve_run_id(run))] if run else client.runs(limit=32)
    except Exception:  # the store itself was what failed: say what we can
        return None
    for record in candidates:
        if record.pid != os.getpid():
            continue
        if record.status is RunStatus.INTERRUPTED and (record.finished_at or 0) >= started - 1:
            return record
        # A second Ctrl-C that came before the engine recorded the first: the run is left
        # running, and marked interrupted by the next process to open the store (this one's
        # lease ends with it), so it is this command's run all the same.
        if record.status is RunStatus.RUNNING and (run or record.created_at >= started - 1):
            return record
    return None
