"""``runs`` counts a run's steps from its trace, not from a snapshot an edit can inflate.

Run-state snapshots are derived data beside the trace (audit checks them; forks and resumes
check a snapshot's head before using it). The runs list took its step counts from the
latest snapshot unchecked: a snapshot row edited to cover 500 steps made a 5-step run list
500, exit 0. The count is now the last step's index + 1, read on the key (one index seek per
run), on SQLite and PostgreSQL; a fork counts what it inherits.
"""

from __future__ import annotations

import reprolam
from reprolam import action, workflow
from reprolam.trace.queries import RunQuery
from test_tamper_columns import Backend, backend

__all__ = ["backend"]


@action(outputs=["n"])
def one() -> int:
    return 1


@action(outputs=["m"])
def two(n: int) -> int:
    return n + 1


FLOW = workflow("two-steps", [one, two], outputs=["m"])


def _counts(backend: Backend) -> dict[str, int]:
    with backend.open() as store:
        return {row.run.id: row.steps for row in store.query_runs(RunQuery(limit=10)).rows}


def test_an_inflated_snapshot_does_not_change_the_count(backend: Backend) -> None:
    with backend.open() as store:
        run = reprolam.run(FLOW, store=store, planner="script").id
        forked = reprolam.fork(run, store=store, at=1, workflow=FLOW).id
        empty = reprolam.fork(run, store=store, at=2, workflow=FLOW).id  # nothing left to run
        assert store.snapshots(run)
    assert _counts(backend) == {run: 2, forked: 2, empty: 2}
    p = backend.param
    backend.execute(f"UPDATE run_snapshots SET steps = 500 WHERE run_id = {p}", (run,))
    assert _counts(backend) == {run: 2, forked: 2, empty: 2}
