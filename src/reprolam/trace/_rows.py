"""Records <-> flat rows of plain values: the one serialization every backend shares.

Dict fields become canonical JSON text, enums their values, seeds beyond 64 bits decimal
text. Every backend stores these rows and rebuilds records from them, so all backends
round-trip records identically (tuples come back as lists, as JSON has it), and records
handed out are built fresh: mutating one cannot change stored history.

Also here: the error messages both backends raise for the same mistakes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from reprolam._collector import collector_paused
from reprolam.errors import IntegrityError, NotFoundError, StoreError
from reprolam.hashing import canonical_json
from reprolam.trace._step_decode import (
    KINDS,
    STEP_STATUSES,
    DecodedTexts,
    decode_step,
)
from reprolam.trace.blobs import StoredBlob
from reprolam.trace.contract import Producer
from reprolam.trace.field_kinds import (
    LATEST,
    NUMBERS,
    RUN_SCALARS,
    STEP_SCALARS,
    TEXT,
    WHOLE,
    Check,
    WrongKind,
    check,
    optional,
)
from reprolam.trace.records import (
    ArtifactRecord,
    ErrorInfo,
    RunRecord,
    RunStatus,
    StepKind,
    StepRecord,
    StepStatus,
    json_field,
    seal,
    step_texts,
)

RUN_COLUMNS = (
    "id",
    "workflow",
    "seed",
    "created_at",
    "planner",
    "policy",
    "environment",
    "status",
    "finished_at",
    "parent_id",
    "fork_index",
    "overrides",
    "outputs",
    "error",
    "host",
    "pid",
    "verifies",
    "header_hash",
    "seal",
    "verdict",
)
STEP_COLUMNS = (
    "run_id",
    "idx",
    "kind",
    "action",
    "status",
    "started_at",
    "action_version",
    "fingerprint",
    "params",
    "inputs",
    "outputs",
    "seed",
    "duration",
    "error",
    "proposal",
    "recovers",
    "prev_hash",
    "hash",
)

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_CONVERSION_ERRORS = (TypeError, ValueError, AttributeError, RecursionError)
_DAMAGE = (ValueError, TypeError, KeyError)  # what a hand-edited row can make decoding raise
ROW_DAMAGE = (*_DAMAGE, AttributeError, RecursionError)  # ... a whole row, nested texts included


to_json = canonical_json
_raw_decode = json.JSONDecoder().raw_decode


def from_json(text: str) -> Any:
    """Decode JSON text this module wrote: canonical, so no whitespace to skip (2x ``loads``)."""
    if text == "{}":
        return {}
    value, end = _raw_decode(text)
    if end != len(text):
        raise ValueError(f"extra data after JSON value at position {end}")
    return value


def big_int_out(value: Any) -> Any:
    """SQLite integers are 64-bit; larger seeds are kept exactly as decimal text."""
    if value is None or _INT64_MIN <= value <= _INT64_MAX:
        return value
    return str(value)


def _big_int_in(value: Any) -> Any:
    return int(value) if type(value) is str else value


# -- runs ---------------------------------------------------------------------------------------


def run_to_row(run: RunRecord) -> tuple[Any, ...]:
    try:
        return (
            run.id,
            run.workflow,
            big_int_out(run.seed),
            run.created_at,
            json_field(run.planner),
            json_field(run.policy),
            run.environment,
            run.status.value,
            run.finished_at,
            run.parent_id,
            run.fork_index,
            json_field(run.overrides),
            json_field(run.outputs),
            run.error,
            run.host,
            run.pid,
            run.verifies,
            run.header_hash,
            run.seal,
            run.verdict,
        )
    except _CONVERSION_ERRORS as exc:
        raise StoreError(
            f"cannot store run {run.id!r}: {type(exc).__name__}: {exc}: dict fields must hold "
            "JSON values (str, int, float, bool, None, lists, dicts) and status a RunStatus"
        ) from exc


def run_from_row(row: tuple[Any, ...]) -> RunRecord:
    """The run a row holds; a damaged row (edited outside reprolam) still gives a record,
    with what could not be decoded replaced and said in ``damaged`` (audit reports it, the
    run list marks it), so one bad row never makes a whole store unreadable."""
    try:
        return _run_from_row(row)
    except ROW_DAMAGE as exc:
        return _damaged_run(row, exc)


def _dict(value: Any) -> dict[str, Any]:
    if type(value) is not dict:
        raise TypeError(f"expected a JSON object, found {type(value).__name__}")
    return value


def _salvage(
    row: tuple[Any, ...], columns: Sequence[str], decoders: dict[str, Any], found: list[str]
) -> dict[str, Any]:
    """Decode each column on its own; an undecodable one becomes its decoder's fallback."""
    values: dict[str, Any] = {}
    for name, raw in zip(columns, row, strict=False):
        decode, fallback = decoders.get(name, (None, None))
        if decode is None:
            values[name] = raw
            continue
        try:
            values[name] = decode(raw)
        except ROW_DAMAGE as exc:
            wrong_kind = isinstance(exc, WrongKind)  # says the column itself
            found.append((str(exc) if wrong_kind else f"{name}: {type(exc).__name__}: {exc}")[:300])
            values[name] = fallback
    return values


