"""One action executed outside any workflow: ``execute`` runs it now, records nothing.

The result, an ``Executed``, holds everything a step record needs (code fingerprint,
version, params, input values, outputs or the error, seed, timings); ``ManualRun.record``
makes it a step of a run. This is the two-phase shape of the paper's package (execute an
action, then log its result) on reprolam's executor and records.

Example::

    import reprolam
    done = reprolam.execute(lambda data, lr: sum(data) * lr, inputs={"data": [1, 2]},
                            params={"lr": 0.1}, action="train")
    done.outputs["output"]  # 0.30000000000000004
"""

from __future__ import annotations

import copy
import inspect
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import CodeType
from typing import Any

from reprolam.actions import _SPEC_ATTR, ActionSpec, code_fingerprint
from reprolam.context import ActionContext, check_seed, derive_seed
from reprolam.engine.executors import LocalExecutor, error_info
from reprolam.errors import ConfigError, PolicyViolation
from reprolam.trace.records import ErrorInfo

DEFAULT_OUTPUT = "output"
PLAIN_VERSION = "1"  # a plain callable declares no version; its fingerprint tells code apart


@dataclass(frozen=True, slots=True)
class Executed:
    """What one execution did, ready to be recorded as a step (``ManualRun.record``)."""

    action: str
    version: str
    fingerprint: str
    params: dict[str, Any]
    inputs: dict[str, Any]  # input name -> value
    outputs: dict[str, Any]  # output name -> value; what was saved before a failure, if any
    error: ErrorInfo | None
    seed: int | None  # None: not executed by reprolam, so no seed is known
    started_at: float
    duration: float | None  # None: not executed by reprolam, so no timing is known
    determinism: str = "pure"
    side_effects: tuple[str, ...] = field(default_factory=tuple)
    # what the effects watch saw while an @action ran: its output (stdout, stderr, warnings)
    # and effects, as ``ActionWatch.stop`` gives them; None when it saw nothing or did not run
    observed: dict[str, Any] | None = None

    @property
    def succeeded(self) -> bool:
        return self.error is None


def execute(
    fn: Callable[..., Any] | ActionSpec,
    *,
    inputs: Mapping[str, Any] | None = None,
    params: Mapping[str, Any] | None = None,
    action: str | None = None,
    seed: int | None = None,
    output: str = DEFAULT_OUTPUT,
    version: str | None = None,
    plain: bool = False,
) -> Executed:
    """Execute one action now, outside any workflow; exceptions become ``Executed.error``.

    ``fn`` is an ``@action`` function (its inputs are passed positionally by name, its params
    validated as given, without conversion: ``"1"`` is no int; its ``ctx`` given the seed,
    its outputs named as declared) or any callable,
    called as ``fn(**inputs, **params)`` with its return value kept as output ``output``.
    ``plain=True`` calls even an ``@action`` that way (as code written for rlam expects).
    ``seed`` defaults to one derived from the action name; it is recorded either way.
    Nothing is retried and nothing is written: record the result with ``ManualRun.record``.
    """
    for given, what in ((inputs, "inputs"), (params, "params")):
        if given is not None and not isinstance(given, Mapping):
            raise ConfigError(
                f"{{{what}}} is a {type(given).__name__}: pass a dict of names to values"
            )
    if seed is not None:
        check_seed(seed)
    inputs = dict(inputs or {})
    params = dict(params or {})
    spec = getattr(fn, _SPEC_ATTR, fn)
    if isinstance(spec, ActionSpec):
        if not plain:
            return _execute_spec(spec, inputs, params, seed)
        fn = spec.fn
    if not callable(fn):
        raise ConfigError(f"execute needs a function or an @action, got {fn!r}")
    name = action or getattr(fn, "__name__", "") or "action"
    seed = derive_seed(0, name) if seed is None else seed
    received = _as_received(inputs), _as_received(params)
    started = time.time()
    t0 = time.perf_counter()
    error: ErrorInfo | None = None
    outputs: dict[str, Any] = {}
    try:
        outputs = {output: fn(**inputs, **params)}
    except Exception as exc:
        error = error_info(exc)
    return Executed(
        action=name,
        version=version or PLAIN_VERSION,
        fingerprint=_fingerprint(fn),
        params=received[1],
        inputs=received[0],
        outputs=outputs,
        error=error,
        seed=seed,
        started_at=started,
        duration=round(time.perf_counter() - t0, 6),
        determinism="nondeterministic",  # nothing declared: assume the worst when reproducing
    )


def _as_received(values: dict[str, Any]) -> dict[str, Any]:
    """Copies of ``values`` as the action receives them, for the step to record: an action
    that changes an input in place (``data.append``, ``array *= 2``) must not change what
    the record says went in (nor break its lineage to the step that produced it)."""
    received: dict[str, Any] = {}
    for name, value in values.items():
        try:
            received[name] = copy.deepcopy(value)
        except Exception:  # not copyable (a generator, a lock): recorded as it is afterwards
            received[name] = value
    return received


_FINGERPRINTS: dict[CodeType, str] = {}  # code object -> fingerprint, bounded
_MAX_FINGERPRINTS = 4096


def _fingerprint(fn: Callable[..., Any]) -> str:
    """``code_fingerprint``, read once per code object (reading source costs ~100 us a call).

    Keyed by the code of the function ``inspect`` reads the source of (decorators unwrapped),
    so two functions sharing a wrapper's code are not mistaken for each other.
    """
    try:
        code = getattr(inspect.unwrap(fn), "__code__", None)
    except ValueError:  # a cycle of __wrapped__
        code = None
    if not isinstance(code, CodeType):
        return code_fingerprint(fn)
    found = _FINGERPRINTS.get(code)
    if found is None:
        if len(_FINGERPRINTS) >= _MAX_FINGERPRINTS:
            _FINGERPRINTS.clear()
        found = _FINGERPRINTS[code] = code_fingerprint(fn)
    return found


def _execute_spec(
    spec: ActionSpec, inputs: dict[str, Any], params: dict[str, Any], seed: int | None
) -> Executed:
    if set(inputs) != set(spec.inputs):
        raise ConfigError(
            f"action {spec.name} takes inputs {list(spec.inputs)}, got {sorted(inputs)}: "
            "pass {inputs} with exactly those names"
        )
    # Values a person passed: no conversion ("1" is not an int), as for overrides, so the
    # step records what was given; a planner's proposals are read as JSON (the engine's).
    problems = spec.param_problems(params, partial=True, strict=True)
    if problems:
        raise PolicyViolation(
            f"{'; '.join(problems)} (execute takes params as given, unconverted, as the step "
            "records them: pass the type the action declares)",
            check="params",
        )
    checked = spec.validate_params(params)  # fills in the defaults
    seed = derive_seed(0, spec.name) if seed is None else seed
    received = _as_received(inputs), _as_received(checked)
    ctx = ActionContext(seed=seed)
    started = time.time()
    t0 = time.perf_counter()
    outcome = LocalExecutor().execute(spec, [inputs[n] for n in spec.inputs], checked, ctx)
    return Executed(
        action=spec.name,
        version=spec.version,
        fingerprint=spec.fingerprint,
        params=received[1],
        inputs=received[0],
        outputs=dict(outcome.outputs),
        error=outcome.error,
        seed=seed,
        started_at=started,
        duration=round(time.perf_counter() - t0, 6),
        determinism=spec.determinism,
        side_effects=spec.side_effects,
        observed=outcome.observed,
    )
