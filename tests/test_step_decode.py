"""The fast decoding of stored step rows (``trace._step_decode``) gives exactly the records
the reference decoding gives, damaged rows included, and records that share nothing."""

from __future__ import annotations

import dataclasses
import gc
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from reprolam.trace import _rows, _step_decode, field_kinds
from reprolam.trace.records import ErrorInfo, RunRecord, StepKind, StepRecord, StepStatus
from reprolam.trace.sqlite import SQLiteStore
from test_tamper_columns import record_scenario


def reference(row: tuple[Any, ...]) -> StepRecord:
    """What ``step_from_row`` gave before the fast path: every field through its decoder."""
    try:
        return _rows._step_from_row(row)
    except _rows.ROW_DAMAGE as exc:
        return _rows._damaged_step(row, exc)


def step(index: int, **fields: Any) -> StepRecord:
    base: dict[str, Any] = {
        "run_id": "run-1",
        "index": index,
        "kind": StepKind.ACTION,
        "action": "inc",
        "status": StepStatus.SUCCEEDED,
        "started_at": 1796095183.2622056,
        "action_version": "1",
        "fingerprint": "f" * 64,
        "inputs": {"x": "a" * 64},
        "outputs": {"x": "b" * 64},
        "seed": 2671153663,
        "duration": 1.0584000847302377e-05,
        "proposal": {"planner": "chain"},
        "prev_hash": "c" * 64,
        "hash": "d" * 64,
    }
    return StepRecord(**{**base, **fields})


OBSERVED = {
    "planner": "rules",
    "observed": {"effects": [{"kind": "file_write", "target": "out.txt", "count": 2}]},
}
STEPS = [
    step(0, params={"base": 1, "scale": 0.5, "name": "é\u001f", "flag": True, "none": None}),
    step(1),
    step(2, inputs={"x": "b" * 64}, outputs={"y": "e" * 64, "z": "f" * 64}),
    step(3, proposal=OBSERVED),
    step(4, proposal=OBSERVED, params={"grid": [1, 2, [3]], "nested": {"a": {}}}),
    step(5, seed=2**70, status=StepStatus.FAILED, error=ErrorInfo("ValueError", "boom", "tb")),
    step(6, kind=StepKind.REJECTION, status=StepStatus.REJECTED, inputs={}, outputs={}),
    step(7, status=StepStatus.STARTED, duration=None, hash=None, recovers=5, seed=None),
    step(8, params={"text": "[not a list]", "brace": "{"}),
    step(9, params={"text": "[not a list]", "brace": "{"}),
]
ROWS = [_rows.step_to_row(s) for s in STEPS]


def test_rows_as_written_decode_to_the_records_written() -> None:
    decoded = _rows.steps_from_rows(ROWS)
    assert decoded == STEPS
    assert decoded == [reference(row) for row in ROWS]
    for record in decoded:
        assert type(record) is StepRecord
        assert record.damaged is None
        assert record.rendered is None
        with pytest.raises(dataclasses.FrozenInstanceError):
            record.action = "other"  # type: ignore[misc]


def test_the_fast_path_fills_every_field_of_step_record() -> None:
    # A field added to StepRecord must be decoded here too (else every row would take the
    # slower reference decoding): this names the place to add it.
    assert _step_decode.FAST, "add the new StepRecord field to trace/_step_decode.py"


def test_records_read_together_share_no_mutable_value() -> None:
    decoded = _rows.steps_from_rows(ROWS)
    decoded[1].inputs["x"] = "changed"
    decoded[1].proposal["planner"] = "changed"
    decoded[3].proposal["observed"]["effects"].append("changed")
    decoded[8].params["brace"] = "changed"
    again = _rows.steps_from_rows(ROWS)
    assert again == STEPS
    assert decoded[0].outputs == {"x": "b" * 64}  # step 1's inputs text repeats it
    assert decoded[2].proposal == {"planner": "chain"}
    assert decoded[4].proposal == OBSERVED
    assert decoded[9].params == {"text": "[not a list]", "brace": "{"}