def _json_dict(text: Any) -> dict[str, Any]:
    return _dict(from_json(text))


def _digest_map(text: Any) -> dict[str, str]:
    """Names -> artifact digests (step inputs and outputs, run outputs)."""
    value = _dict(from_json(text))
    for v in value.values():
        if type(v) is not str:
            raise TypeError(f"an artifact reference is {type(v).__name__}, not a digest")
    return value


def _damaged_run(row: tuple[Any, ...], exc: Exception) -> RunRecord:
    found: list[str] = []
    decoders: dict[str, tuple[Any, Any]] = {
        **_scalar_decoders(RUN_SCALARS, _RUN_FALLBACKS),
        "seed": (_seed_in, 0),
        "status": (RunStatus, RunStatus.FAILED),
        **{c: (_json_dict, {}) for c in ("planner", "policy", "overrides")},
        "outputs": (_digest_map, {}),
    }
    v = _salvage(row, RUN_COLUMNS, decoders, found)
    v["damaged"] = "; ".join(found) or f"{type(exc).__name__}: {exc}"
    return RunRecord(**v)


# What a damaged scalar column reads as: a value of the field's kind, so every command can
# show the record; it is marked damaged, so nothing verifies or trusts it.
_RUN_FALLBACKS: dict[str, Any] = {"created_at": 0.0, "pid": 0}
_STEP_FALLBACKS: dict[str, Any] = {"index": 0, "started_at": 0.0, "hash": ""}


def _scalar_decoders(kinds: dict[str, Check], fallbacks: dict[str, Any]) -> dict[str, Any]:
    """Column -> (its check, its fallback): text falls back to "", anything optional to None."""
    found = {}
    for name, kind in kinds.items():
        fallback = fallbacks.get(name, "" if kind is TEXT else None)
        column = "idx" if name == "index" else name
        found[column] = (lambda v, name=name, kind=kind: check(name, v, kind), fallback)
    return found


_RUN_CHECKS = [(RUN_COLUMNS.index(n), n, k) for n, k in RUN_SCALARS.items() if n != "seed"]
_STEP_CHECKS = [
    (STEP_COLUMNS.index("idx" if n == "index" else n), n, k)
    for n, k in STEP_SCALARS.items()
    if n != "seed"
]
_STEP_SEED = optional(WHOLE)


def _check_scalars(row: tuple[Any, ...], checks: list[tuple[int, str, Check]]) -> None:
    for i, name, (test, words) in checks:
        if not test(row[i]):
            raise WrongKind(name, row[i], words)


def _run_scalars_plain(row: tuple[Any, ...]) -> bool:
    """``_check_scalars(row, _RUN_CHECKS)`` passes, tested faster (a run list reads many)."""
    (_, _, _, created, _, _, environment, _, finished, parent, fork_index, _, _, error, _, pid,
     verifies, header_hash, run_seal, verdict) = row  # fmt: skip
    return (
        type(row[0]) is type(row[1]) is type(row[14]) is str
        and type(created) in NUMBERS
        and 0 <= created < LATEST
        and (finished is None or (type(finished) in NUMBERS and 0 <= finished < LATEST))
        and (fork_index is None or (type(fork_index) is int and fork_index >= 0))
        and type(pid) is int
        and (environment is None or type(environment) is str)
        and (parent is None or type(parent) is str)
        and (error is None or type(error) is str)
        and (verifies is None or type(verifies) is str)
        and (header_hash is None or type(header_hash) is str)
        and (run_seal is None or type(run_seal) is str)
        and (verdict is None or type(verdict) is str)
    )


