"""The engine's hot path for one action's steps: records, rows and hashes built from parts
that stay the same from one step of an action to the next in a run.

``records.step_hash`` defines a step's hash and ``_rows`` its store row; they serialize
every field of every step. Within one run, an action's steps repeat most of it: the run
id, the kind, the action's name, version and fingerprint (in the hash text), the names of
its inputs and outputs (in their JSON texts). A ``StepFrame`` composes those once; a step
then costs the texts of what changes. The bytes are the very ones ``step_hash`` hashes and
the rows the very ones ``_rows`` renders (``tests/test_step_frame.py`` checks both on many
records); whatever a frame cannot compose exactly (an unusual value) goes through the
reference serialization instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from json.encoder import encode_basestring
from typing import Any

from reprolam._frozen import builder
from reprolam.hashing import canonical_json, digest, scalar_json
from reprolam.trace._rows import big_int_out
from reprolam.trace.records import (
    ErrorInfo,
    StepKind,
    StepRecord,
    StepStatus,
    error_text,
    json_field,
)

_ACTION = StepKind.ACTION
_STARTED = StepStatus.STARTED
_SUCCEEDED = StepStatus.SUCCEEDED
_FAILED = StepStatus.FAILED
# the enum members' values, read once (``member.value`` is a Python-level property)
_ACTION_TEXT = _ACTION.value
_STATUS_TEXT = {s: s.value for s in StepStatus}
_STARTED_TEXT = _STARTED.value


# A fresh record with its row (``rendered``), without the frozen __init__ (reprolam._frozen):
# two per step, the started one and the finished one. Building the finished record costs
# less than completing the started one in place (six ``object.__setattr__`` calls, ~1,200
# instructions each), and leaves the started record as it was journaled.
_step_record = builder(StepRecord, every_field=True)


def _value_text(value: Any) -> str:
    """A scalar's canonical JSON without the encoder when it is a plain one."""
    text = scalar_json(value)
    return canonical_json(value) if text is None else text


def _float_text(value: Any) -> str:
    """``_value_text`` of a time or duration: most are finite floats (their repr)."""
    if type(value) is float and value - value == 0.0:  # inf - inf and nan - nan are nan
        return float.__repr__(value)
    return _value_text(value)


# Times and durations the engine records are whole microseconds (the clock says no more).
# Their canonical JSON (``float.__repr__``) is then the decimal text of that many millionths,
# built here from integers: float repr runs CPython's dtoa, about 7,000 instructions for a
# wall-clock time and 2,700 more for ``round(duration, 6)``: a tenth of a step's main thread.
# Below 2**33 seconds (year 2242) consecutive microseconds are distinct doubles, so a whole
# number of them has one shortest repr: its decimal text (``tests/test_step_frame.py``).
SECONDS_MAX = float(1 << 33)
MICROS_MAX = (1 << 33) * 1_000_000


def micros_text(us: int) -> str:
    """``repr(us / 1e6)`` for ``0 <= us < MICROS_MAX``, without formatting a float."""
    if us < 100:  # below 1e-4 repr writes an exponent: 5e-06, 2.5e-05
        if us < 10:
            return "0.0" if us == 0 else f"{us}e-06"
        tens, ones = divmod(us, 10)
        return f"{tens}e-05" if ones == 0 else f"{tens}.{ones}e-05"
    whole, frac = divmod(us, 1_000_000)
    if frac == 0:
        return f"{whole}.0"
    # 1_000_000 + frac: the six digits with their leading zeros, without a format spec
    return f"{whole}.{int.__repr__(1_000_000 + frac)[1:].rstrip('0')}"


def _time_text(value: Any) -> str:
    """``_float_text`` of a time: ``micros_text`` when it is a whole number of microseconds."""
    if type(value) is float and 0.0 < value < SECONDS_MAX:  # not -0.0, whose repr is signed
        us = int(value * 1e6 + 0.5)
        if us / 1e6 == value:
            return micros_text(us)
    return _float_text(value)


