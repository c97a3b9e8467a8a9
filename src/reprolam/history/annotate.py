"""Tags, notes and headline metrics: what a runs list shows beside each run.

``headline_metrics`` is how every list, comparison, page and index reads a run's headline
metrics (the output its workflow declares as ``Workflow.metrics``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from reprolam.errors import ConfigError, StoreError
from reprolam.trace.contract import TraceStore
from reprolam.trace.queries import Annotation, RunPage, numeric_metrics
from reprolam.trace.records import FINISHED, RunRecord

INDEX_BATCH = 500


def headline_metrics(store: TraceStore, run: RunRecord) -> dict[str, Any] | None:
    """The run's headline metrics (a JSON dict output), or None when it has none."""
    from reprolam.history.metrics import final_metrics

    return final_metrics(store, run)


def index_metrics(store: TraceStore, *, limit: int | None = None) -> int:
    """Index the headline metrics of finished runs not indexed yet (newest first).

    Derived data, kept beside the trace so runs lists filter and sort by metrics without
    reading artifacts. Returns how many runs were indexed; stops at the first write a
    read-only store refuses.
    """
    done = 0
    while limit is None or done < limit:
        batch = INDEX_BATCH if limit is None else min(INDEX_BATCH, limit - done)
        pending = store.runs_without_metrics(limit=batch)
        if not pending:
            break
        for run_id in pending:
            if not index_run(store, store.get_run(run_id)):
                return done  # a store we may only read: lists read artifacts instead
            done += 1
        if len(pending) < batch:
            break
    return done


def index_page(store: TraceStore, page: RunPage) -> RunPage:
    """The page again, after indexing the metrics of its finished runs not indexed yet.

    Costs at most a page of artifact reads, once per run; a page already indexed costs nothing.
    """
    pending = [r.run for r in page.rows if not r.indexed and r.run.status in FINISHED]
    if not pending:
        return page
    for run in pending:
        if not index_run(store, run):
            return _read_metrics(store, page)  # a store we may only read
    return store.query_runs(page.query)


def _read_metrics(store: TraceStore, page: RunPage) -> RunPage:
    """The page with the metrics of its unindexed finished runs read from their outputs: a
    store this process may not write keeps no index for them (they showed none)."""
    rows = [
        replace(row, metrics=_metrics_of(store, row.run))
        if not row.indexed and row.run.status in FINISHED
        else row
        for row in page.rows
    ]
    return replace(page, rows=rows)


def _metrics_of(store: TraceStore, run: RunRecord) -> dict[str, float]:
    try:
        return numeric_metrics(headline_metrics(store, run))
    except Exception:  # a damaged output is audit's business, not the runs list's
        return {}


def index_run(store: TraceStore, run: RunRecord) -> bool:
    """Index one run's metrics (replacing what was indexed); False if the store refuses the
    write (read-only)."""
    try:
        metrics = headline_metrics(store, run)
    except Exception:  # a damaged output is audit's business, not the runs list's
        metrics = None
    try:
        store.put_metrics(run.id, numeric_metrics(metrics))
    except StoreError:
        return False
    return True


def tag(store: TraceStore, run_ref: str, names: Iterable[str]) -> list[Annotation]:
    """Tag a run (full id or unique prefix); returns the run's annotations afterwards."""
    run_id = store.resolve_run_id(run_ref)
    now = time.time()
    tags = [Annotation(run_id, "tag", name, now) for name in names]
    if not tags:
        raise ConfigError("no tag given: name at least one tag")
    store.add_annotations(tags)
    return store.annotations(run_id)


def note(store: TraceStore, run_ref: str, text: str) -> list[Annotation]:
    """Attach a note to a run; returns the run's annotations afterwards."""
    run_id = store.resolve_run_id(run_ref)
    store.add_annotations([Annotation(run_id, "note", text, time.time())])
    return store.annotations(run_id)