def _seed_in(value: Any) -> Any:
    """A run's seed: a whole number (beyond 64 bits, stored as decimal text)."""
    return check("seed", _big_int_in(value), WHOLE)


def _step_seed_in(value: Any) -> Any:
    return check("seed", _big_int_in(value), _STEP_SEED)


def _run_from_row(row: tuple[Any, ...]) -> RunRecord:
    if len(row) != len(RUN_COLUMNS):
        raise ValueError(f"a run row has {len(row)} columns, not {len(RUN_COLUMNS)}")
    if not _run_scalars_plain(row):
        _check_scalars(row, _RUN_CHECKS)
    return RunRecord(
        id=row[0],
        workflow=row[1],
        seed=_seed_in(row[2]),
        created_at=row[3],
        planner=_dict(from_json(row[4])),
        policy=_dict(from_json(row[5])),
        environment=row[6],
        status=RunStatus(row[7]),
        finished_at=row[8],
        parent_id=row[9],
        fork_index=row[10],
        overrides=_dict(from_json(row[11])),
        outputs=_digest_map(row[12]),
        error=row[13],
        host=row[14],
        pid=row[15],
        verifies=row[16],
        header_hash=row[17],
        seal=row[18],
        verdict=row[19],
    )


# -- steps --------------------------------------------------------------------------------------


def step_to_row(step: StepRecord) -> tuple[Any, ...]:
    """The row of a step: the one the engine rendered it to, or rendered now."""
    row = step.rendered
    if row is not None:
        return row
    return _step_row(step, hashed=False)


def render_step(step: StepRecord) -> StepRecord:
    """Render the engine's own fresh record to its row once, in place (sealing it first when
    it is finished, with the hash of the very texts its row holds)."""
    object.__setattr__(
        step, "rendered", _step_row(step, hashed=step.status is not StepStatus.STARTED)
    )
    return step


def _step_row(step: StepRecord, *, hashed: bool) -> tuple[Any, ...]:
    try:
        texts = step_texts(step)
        if hashed:
            seal(step, texts)
        return (
            step.run_id,
            step.index,
            step.kind.value,
            step.action,
            step.status.value,
            step.started_at,
            step.action_version,
            step.fingerprint,
            texts.params,
            texts.inputs,
            texts.outputs,
            big_int_out(step.seed),
            step.duration,
            texts.error,
            texts.proposal,
            step.recovers,
            step.prev_hash,
            step.hash,
        )
    except _CONVERSION_ERRORS as exc:
        raise StoreError(
            f"cannot store step {step.index} of run {step.run_id!r}: {type(exc).__name__}: {exc}: "
            "params, inputs, outputs and proposal must hold JSON values (str, int, float, bool, "
            "None, lists, dicts); kind and status must be StepKind and StepStatus"
        ) from exc


# What the fast path raises for a row it does not take (StopIteration: the JSON scanner found
# no value): the reference decoding then decodes it, or salvages and marks it.
_NOT_FAST = (*ROW_DAMAGE, StopIteration)


def step_from_row(row: tuple[Any, ...]) -> StepRecord:
    """The step a row holds; a damaged row gives a record marked ``damaged`` (see runs)."""
    try:
        return decode_step(row, DecodedTexts())
    except _NOT_FAST:
        return _reference_step(row)


def steps_from_rows(rows: Iterable[tuple[Any, ...]]) -> list[StepRecord]:
    """The steps rows hold (``step_from_row``), each JSON text a run repeats decoded once."""
    texts = DecodedTexts()
    steps = []
    with collector_paused():
        for row in rows:
            try:
                steps.append(decode_step(row, texts))
            except _NOT_FAST:
                steps.append(_reference_step(row))
    return steps