class StepFrame:
    """What one action's steps share in one run (see the module docstring)."""

    __slots__ = (
        "_after_index",
        "_after_prev",
        "_inputs",
        "_outputs",
        "action",
        "fingerprint",
        "run_id",
        "version",
    )

    def __init__(
        self,
        run_id: str,
        action: str,
        version: str,
        fingerprint: str,
        *,
        inputs: Sequence[str] = (),
        outputs: Sequence[str] = (),
    ) -> None:
        self.run_id = run_id
        self.action = action
        self.version = version
        self.fingerprint = fingerprint
        # The hash text is a JSON list: each item's text joined by commas (step_hash).
        self._after_prev = f",{canonical_json(run_id)},"
        self._after_index = {
            status: ",".join(
                ["", *(canonical_json(v) for v in (_ACTION_TEXT, action, status.value)), ""]
            )
            + f"{canonical_json(version)},{canonical_json(fingerprint)},"
            for status in (_SUCCEEDED, _FAILED)
        }
        self._inputs = _names(inputs)
        self._outputs = _names(outputs)

    # -- records ------------------------------------------------------------------------------

    def started(
        self,
        *,
        index: int,
        started_at: float,
        params: dict[str, Any],
        inputs: dict[str, str],
        seed: int,
        proposal: dict[str, Any],
        recovers: int | None,
        prev_hash: str,
        proposal_text: str | None = None,
    ) -> StepRecord:
        """A fresh ``started`` record of this action (what ``StepRecord(...)`` builds),
        rendered to its row (``render_started``); ``proposal_text``: the proposal's text,
        when the caller has it already."""
        params_text = json_field(params)
        inputs_text = _map_text(self._inputs, inputs)
        seed_out = big_int_out(seed)
        if proposal_text is None:
            proposal_text = json_field(proposal)
        run_id, action, version, fingerprint = (
            self.run_id,
            self.action,
            self.version,
            self.fingerprint,
        )
        row = (
            run_id, index, _ACTION_TEXT, action, _STARTED_TEXT, started_at, version,
            fingerprint, params_text, inputs_text, "{}", seed_out, None, None, proposal_text,
            recovers, prev_hash, None,
        )  # fmt: skip
        return _step_record(
            run_id, index, _ACTION, action, _STARTED, started_at, version, fingerprint,
            params, inputs, {}, seed, None, None, proposal, recovers, prev_hash, None, None,
            row,
        )  # fmt: skip

    # -- rows ---------------------------------------------------------------------------------

    def render_started(self, step: StepRecord, proposal: str | None = None) -> StepRecord:
        """Render a started record of this action to its row, in place (``render_step``), as
        ``started`` does (for one made otherwise: ``replace`` drops the row); ``proposal``: its
        proposal's text, when the caller has it already."""
        object.__setattr__(
            step,
            "rendered",
            (
                step.run_id,
                step.index,
                _ACTION_TEXT,
                step.action,
                _STATUS_TEXT[step.status],
                step.started_at,
                step.action_version,
                step.fingerprint,
                json_field(step.params),
                _map_text(self._inputs, step.inputs),
                "{}",
                big_int_out(step.seed),
                None,
                None,
                json_field(step.proposal) if proposal is None else proposal,
                step.recovers,
                step.prev_hash,
                None,
            ),
        )
        return step

    def finish(
        self,
        step: StepRecord,
        failed: bool,
        outputs: dict[str, str],
        duration: float,
        error: ErrorInfo | None,
        proposal: dict[str, Any],
    ) -> StepRecord:
        """The finished record of a started one rendered by ``started`` or
        ``render_started``, rendered and sealed, with the texts that did not change reused
        (the row and hash ``_rows.render_step`` gives it). The started record is unchanged."""
        started = step.rendered
        assert started is not None, "finish takes a record rendered by started()"
        status = _FAILED if failed else _SUCCEEDED
        params, inputs = started[8], started[9]
        outputs_text = _map_text(self._outputs, outputs)
        error_json = None if error is None else error_text(error)
        proposal_text = started[14] if proposal is step.proposal else json_field(proposal)
        # To the microsecond: the clock says no more, and its shorter text is cheaper to
        # write and to re-hash at every replay (and to compose: ``micros_text``).
        if type(duration) is float and 0.0 <= duration < SECONDS_MAX:
            us = int(duration * 1e6 + 0.5)
            duration, duration_text = us / 1e6, micros_text(us)
        else:
            duration = round(duration, 6)
            duration_text = _float_text(duration)
        run_id, index, seed, started_at = step.run_id, step.index, step.seed, step.started_at
        recovers, prev_hash = step.recovers, step.prev_hash
        # Plain ints and finite floats written as the encoder writes them (repr), inline:
        # four calls per step saved; anything else goes through the encoder's rules.
        text = (
            f"[{encode_basestring(prev_hash)}{self._after_prev}{int.__repr__(index)}"
            f"{self._after_index[status]}{params},{inputs},{outputs_text},"
            f"{int.__repr__(seed) if type(seed) is int else _value_text(seed)},"
            f"{_time_text(started_at)},{duration_text},"
            f"{'null' if error_json is None else error_json},{proposal_text},"
            f"{'null' if recovers is None else _value_text(recovers)}]"
        )
        hashed = digest(text.encode("utf-8", "surrogatepass"))
        row = (
            *started[:4],  # run_id, idx, kind, action
            _STATUS_TEXT[status],
            started_at,  # an action started ahead has its real start now (engine.concurrent)
            *started[6:10],  # action_version, fingerprint, params, inputs
            outputs_text,
            started[11],  # seed
            duration,
            error_json,
            proposal_text,
            recovers,
            prev_hash,
            hashed,
        )
        return _step_record(
            run_id, index, _ACTION, step.action, status, started_at, step.action_version,
            step.fingerprint, step.params, step.inputs, outputs, seed, duration, error,
            proposal, recovers, prev_hash, hashed, None, row,
        )  # fmt: skip


def _names(names: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """Each name with the start of its ``"name":`` entry, in canonical (sorted) order."""
    ordered = sorted(set(names))
    return tuple((n, f"{',' if i else '{'}{canonical_json(n)}:") for i, n in enumerate(ordered))


def _map_text(names: tuple[tuple[str, str], ...], mapping: dict[str, str]) -> str:
    """``json_field(mapping)`` of a names -> digests map holding exactly ``names``."""
    count = len(names)
    if len(mapping) != count or not count:
        return json_field(mapping)
    try:
        if count == 1:  # most actions: one input, one output
            name, entry = names[0]
            return f"{entry}{encode_basestring(mapping[name])}}}"
        return "".join([entry + encode_basestring(mapping[n]) for n, entry in names]) + "}"
    except (KeyError, TypeError):  # other names, or a value that is not a string
        return json_field(mapping)
