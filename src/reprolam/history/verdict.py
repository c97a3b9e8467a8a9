"""The verdict of a reproduction: did re-executing the original give what was recorded?

One function, so exports, pictures and the UI say the same thing. It is derived here by
comparing the reproduction's trace with the original's (``compare_steps``); when runs
record their own verdict (issue 13), this function will read that field instead and
nothing that calls it changes.
"""

from __future__ import annotations

from typing import Literal

from reprolam.errors import NotFoundError
from reprolam.history.compare import compare_steps
from reprolam.trace.contract import TraceStore
from reprolam.trace.records import RunRecord, RunStatus

Verdict = Literal["identical", "within-tolerance", "diverged"]


def verdict_of(store: TraceStore, run: RunRecord, *, rtol: float | None = None) -> Verdict | None:
    """``identical``, ``within-tolerance`` or ``diverged`` for a reproduction; None otherwise.

    None also for a reproduction still running, or whose original is not in ``store`` (the
    comparison needs both). ``rtol``: accept outputs equal within that relative tolerance
    (``within-tolerance``); without it only bitwise equality reproduces.
    """
    if run.verifies is None or run.status is RunStatus.RUNNING:
        return None
    try:
        original = store.get_run(run.verifies)
    except NotFoundError:
        return None
    comparison = compare_steps(
        store.steps(original.id), store.steps(run.id), rtol=rtol, store=store
    )
    if comparison.divergence is not None:
        return "diverged"
    return "identical" if comparison.bitwise else "within-tolerance"
