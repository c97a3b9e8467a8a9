"""Stored step rows -> ``StepRecord``s, fast: reading a 10,000-step run decodes 10,000 rows.

``_rows.step_from_row`` is the reference decoding (every field through its checked decoder,
a damaged row salvaged and marked). ``decode_step`` here is its fast path: it returns only
records equal to what the reference gives, and raises for every row it does not take (a
damaged one, or merely an unusual one: a step with an error record), which the reference
then decodes. Two costs dominate and are cut:

- Building the record. A frozen dataclass's ``__init__`` sets each of StepRecord's 20 slots
  through ``object.__setattr__``: more than half of decoding a row went there. The record
  is built by ``reprolam._frozen.builder`` instead (filled in without the frozen
  ``__setattr__``, then made a StepRecord).
- Decoding JSON texts. Each is scanned by the C scanner directly (no Python-level
  ``raw_decode``), and ``DecodedTexts`` decodes a text once while a run keeps repeating it
  (a step's outputs are the next step's inputs, the very same text; the same proposal
  metadata step after step). Records never share a dict: a repeat is a copy of one that
  holds no containers (digest maps, flat objects), so a shallow copy is a full one.
"""

from __future__ import annotations

import json
from dataclasses import fields
from typing import Any

from reprolam._frozen import builder
from reprolam.trace.field_kinds import LATEST
from reprolam.trace.records import StepKind, StepRecord, StepStatus

KINDS = {k.value: k for k in StepKind}
STEP_STATUSES = {s.value: s for s in StepStatus}

_REMEMBERED = 64  # texts of each kind kept decoded (a run's repeats are close together)


# a record without the frozen __init__ (``reprolam._frozen``): one per row read
_step_record = builder(StepRecord)
_PASSED = (  # what decode_step passes, in order: a field added to StepRecord needs one
    "run_id", "index", "kind", "action", "status", "started_at", "action_version",
    "fingerprint", "params", "inputs", "outputs", "seed", "duration", "error", "proposal",
    "recovers", "prev_hash", "hash", "damaged",
)  # fmt: skip
FAST = tuple(f.name for f in fields(StepRecord) if f.init) == _PASSED  # else: the reference
_scan = json.JSONDecoder().scan_once  # type: ignore[attr-defined]  # C: (value, end) at a position


class DecodedTexts:
    """JSON object texts decoded lately, for one read of many rows (never shared across
    threads or handed out: callers get copies)."""

    __slots__ = ("maps", "objects")

    def __init__(self) -> None:
        self.maps: dict[str, dict[str, str]] = {"{}": {}}  # text -> its digest map
        self.objects: dict[str, dict[str, Any]] = {"{}": {}}  # flat object text -> its object

    def digest_map(self, text: str) -> dict[str, str]:
        """Names -> artifact digests (step inputs, outputs): one JSON object of strings."""
        value = parse_digest_map(text)
        if len(self.maps) >= _REMEMBERED:
            self.maps.clear()
            self.maps["{}"] = {}
        self.maps[text] = value
        return value.copy()

    def object(self, text: str) -> dict[str, Any]:
        """One JSON object (params, proposal)."""
        value = _object(text)
        # Kept only when no value is a container (no '[' and no '{' but the first, in
        # strings or not): then a shallow copy shares nothing mutable.
        if "[" not in text and text.find("{", 1) < 0:
            if len(self.objects) >= _REMEMBERED:
                self.objects.clear()
                self.objects["{}"] = {}
            self.objects[text] = value
            return value.copy()
        return value


def parse_digest_map(text: str) -> dict[str, str]:
    """A digest map's text as reprolam writes it (one JSON object of strings), decoded; for
    any other text ``ValueError``, ``TypeError`` or ``StopIteration``: the caller's checked
    decoder then says what is wrong."""
    value = _object(text)
    for digest in value.values():
        if type(digest) is not str:
            raise TypeError("an artifact reference is not a digest")
    return value


def _object(text: str) -> dict[str, Any]:
    value, end = _scan(text, 0)  # TypeError if not text, StopIteration if no JSON value
    if end != len(text) or type(value) is not dict:
        raise ValueError("not one JSON object")
    return value


def decode_step(row: tuple[Any, ...], texts: DecodedTexts) -> StepRecord:
    """The record ``_rows.step_from_row`` gives for ``row``, or an exception for any row
    that needs the reference decoding (``ValueError``, ``TypeError``, ``KeyError``,
    ``StopIteration``)."""
    (run_id, index, kind, action, status, started, version, fingerprint, params_text,
     inputs_text, outputs_text, seed, duration, error, proposal_text, recovers, prev_hash,
     hashed) = row  # fmt: skip
    if error is not None or not FAST:  # an error record (rare), or StepRecord changed
        raise ValueError("a step row for the reference decoding")
    # The scalars hold what reprolam writes (``field_kinds.STEP_SCALARS``), else the
    # reference decoding says which does not: a cheap test, on every row read.
    if not (
        type(index) is int
        and index >= 0
        and type(started) in _NUMBERS
        and 0 <= started < LATEST
        and type(run_id) is type(action) is type(version) is type(fingerprint) is str
        and type(prev_hash) is str
        and (duration is None or (type(duration) in _NUMBERS and duration - duration == 0))
        and (recovers is None or (type(recovers) is int and recovers >= 0))
        and (hashed is None or type(hashed) is str)
        and (seed is None or type(seed) is int or type(seed) is str)
    ):
        raise ValueError("a scalar column for the reference decoding to check")
    # Each text is looked up among those decoded lately (a copy of its value), else decoded.
    maps = texts.maps
    objects = texts.objects
    found = objects.get(params_text)
    params = texts.object(params_text) if found is None else found.copy()
    found = maps.get(inputs_text)
    inputs = texts.digest_map(inputs_text) if found is None else found.copy()
    found = maps.get(outputs_text)
    outputs = texts.digest_map(outputs_text) if found is None else found.copy()
    found = objects.get(proposal_text)
    proposal = texts.object(proposal_text) if found is None else found.copy()
    return _step_record(
        run_id, index, KINDS[kind], action, STEP_STATUSES[status], started, version,
        fingerprint, params, inputs, outputs,
        int(seed) if type(seed) is str else seed,  # beyond 64 bits: decimal text
        duration, None, proposal, recovers, prev_hash, hashed, None,
    )  # fmt: skip


_NUMBERS = (int, float)