def _reference_step(row: tuple[Any, ...]) -> StepRecord:
    try:
        return _step_from_row(row)
    except ROW_DAMAGE as exc:
        return _damaged_step(row, exc)


_ERROR_FIELDS = frozenset({"type", "message", "traceback"})


def _error_in(text: Any) -> ErrorInfo | None:
    if text is None:
        return None
    fields = _dict(from_json(text))
    if not set(fields) <= _ERROR_FIELDS or not all(type(v) is str for v in fields.values()):
        raise ValueError(f"an error record holds {sorted(fields)}, not {sorted(_ERROR_FIELDS)}")
    return ErrorInfo(fields["type"], fields["message"], fields.get("traceback", ""))


def _damaged_step(row: tuple[Any, ...], exc: Exception) -> StepRecord:
    found: list[str] = []
    decoders: dict[str, tuple[Any, Any]] = {
        **_scalar_decoders(STEP_SCALARS, _STEP_FALLBACKS),
        "kind": (lambda v: KINDS[v], StepKind.ACTION),
        "status": (lambda v: STEP_STATUSES[v], StepStatus.FAILED),
        "seed": (_step_seed_in, None),
        "error": (_error_in, None),
        **{c: (_json_dict, {}) for c in ("params", "proposal")},
        **{c: (_digest_map, {}) for c in ("inputs", "outputs")},
    }
    v = _salvage(row, STEP_COLUMNS, decoders, found)
    v["index"] = v.pop("idx")
    v["damaged"] = "; ".join(found) or f"{type(exc).__name__}: {exc}"
    return StepRecord(**v)


def _step_from_row(row: tuple[Any, ...]) -> StepRecord:
    """The reference decoding of a step row (``_step_decode.decode_step`` is its fast path)."""
    _check_scalars(row, _STEP_CHECKS)
    return StepRecord(
        run_id=row[0],
        index=row[1],
        kind=KINDS[row[2]],
        action=row[3],
        status=STEP_STATUSES[row[4]],
        started_at=row[5],
        action_version=row[6],
        fingerprint=row[7],
        params=_dict(from_json(row[8])),
        inputs=_digest_map(row[9]),
        outputs=_digest_map(row[10]),
        seed=_step_seed_in(row[11]),
        duration=row[12],
        error=_error_in(row[13]),
        proposal=_dict(from_json(row[14])),
        recovers=row[15],
        prev_hash=row[16],
        hash=row[17],
    )


ProducerRow = tuple[str, int, str]  # run id, step index, output name: a ``Producer``'s row


def producers(steps: Sequence[StepRecord]) -> dict[str, ProducerRow]:
    """digest -> the row of the first step in ``steps`` that outputs it (tuples, not
    ``Producer`` records: this runs for every recorded step)."""
    found: dict[str, ProducerRow] = {}
    for step in steps:
        for name, d in step.outputs.items():
            if d not in found:
                found[d] = (step.run_id, step.index, name)
    return found


def producer_from_row(digest: str, row: Sequence[Any]) -> Producer | None:
    """The producer columns of an artifact row: all NULL (an external input) or all set."""
    run_id, index, name = row
    if run_id is None and index is None and name is None:
        return None
    if not (isinstance(run_id, str) and type(index) is int and isinstance(name, str)):
        raise IntegrityError(
            f"the producer of artifact {digest} is recorded as ({run_id!r}, {index!r}, "
            f"{name!r}): it was edited outside reprolam; restore the store from a backup"
        )
    return Producer(run_id, index, name)


# -- artifacts ----------------------------------------------------------------------------------


def artifact_bytes(record: ArtifactRecord, data: bytes) -> bytes:
    """The bytes to store, checked against the record's size (a cheap guard against mix-ups)."""
    if isinstance(data, StoredBlob):  # streamed into the blob directory already
        return data
    if type(data) is not bytes:
        data = bytes(data)
    if len(data) != record.size:
        raise StoreError(
            f"artifact {record.digest} says size={record.size} but {len(data)} bytes were "
            "given: build the ArtifactRecord from the very bytes you store"
        )
    return data


# -- messages both backends raise ---------------------------------------------------------------


