"""A step's hash recomputed from its stored row: the texts the store holds, not decoded.

``records.step_hash`` composes the hash from the canonical JSON texts of a step's dict
fields (``records.StepTexts``); the store row holds those very texts. Hashing them as
stored skips decoding and re-encoding every field, which is most of a replay's cost.

This hash equals ``step_hash(step_from_row(row))`` whenever the row's texts are canonical
(as reprolam writes them; ``tests/test_row_hash.py`` pins it). It says nothing about a row
whose texts are not: its caller must then fall back to decoding it
(``history.stored_steps``). It is also only as strong as the row's field boundaries: the
JSON texts are concatenated, so each must be checked to be one JSON value of its kind
before a match means anything (the same bytes split differently give the same hash).
"""

from __future__ import annotations

from json.encoder import encode_basestring
from typing import Any

from blake3 import blake3

from reprolam.hashing import canonical_json, scalar_json

# Positions in a step row (``trace._rows.STEP_COLUMNS``).
RUN_ID, INDEX, KIND, ACTION, STATUS, STARTED_AT, ACTION_VERSION, FINGERPRINT = range(8)
PARAMS, INPUTS, OUTPUTS, SEED, DURATION, ERROR, PROPOSAL, RECOVERS, PREV_HASH, HASH = range(8, 18)


def _scalar(value: Any) -> str:
    text = scalar_json(value)
    return canonical_json(value) if text is None else text


def row_step_hash(row: tuple[Any, ...], seed: Any, strings: dict[str, str] | None = None) -> str:
    """The step hash of ``row`` from its stored texts; ``seed`` is its seed decoded (seeds
    beyond 64 bits are stored as decimal text).

    ``strings``: JSON strings already written, by text (a run repeats its id, the action
    names, versions and fingerprints from step to step); filled as it goes, bounded.
    """
    if strings is None:
        strings = {}
    elif len(strings) > _STRINGS:
        strings.clear()
    e = encode_basestring  # the function canonical_json writes strings with
    index = row[INDEX]
    try:
        head = (
            f"[{e(row[PREV_HASH])},"
            f"{strings.get(row[RUN_ID]) or _written(strings, row[RUN_ID])},"
            f"{int.__repr__(index) if type(index) is int else _scalar(index)},"
            f"{strings.get(row[KIND]) or _written(strings, row[KIND])},"
            f"{strings.get(row[ACTION]) or _written(strings, row[ACTION])},"
            f"{strings.get(row[STATUS]) or _written(strings, row[STATUS])},"
            f"{strings.get(row[ACTION_VERSION]) or _written(strings, row[ACTION_VERSION])},"
            f"{strings.get(row[FINGERPRINT]) or _written(strings, row[FINGERPRINT])}"
        )
    except TypeError:  # a column holding something else than text (a hand-edited row)
        fields = (PREV_HASH, RUN_ID, INDEX, KIND, ACTION, STATUS, ACTION_VERSION, FINGERPRINT)
        head = canonical_json([row[i] for i in fields])[:-1]
    s = _scalar
    recovers, error = row[RECOVERS], row[ERROR]
    text = (
        f"{head},{row[PARAMS]},{row[INPUTS]},{row[OUTPUTS]},"
        f"{s(seed)},{s(row[STARTED_AT])},{s(row[DURATION])},"
        f"{'null' if error is None else error},{row[PROPOSAL]},"
        f"{'null' if recovers is None else s(recovers)}]"
    )
    return blake3(text.encode("utf-8", "surrogatepass")).hexdigest()


_STRINGS = 256


def _written(strings: dict[str, str], text: Any) -> str:
    """``text`` as a JSON string, remembered (TypeError if it is not text: see the caller)."""
    if type(text) is not str:
        raise TypeError(f"{type(text).__name__} is not text")
    written = strings[text] = encode_basestring(text)
    return written
