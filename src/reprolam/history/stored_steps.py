"""The steps of a trace as verification sees them, read from stored rows or from records.

Verifying a stored step needs its place (run, index, chain hashes), what it is (kind,
status, action), the artifacts it refers to, whether its row could be decoded, and its
content hash recomputed. ``TraceStep`` holds exactly that. From a stored row it is built
without decoding params or proposal into a record: the hash is recomputed from the row's
own texts (``trace.row_hash``), each checked to be one JSON object of its kind; any row
that does not pass takes the record path (``step_from_row`` + ``step_hash``), so it is
judged exactly as before.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import chain
from typing import Any, NamedTuple

from blake3 import blake3

from reprolam.trace._rows import (
    ROW_DAMAGE,
    _big_int_in,
    _dict,
    _digest_map,
    _error_in,
    from_json,
    step_from_row,
)
from reprolam.trace._step_decode import KINDS, STEP_STATUSES, parse_digest_map
from reprolam.trace.contract import StepRow, TraceStore
from reprolam.trace.records import StepKind, StepRecord, StepStatus, step_hash
from reprolam.trace.row_hash import row_step_hash

STREAM_PAGE = 256  # steps read at once when a trace is streamed (and artifacts checked)

_SEEN = 64  # digest-map texts kept decoded while a trace streams


class TraceStep(NamedTuple):
    """One step of a trace, as much of it as verifying the trace needs."""

    run_id: str
    index: int  # type: ignore[assignment]  # shadows tuple.index, as StepRecord names it
    kind: StepKind
    action: str
    status: StepStatus
    inputs: dict[str, str]
    outputs: dict[str, str]
    prev_hash: str
    hash: str | None
    damaged: str | None  # why the stored row could not be decoded
    content_hash: str | None  # recomputed from the content; None for a started step


def from_record(step: StepRecord) -> TraceStep:
    finished = step.status is not StepStatus.STARTED
    return TraceStep(
        step.run_id,
        step.index,
        step.kind,
        step.action,
        step.status,
        step.inputs,
        step.outputs,
        step.prev_hash,
        step.hash,
        step.damaged,
        step_hash(step) if finished else None,
    )


class Texts:
    """JSON texts of step rows decoded lately: a run repeats them from step to step (a
    step's outputs are the next one's inputs, the very same text; the same proposal
    metadata, the same empty params), so each is decoded once while it keeps coming.
    Bounded: forgotten past ``_SEEN`` of either kind."""

    __slots__ = ("hasher", "maps", "objects", "strings")

    def __init__(self) -> None:
        self.maps: dict[str, dict[str, str]] = {}  # text -> digest map (shared: never changed)
        self.objects: set[str] = set()  # texts that are one JSON object
        self.strings: dict[Any, str] = {}  # JSON texts by source (``row_step_hash``)
        self.hasher = blake3()  # one for all the steps (``row_step_hash``)

    def digest_map(self, text: str) -> dict[str, str]:
        found = self.maps.get(text)
        if found is None:
            if len(self.maps) >= _SEEN:
                self.maps.clear()
            found = self.maps[text] = _parsed_map(text)
        return found

    def check_object(self, text: str) -> None:
        if text not in self.objects:
            _dict(from_json(text))
            if len(self.objects) >= _SEEN:
                self.objects.clear()
            self.objects.add(text)


def _parsed_map(text: str) -> dict[str, str]:
    """``_rows._digest_map(text)``: the same map, or the same exception, with fewer calls in
    the common case (a text as reprolam writes it)."""
    try:
        return parse_digest_map(text)
    except (StopIteration, TypeError, ValueError):
        return _digest_map(text)  # raises what the record path would


def from_row(row: StepRow, texts: Texts | None = None) -> TraceStep:
    """The step a stored row holds, hashed from its texts; the record path for any row that
    is not as reprolam writes it (damaged, not canonical, or not matching its hash)."""
    if texts is None:
        texts = Texts()
    maps, objects = texts.maps, texts.objects
    try:
        kind = KINDS[row[2]]
        status = STEP_STATUSES[row[4]]
        inputs = maps.get(row[9]) or texts.digest_map(row[9])
        outputs = maps.get(row[10]) or texts.digest_map(row[10])
        # Each text must be one JSON value of its kind: the hash covers their concatenation,
        # so a boundary moved between two of them would otherwise go unseen.
        if row[8] not in objects:
            texts.check_object(row[8])
        if row[14] not in objects:
            texts.check_object(row[14])
        error = row[13]
        if error is not None:
            _error_in(error)
        seed = row[11]
        if type(seed) is str:
            seed = _big_int_in(seed)
    except ROW_DAMAGE:
        return from_record(step_from_row(row))
    if status is StepStatus.STARTED:
        content = None
    else:
        try:
            content = row_step_hash(row, seed, texts.strings, texts.hasher)
        except (TypeError, ValueError):  # a column no JSON holds (a blob): damaged
            return from_record(step_from_row(row))
        if content != row[17]:
            return from_record(step_from_row(row))  # tampered, or texts not canonical
    return _new_step(
        TraceStep,
        (row[0], row[1], kind, row[3], status, inputs, outputs, row[16], row[17], None, content),
    )


_new_step = tuple.__new__  # a NamedTuple without its Python-level __new__ (once per step)


def stream_trace(store: TraceStore, run_id: str, page: int = STREAM_PAGE) -> Iterator[TraceStep]:
    """The run's whole trace (inherited steps included) in index order, from its stored
    rows, ``page`` steps at a time: memory stays bounded whatever the run's length."""
    return chain.from_iterable(stream_pages(store, run_id, page))


def stream_pages(
    store: TraceStore, run_id: str, page: int = STREAM_PAGE
) -> Iterator[list[TraceStep]]:
    """``stream_trace`` a page of steps at a time."""
    run = store.get_run(run_id)
    if run.parent_id is None or not run.fork_index:
        # Not a fork: its own rows are the whole trace (what ``step_rows_between`` reads,
        # without looking the run up again for every page).
        def rows(start: int, stop: int | None) -> list[StepRow]:
            return store.own_step_rows(run_id, start, stop)
    else:

        def rows(start: int, stop: int | None) -> list[StepRow]:
            return store.step_rows_between(run_id, start, stop)

    start = 0
    seen = Texts()
    while True:
        chunk = rows(start, start + page)
        if not chunk:  # the end, or a gap of a whole page (a damaged store): read the rest
            rest = rows(start, None)
            if rest:
                yield [from_row(row, seen) for row in rest]
            return
        yield [from_row(row, seen) for row in chunk]
        start += page
