"""The metrics index against the run it indexes (for ``audit``).

``run_metrics`` (what ``runs --metric`` filters and sorts by) is derived data kept beside the
trace, not hashed into it, like run-state snapshots: audit recomputes it from the run's
metrics output, whose bytes the trace verifies, and reports an index that says otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping

from reprolam.errors import ReprolamError
from reprolam.history.annotate import headline_metrics
from reprolam.history.metrics import metrics_output
from reprolam.trace.contract import TraceStore
from reprolam.trace.queries import RunQuery, numeric_metrics
from reprolam.trace.records import RunRecord


def metrics_index_problem(store: TraceStore, run: RunRecord) -> str | None:
    """Why the run's indexed metrics are not its metrics output's numbers, or None (also for
    a run not indexed yet, and when either side cannot be read: other checks say why)."""
    try:
        rows = store.query_runs(RunQuery(ids=(run.id,), limit=1)).rows
        if not rows or not rows[0].indexed:
            return None
        indexed = dict(rows[0].metrics)
        name = metrics_output(store, run)
        key = run.outputs.get(name) if name else None
        if key is not None:
            store.get_artifact(key)  # a damaged output is the artifacts check's finding
        recorded = numeric_metrics(headline_metrics(store, run))
    except ReprolamError:
        return None
    return index_disagreement(run.id, indexed, recorded)


def index_disagreement(
    run_id: str, indexed: Mapping[str, float], recorded: Mapping[str, float]
) -> str | None:
    """Why a run's indexed metrics are not its recorded ones (None when they agree)."""
    if indexed == recorded:
        return None
    names = sorted(set(indexed) | set(recorded))
    wrong = [n for n in names if indexed.get(n) != recorded.get(n)]
    said = ", ".join(f"{n}={indexed.get(n)!r}" for n in wrong[:3])
    true = ", ".join(f"{n}={recorded.get(n)!r}" for n in wrong[:3])
    return (
        f"the metrics index of run {run_id} says {said}, its metrics output {true}: the index "
        "was edited outside reprolam; runs lists filter and sort by it (their values are read "
        "from the output)"
    )
