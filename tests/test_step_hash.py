"""The step hash is composed from per-field JSON texts; it must equal the canonical JSON of
the whole field list that earlier versions hashed (stored chains must keep verifying)."""

from __future__ import annotations

from dataclasses import asdict, replace
from typing import Any

import numpy as np
import pytest

from reprolam.hashing import canonical_json_bytes, digest
from reprolam.trace import _rows
from reprolam.trace.records import ErrorInfo, StepKind, StepRecord, StepStatus, step_hash
from reprolam.trace.step_frame import StepFrame


def reference_hash(step: StepRecord) -> str:
    content = [
        step.prev_hash,
        step.run_id,
        step.index,
        step.kind.value,
        step.action,
        step.status.value,
        step.action_version,
        step.fingerprint,
        step.params,
        step.inputs,
        step.outputs,
        step.seed,
        step.started_at,
        step.duration,
        asdict(step.error) if step.error else None,
        step.proposal,
        step.recovers,
    ]
    return digest(canonical_json_bytes(content))


CASES: list[dict[str, Any]] = [
    {},
    {"params": {"b": [1, 2.5, None], "a": {"z": 'é\u2028\n"', "y": True}}},
    {"seed": 2**80, "recovers": 3, "duration": float("nan")},
    {"seed": None, "started_at": -0.0, "duration": float("inf")},
    {"error": ErrorInfo("ValueError", "naïve \ud800 surrogate", "Traceback…")},
    {"action": 'quote"d\\action', "fingerprint": "", "prev_hash": ""},
    {"proposal": {"planner": "llm", "decision": {"raw": ["x", {"k": 1e-300}]}}, "outputs": {}},
    {"kind": StepKind.REJECTION, "status": StepStatus.REJECTED, "action": ""},
    # not the declared types: the encoder's own rules apply (numpy scalars, bools)
    {"seed": np.int64(7), "duration": np.float64(0.5), "recovers": True},
    {"started_at": 1764547200, "action_version": 2},
]


@pytest.mark.parametrize("fields", CASES)
def test_the_composed_hash_equals_the_canonical_json_of_every_field(fields: dict[str, Any]) -> None:
    base: dict[str, Any] = {
        "run_id": "0192-run",
        "index": 7,
        "kind": StepKind.ACTION,
        "action": "train",
        "status": StepStatus.SUCCEEDED,
        "started_at": 1764547200.123456,
        "action_version": "2",
        "fingerprint": "f" * 64,
        "params": {"C": 1.0},
        "inputs": {"X": "a" * 64},
        "outputs": {"model": "b" * 64},
        "seed": 1234,
        "duration": 0.25,
        "proposal": {"planner": "rules"},
        "prev_hash": "c" * 64,
    }
    step = StepRecord(**{**base, **fields})
    assert step_hash(step) == reference_hash(step)
    rendered = _rows.render_step(StepRecord(**{**base, **fields}))
    assert rendered.hash == reference_hash(step)
    assert _rows.step_to_row(rendered) == (*_rows.step_to_row(step)[:-1], rendered.hash)


def test_finishing_renders_what_a_fresh_record_would() -> None:
    started = StepRecord(
        run_id="r",
        index=0,
        kind=StepKind.ACTION,
        action="a",
        status=StepStatus.STARTED,
        started_at=1.5,
        params={"p": 1},
        inputs={"x": "d" * 64},
        proposal={"planner": "rules"},
    )
    frame = StepFrame("r", "a", started.action_version, started.fingerprint, inputs=["x"])
    frame.render_started(started)
    assert started.hash is None
    assert started.rendered == _rows.render_step(replace(started)).rendered
    grown = {**started.proposal, "observed": {"printed": 3}}
    error = ErrorInfo("RuntimeError", "boom")
    finished = frame.finish(started, True, {}, 0.5, error, grown)
    assert started.status is StepStatus.STARTED  # left as journaled
    assert started.hash is None
    fresh = StepRecord(
        run_id="r",
        index=0,
        kind=StepKind.ACTION,
        action="a",
        status=StepStatus.FAILED,
        started_at=1.5,
        params={"p": 1},
        inputs={"x": "d" * 64},
        duration=0.5,
        error=error,
        proposal=grown,
    )
    assert finished.hash == reference_hash(fresh)
    assert finished == _rows.render_step(fresh)
    assert _rows.step_to_row(finished) == _rows.step_to_row(fresh)
    assert "rendered" not in finished.to_dict()
