"""The engine's composed step rows and hashes (trace.step_frame) are byte for byte the ones
the reference serialization (``_rows.render_step``, ``records.step_hash``) gives, for plain
and unusual values alike: old runs verify, new runs verify anywhere."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from reprolam.context import derive_seed, seed_after, seed_prefix
from reprolam.trace._rows import render_step
from reprolam.trace.records import ErrorInfo, StepKind, StepRecord, StepStatus, step_hash
from reprolam.trace.step_frame import MICROS_MAX, SECONDS_MAX, StepFrame, micros_text

DIGEST = "ab" * 32
ODD_TEXTS = ["", "plain", 'quo"te\\', "é ü 中文", "\u2028\n\t\x00", "\ud800 lone", "emoji 🎉"]


def _started(frame: StepFrame, **fields: Any) -> StepRecord:
    base: dict[str, Any] = {
        "index": 3,
        "started_at": 1_700_000_000.123456,
        "params": {},
        "inputs": {"x": DIGEST},
        "seed": 12345,
        "proposal": {"planner": "chain"},
        "recovers": None,
        "prev_hash": "cd" * 32,
    }
    base.update(fields)
    return frame.started(**base)


def _reference(step: StepRecord) -> StepRecord:
    """The same record, rendered by the reference path."""
    copy = replace(step)
    return render_step(copy)


def _check(frame: StepFrame, step: StepRecord, finish: dict[str, Any]) -> StepRecord:
    """Check a started record and its finished one against the reference; the finished."""
    expected_started = StepRecord(
        run_id=step.run_id,
        index=step.index,
        kind=StepKind.ACTION,
        action=frame.action,
        status=StepStatus.STARTED,
        started_at=step.started_at,
        action_version=frame.version,
        fingerprint=frame.fingerprint,
        params=step.params,
        inputs=step.inputs,
        seed=step.seed,
        proposal=step.proposal,
        recovers=step.recovers,
        prev_hash=step.prev_hash,
    )
    assert step == expected_started
    assert step.rendered == render_step(replace(expected_started)).rendered
    assert frame.render_started(replace(step)).rendered == step.rendered
    finished = frame.finish(step, **finish)
    assert step == expected_started  # the started record is left as it was
    reference = _reference(finished)
    assert finished.hash == step_hash(finished) == reference.hash
    assert finished.rendered == reference.rendered
    return finished


@pytest.mark.parametrize("text", ODD_TEXTS)
def test_odd_names_and_texts_compose_the_reference_bytes(text: str) -> None:
    frame = StepFrame(
        f"run {text}", f"act{text}", f"v{text}", f"fp{text}", inputs=[text, "b"], outputs=[text]
    )
    step = _started(
        frame,
        inputs={text: DIGEST, "b": text},
        params={text: [1, 2.5, None], "k": text},
        proposal={"planner": text, "rationale": text},
        prev_hash=text,
    )
    _check(
        frame,
        step,
        {
            "failed": False,
            "outputs": {text: text},
            "duration": 0.1234567,
            "error": None,
            "proposal": step.proposal,
        },
    )


@pytest.mark.parametrize(
    ("seed", "started_at", "duration", "recovers"),
    [
        (0, 0.0, 0.0, None),
        (2**64 + 1, -0.0, 1e-300, 0),  # a seed beyond 64 bits: text in the row, exact in hash
        (-5, 1e22, 123456.7891234, 7),
        (np.int64(42), 1.5, 2.0, True),  # numpy scalars and a bool go through the encoder
        (None, float(np.float32(0.1)), 3.0, 2),
    ],
)
def test_numbers_compose_the_reference_bytes(
    seed: Any, started_at: float, duration: float, recovers: Any
) -> None:
    frame = StepFrame("r", "inc", "1", "f" * 64, inputs=["x"], outputs=["x"])
    step = _started(frame, seed=seed, started_at=started_at, recovers=recovers)
    _check(
        frame,
        step,
        {
            "failed": False,
            "outputs": {"x": DIGEST},
            "duration": duration,
            "error": None,
            "proposal": step.proposal,
        },
    )


def test_special_floats_compose_the_reference_bytes() -> None:
    frame = StepFrame("r", "inc", "1", "fp", inputs=["x"], outputs=["x"])
    for value in (math.inf, -math.inf, math.nan):
        step = _started(frame, started_at=value)
        _check(
            frame,
            step,
            {"failed": False, "outputs": {}, "duration": value, "error": None, "proposal": {}},
        )


def test_failures_partial_outputs_and_changed_proposals_compose_the_reference_bytes() -> None:
    frame = StepFrame("r", "split", "2", "fp", inputs=["a", "b"], outputs=["left", "right"])
    cases = [
        # failed, with an error and the outputs saved before it (a subset of the declared)
        {"outputs": {"left": DIGEST}, "error": ErrorInfo("ValueError", "bad é", "tb\n")},
        # failed with nothing saved
        {"outputs": {}, "error": ErrorInfo("UndeclaredEffect", "refused")},
        # succeeded with the declared outputs and an observation added to the proposal
        {"outputs": {"right": DIGEST, "left": "cd" * 32}, "error": None, "observed": True},
        # outputs under other names than declared (a plug-in executor's): the reference path
        {"outputs": {"other": DIGEST, "right": DIGEST}, "error": None},
    ]
    for case in cases:
        step = _started(frame, inputs={"b": DIGEST, "a": "ef" * 32})
        proposal = step.proposal
        if case.get("observed"):
            proposal = {**proposal, "observed": {"output": DIGEST, "printed": 3}}
        _check(
            frame,
            step,
            {
                "failed": case["error"] is not None,
                "outputs": case["outputs"],
                "duration": 0.5,
                "error": case["error"],
                "proposal": proposal,
            },
        )


def test_inputs_other_than_declared_take_the_reference_path() -> None:
    frame = StepFrame("r", "inc", "1", "fp", inputs=["x"], outputs=["x"])
    for inputs in ({}, {"y": DIGEST}, {"x": DIGEST, "y": DIGEST}, {"x": 5}):
        step = _started(frame, inputs=inputs)
        finish = {"failed": True, "outputs": {}, "duration": 0.1, "error": None}
        _check(frame, step, {**finish, "proposal": step.proposal})


def test_a_started_record_is_a_frozen_step_record_of_its_own() -> None:
    frame = StepFrame("r", "inc", "1", "fp", inputs=["x"], outputs=["x"])
    one, two = _started(frame), _started(frame)
    assert type(one) is StepRecord
    assert one == two
    assert one.outputs is not two.outputs  # each record holds its own dict
    with pytest.raises(AttributeError):
        one.index = 9  # type: ignore[misc]


def test_seed_prefixes_derive_the_same_seeds() -> None:
    for root in (0, 1, 2**40, -3):
        for label in ("inc", "é/x", ""):
            prefix = seed_prefix(root, label)
            for occurrence in (0, 1, 17, 10**6):
                assert seed_after(prefix, occurrence) == derive_seed(root, label, occurrence)
    assert seed_after(seed_prefix(7), "x") == derive_seed(7, "x")


def test_micros_text_is_the_repr_of_that_many_millionths() -> None:
    """Exhaustively up to 1.1 seconds (the exponent forms, the leading and trailing zeros),
    then across the whole range: wall-clock times of today and of the next two centuries."""
    for us in range(1_100_000):
        assert micros_text(us) == repr(us / 1e6), us
    rng = np.random.default_rng(7)
    edges = [MICROS_MAX - 1, 10**15, 10**15 - 1, 2**52, 1_700_000_000_000_000, 1_000_000_000]
    for us in [*edges, *(int(u) for u in rng.integers(0, MICROS_MAX, 300_000))]:
        assert micros_text(us) == repr(us / 1e6), us
    assert float(SECONDS_MAX) * 1_000_000 == MICROS_MAX


@pytest.mark.parametrize(
    ("started_at", "duration"),
    [
        (1_796_186_588.600223, 2.5e-05),  # whole microseconds: composed from integers
        (1_796_186_588.6002231, 2.51234e-05),  # finer than that: the float's own repr
        (0.0, 0.0),
        (float(2**33), float(2**33)),  # beyond the range the integer texts cover
        (1e-7, 3.0000004),
    ],
)
def test_times_to_the_microsecond_compose_the_reference_bytes(
    started_at: float, duration: float
) -> None:
    frame = StepFrame("r", "inc", "1", "f" * 64, inputs=["x"], outputs=["x"])
    step = _started(frame, started_at=started_at)
    finish = {"failed": False, "outputs": {"x": DIGEST}, "duration": duration, "error": None}
    finished = _check(frame, step, {**finish, "proposal": step.proposal})
    assert finished.duration == round(duration, 6)  # kept to the microsecond
