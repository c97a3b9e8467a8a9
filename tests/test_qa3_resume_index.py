"""A resumed run's metrics index says what it holds after the resume.

Listing the store while a run was interrupted indexed its metrics as none (it had none
yet); ``resume`` then finished it with metrics, the index kept the empty entry, and
``audit`` reported the run as ``tampered`` ("the index was edited outside reprolam") while
``runs --metric`` left it out. ``resume`` now re-indexes the run it finished.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import reprolam
from reprolam import action, workflow
from reprolam.history.annotate import index_page

STOP = {"once": True}


@action(outputs=["a"])
def first() -> float:
    return 0.25


@action(outputs=["metrics"], determinism="nondeterministic")
def last(a: float) -> dict[str, float]:
    if STOP["once"]:
        STOP["once"] = False
        raise KeyboardInterrupt  # Ctrl-C while the step runs: the run is interrupted
    return {"loss": a}


FLOW = workflow("resume-index", [first, last], outputs=["metrics"])


def test_resume_reindexes_the_metrics_listed_while_interrupted(tmp_path: Path) -> None:
    STOP["once"] = True
    with reprolam.open(tmp_path / "store") as rl:
        with pytest.raises(KeyboardInterrupt):
            rl.run(FLOW)
        (run,) = rl.runs()
        assert run.status.value == "interrupted"
        listed = index_page(rl.store, rl.query(limit=10))  # as `reprolam runs` and the UI do
        assert not listed.rows[0].indexed  # an interrupted run may change: not indexed yet
        assert dict(listed.rows[0].metrics) == {}
        resumed = rl.resume(run.id)
        assert resumed.metrics == {"loss": 0.25}
        assert dict(rl.query(metric="loss").rows[0].metrics) == {"loss": 0.25}
        report = rl.audit(run.id)
        assert report.clean, [p.message for p in report.problems]