HOSTILE: list[Any] = [
    None,
    3,
    2.5,
    b"{}",
    "",
    "{oops",
    " {}",
    "{} ",
    "{}{}",
    "[]",
    '"text"',
    "null",
    '{"x":1}',
    '{"x":["' + "a" * 64 + '"]}',
    '{"x":null}',
    '{"a":1,"a":2}',
    '{"x":"\\u005b"}',
    '{"x":NaN}',
    "mystery",
    "action",
    "succeeded",
    "123456789012345678901234567890",
    "12x",
    True,
    -1,
    2**62,
    1e300,
    float("inf"),
    float("nan"),
    '{"type":"E","message":"m"}',
    '{"type":"E","message":1}',
    '{"type":"E","message":"m","extra":"x"}',
]


@pytest.mark.parametrize("column", range(len(_rows.STEP_COLUMNS)))
def test_every_hand_edited_column_decodes_as_the_reference_decodes(column: int) -> None:
    for original in ROWS:
        for value in HOSTILE:
            row = (*original[:column], value, *original[column + 1 :])
            expected = reference(row)
            assert _rows.step_from_row(row) == expected, (_rows.STEP_COLUMNS[column], value)
            assert _rows.steps_from_rows([original, row, original]) == [
                reference(original),
                expected,
                reference(original),
            ]


RUN_ROW = _rows.run_to_row(
    RunRecord(
        id="run-1", workflow="w", seed=0, created_at=1796095183.26, parent_id="run-0",
        fork_index=2, finished_at=1796095184.5, environment="e" * 64, error="boom",
        verifies="run-0", header_hash="h" * 64, seal="s" * 64, verdict="identical",
    )
)  # fmt: skip


@pytest.mark.parametrize("column", range(len(_rows.RUN_COLUMNS)))
def test_the_quick_test_of_a_run_rows_scalars_agrees_with_their_checks(column: int) -> None:
    for value in [*HOSTILE, True, -1, 2**62, 1e300, float("inf"), float("nan"), 0.0]:
        row = (*RUN_ROW[:column], value, *RUN_ROW[column + 1 :])
        try:
            _rows._check_scalars(row, _rows._RUN_CHECKS)
        except field_kinds.WrongKind:
            passes = False
        else:
            passes = True
        assert _rows._run_scalars_plain(row) is passes, (_rows.RUN_COLUMNS[column], value)


def test_a_recorded_run_reads_back_as_the_reference_decodes(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path) as store:
        run_id = record_scenario(store)
        steps = store.own_steps(run_id)
    with closing(sqlite3.connect(tmp_path / "trace.db")) as conn:
        columns = ", ".join(_rows.STEP_COLUMNS)
        rows = conn.execute(
            f"SELECT {columns} FROM steps WHERE run_id = ? ORDER BY idx", (run_id,)
        ).fetchall()
    assert any(row[13] is not None for row in rows)  # an error record, and a recovery
    assert steps == [reference(row) for row in rows]


def test_reading_steps_pauses_the_collector_and_resumes_it_as_it_was() -> None:
    seen: list[bool] = []

    def rows() -> Iterator[tuple[Any, ...]]:
        for row in ROWS:
            seen.append(gc.isenabled())
            yield row

    assert gc.isenabled()
    assert _rows.steps_from_rows(rows()) == STEPS
    assert seen == [False] * len(ROWS)
    assert gc.isenabled()

    def failing() -> Iterator[tuple[Any, ...]]:
        yield ROWS[0]
        raise sqlite3.OperationalError("disk I/O error")

    with pytest.raises(sqlite3.OperationalError):
        _rows.steps_from_rows(failing())
    assert gc.isenabled()

    gc.disable()  # a caller that paused it keeps it paused
    try:
        assert _rows.steps_from_rows(rows()) == STEPS
        assert not gc.isenabled()
    finally:
        gc.enable()