def run_exists_error(run_id: str, location: str) -> StoreError:
    return StoreError(
        f"run {run_id!r} already exists in {location}: run ids must be unique; "
        "create the run under a new id"
    )


def no_run_error(run_id: str, location: str) -> NotFoundError:
    return NotFoundError(
        f"no run {run_id!r} in {location}: pass an existing run id (see `reprolam runs`)"
    )


def no_step_error(run_id: str, index: int, location: str) -> NotFoundError:
    return NotFoundError(
        f"run {run_id!r} has no step {index} in {location}: see its steps with `reprolam show`"
    )


def no_parent_error(run: RunRecord, location: str) -> NotFoundError:
    return NotFoundError(
        f"cannot create fork {run.id!r}: its parent run {run.parent_id!r} is not in "
        f"{location}: fork from a run stored in the same store"
    )


def no_run_for_update_error(run_id: str, location: str) -> NotFoundError:
    return NotFoundError(
        f"cannot update run {run_id!r}: it is not in {location}: create it with create_run() "
        "before recording it"
    )


def no_run_for_step_error(step: StepRecord, location: str) -> NotFoundError:
    return NotFoundError(
        f"cannot record step {step.index} of run {step.run_id!r}: the run is not in "
        f"{location}: create it with create_run() first"
    )


def no_artifact_error(digest: str, location: str) -> NotFoundError:
    return NotFoundError(
        f"no artifact {digest} in {location}: pass a digest recorded in one of its runs"
    )


# Why no rerun repairs a damaged artifact: its bytes are stored once, under their digest.
ONLY_COPY = (
    "the store keeps one copy of each artifact: recording the same bytes again, by a new "
    "run or a fork, keeps the damaged copy"
)


# How a damaged blob file is repaired: the step's bytes, recorded again, replace it (a plain
# rerun tells only a blob of the wrong size or kind without reading it; a reuse reads it).
BLOB_REPAIR = (
    "execute the step that produced it again with {reuse=True} (a new run of the workflow, "
    "or a fork at that step or before it; a fork at a later step reads the damaged output "
    "as an input and fails as this did): a step whose outputs are damaged is executed "
    "instead of reused, and its bytes, recorded again, replace the damaged file"
)


def corrupt_artifact_error(
    digest: str, where: str, actual: str, *, blob: bool = False
) -> IntegrityError:
    """``blob``: ``where`` is its blob file, which the step's bytes recorded again repair."""
    fix = f"; or {BLOB_REPAIR}" if blob else f" ({ONLY_COPY})"
    return IntegrityError(
        f"artifact {digest} is corrupted: its bytes in {where} hash to {actual}: restore the "
        f"store from a backup{fix}"
    )


def wrong_size_error(digest: str, recorded: int, actual: int) -> IntegrityError:
    return IntegrityError(
        f"artifact {digest} is recorded with size {recorded} but holds {actual} bytes: its "
        "record was edited outside reprolam; restore the store from a backup"
    )


def damaged_row_error(what: str, exc: Exception) -> IntegrityError:
    return IntegrityError(
        f"the stored record of {what} is damaged ({type(exc).__name__}: {exc}): it was edited "
        "outside reprolam; restore the store from a backup"
    )


def closed_error(location: str) -> StoreError:
    return StoreError(
        f"the trace store {location} is closed (close() was called, or the with block that "
        f"opened it ended): open it again, reprolam.open({location!r})"
    )


def unstorable_text_error(exc: UnicodeEncodeError, location: str) -> StoreError:
    """A record holding text that is not valid Unicode: a lone surrogate, as Python makes of
    a file name that is not UTF-8 (``surrogateescape``) or decodes from a ``\\ud800`` escape
    in JSON. Neither database stores it; nothing of that ``record()`` call was written."""
    bad = exc.object[exc.start : exc.end]
    shown = exc.object[max(0, exc.start - 40) : exc.end + 40]
    return StoreError(
        f"cannot record in {location}: a record holds text that is not valid Unicode "
        f"({bad!r} in ...{shown!r}...: a lone surrogate, as from a file name that is not "
        "UTF-8 or a \\ud800 escape in a model's reply); nothing of it was written: pass "
        "such text as bytes, or clean it (text.encode('utf-8', 'backslashreplace').decode())"
    )
