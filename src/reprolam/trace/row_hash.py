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


_int_text = int.__repr__
_float_text = float.__repr__


def row_step_hash(
    row: tuple[Any, ...],
    seed: Any,
    strings: dict[Any, str] | None = None,
    hasher: Any = None,
) -> str:
    """The step hash of ``row`` from its stored texts; ``seed`` is its seed decoded (seeds
    beyond 64 bits are stored as decimal text).

    ``strings``: JSON texts already written, by what they were written from (a run repeats
    its id, and its action names, versions and fingerprints, from step to step); filled as
    it goes, bounded. ``hasher``: an empty ``blake3`` hasher to use (and leave empty) rather
    than making one per step (the caller's own: hashers are not shared between threads).
    """
    if strings is None:
        strings = {}
    elif len(strings) > _STRINGS:
        strings.clear()
    (run_id, index, kind, action, status, started_at, version, fingerprint, params, inputs,
     outputs, _, duration, error, proposal, recovers, prev_hash) = row[:HASH]  # fmt: skip
    # What a run repeats, written once: its id, and the five texts naming what a step did.
    what = (kind, action, status, version, fingerprint)
    try:
        head = (
            f"[{encode_basestring(prev_hash)},{strings.get(run_id) or _written(strings, run_id)},"
            f"{_int_text(index) if type(index) is int else _scalar(index)},"
            f"{strings.get(what) or _written_what(strings, what)}"
        )
    except TypeError:  # a column holding something else than text (a hand-edited row)
        fields = (PREV_HASH, RUN_ID, INDEX, KIND, ACTION, STATUS, ACTION_VERSION, FINGERPRINT)
        head = canonical_json([row[i] for i in fields])[:-1]
    # The scalars' canonical texts, the common types written directly (a finite float is
    # its repr; ``x - x`` is 0.0 only for those: inf and nan are written otherwise).
    seed_text = _int_text(seed) if type(seed) is int else _scalar(seed)
    started_text = (
        _float_text(started_at)
        if type(started_at) is float and started_at - started_at == 0.0
        else _scalar(started_at)
    )
    duration_text = (
        _float_text(duration)
        if type(duration) is float and duration - duration == 0.0
        else _scalar(duration)
    )
    text = (
        f"{head},{params},{inputs},{outputs},{seed_text},{started_text},{duration_text},"
        f"{'null' if error is None else error},{proposal},"
        f"{'null' if recovers is None else _scalar(recovers)}]"
    )
    if hasher is None:
        return blake3(text.encode("utf-8", "surrogatepass")).hexdigest()
    # (An ASCII text, as step texts are, encodes the same without the error handler.)
    hasher.update(text.encode() if text.isascii() else text.encode("utf-8", "surrogatepass"))
    digest: str = hasher.digest().hex()  # as hexdigest(), which is slower
    hasher.reset()
    return digest


_STRINGS = 256


def _written(strings: dict[Any, str], text: Any) -> str:
    """``text`` as a JSON string, remembered (TypeError if it is not text: see the caller)."""
    if type(text) is not str:
        raise TypeError(f"{type(text).__name__} is not text")
    written = strings[text] = encode_basestring(text)
    return written


def _written_what(strings: dict[Any, str], what: tuple[Any, ...]) -> str:
    """Kind, action, status, version and fingerprint as JSON strings joined by commas,
    remembered (TypeError if one is not text)."""
    for text in what:
        if type(text) is not str:
            raise TypeError(f"{type(text).__name__} is not text")
    written = strings[what] = ",".join(map(encode_basestring, what))
    return written
