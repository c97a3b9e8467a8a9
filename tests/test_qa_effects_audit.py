"""README's strict-effects example: the refused step is a visible failure, not an audit gap."""

from __future__ import annotations

import random
from pathlib import Path

import reprolam
from reprolam import action, workflow
from reprolam.trace.records import StepStatus


@action(outputs=["x"])
def draws_from_the_global_rng() -> float:
    return random.random()


def test_a_step_refused_after_it_ran_has_a_complete_error_record(tmp_path: Path) -> None:
    """The global RNG is seen used once the action has returned: there is no traceback to
    keep (as for a timeout), and the failure is fully visible without one."""
    flow = workflow("strict", [draws_from_the_global_rng], outputs=["x"])
    with reprolam.open(tmp_path / "store") as rl:
        run = rl.run(flow, policy={"effects": "strict"})
        (step,) = run.steps
        assert step.status is StepStatus.FAILED
        assert step.error is not None
        assert step.error.type == "UndeclaredEffect"
        report = rl.audit(run.id)
    assert [p.kind for p in report.problems] == []
    assert report.clean
    assert report.metrics["failure_visibility"] == 1.0
