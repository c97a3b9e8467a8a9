"""The verdict of a reproduction: did re-executing the original give what was recorded?

One function, so exports, pictures and the UI say the same thing. ``reproduce`` records
the verdict on the reproducing run; for runs recorded before it did (or to judge with
another tolerance) it is derived by comparing the reproduction's trace with the original's
(``compare_steps``).
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
    if rtol is None and run.verdict in ("identical", "within-tolerance", "diverged"):
        return run.verdict  # type: ignore[return-value]  # checked just above
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
