"""Ground truth for the experiment: the action functions count their own calls.

The harness wraps each action function once (``Ledger.workflow``). All three pipelines call
the wrapped functions -- the script and the naive LAM directly, R-LAM through the engine --
so the ledger sees every execution whatever the paradigm itself records. Nothing here reads
a trace, a log or anything else a paradigm produces: the metrics compare those records
against this ledger.

The wrapper is also the one fault injector all paradigms share. Before the function body
runs it draws ``strikes(faults, run_seed, action, occurrence)`` -- the engine's own draw for
``--fault``, with its semantics: ``occurrence`` counts the earlier attempts of that action
in the same run, struck ones included -- and, when struck, raises the engine's
``InjectedFault`` with the engine's message. Injecting inside the call (instead of through
R-LAM's ``Policy(faults=...)``) means one injector, counting its own injections, serves all
three paradigms, and R-LAM learns of a fault only the way it learns of any failure: as an
exception raised by the action.

``watch_code`` is a second, independent detector for the replay check: it sees any
execution of the original functions' code in this thread, wrapped or not.
"""

from __future__ import annotations

import functools
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from types import CodeType, FrameType
from typing import Any

from reprolam.actions import CONTEXT_PARAM, ActionSpace, ActionSpec
from reprolam.codecs import default_serializer
from reprolam.engine.faults import ANY_ACTION, InjectedFault, injected_error, strikes
from reprolam.hashing import digest
from reprolam.workflows.registry import Workflow


@dataclass
class Call:
    """One attempted execution of an action, as the wrapped function saw it."""

    paradigm: str
    trial: int
    phase: str  # run | rerun | rerun-seeded | replay | reproduce | fork | warmup
    action: str
    occurrence: int  # earlier attempts of this action in the same epoch (the fault draw's)
    params: dict[str, Any]  # keyword arguments received, the context excluded
    seed: int | None  # the context's seed, for actions that take one
    started_at: float  # wall clock when the call began
    duration: float = 0.0
    injected: bool = False  # stopped by the fault injector before the body ran
    error_type: str | None = None
    error_message: str | None = None
    inputs: dict[str, str] = field(default_factory=dict)  # name -> digest, after settle()
    outputs: dict[str, str] = field(default_factory=dict)  # name -> digest, after settle()
    # the values themselves, kept only until settle() digests them (outside timed sections)
    input_values: dict[str, Any] | None = field(default=None, repr=False)
    returned: Any = field(default=None, repr=False)

    @property
    def failed(self) -> bool:
        return self.error_type is not None

    @property
    def executed(self) -> bool:
        """The function body ran (an injected fault stops it before)."""
        return not self.injected


@dataclass
class _Epoch:
    paradigm: str
    trial: int
    phase: str
    run_seed: int
    keep_values: bool
    calls: list[Call] = field(default_factory=list)
    occurrences: Counter[str] = field(default_factory=Counter)


class LedgerError(RuntimeError):
    """A wrapped action was called outside an epoch: the harness has a bug."""


class Ledger:
    """Counts every call of the wrapped action functions and injects the shared faults."""

    def __init__(self, faults: Mapping[str, float] | None = None) -> None:
        self.faults = dict(faults or {})
        self.calls: list[Call] = []
        self.injections = 0  # the injector's own count, over every epoch
        self._epoch: _Epoch | None = None
        self._serializer = default_serializer()
        self._specs: dict[str, ActionSpec] = {}

    def workflow(self, flow: Workflow) -> Workflow:
        """``flow`` with every action function wrapped; specs (fingerprints too) unchanged."""
        wrapped = [replace(spec, fn=self._wrap(spec)) for spec in flow.actions]
        self._specs.update({spec.name: spec for spec in flow.actions})
        return Workflow(
            name=flow.name,
            actions=ActionSpace(wrapped),
            outputs=flow.outputs,
            goal=flow.goal,
            description=flow.description,
            source=flow.source,
        )

    @contextmanager
    def epoch(
        self, paradigm: str, trial: int, phase: str, run_seed: int, *, keep_values: bool = False
    ) -> Iterator[list[Call]]:
        """Attribute the calls made inside to (paradigm, trial, phase); yields their list.

        Occurrences restart at 0, as in a new run. ``keep_values`` keeps the input and output
        values for ``settle`` (only the measured runs need their digests).
        """
        if self._epoch is not None:
            raise LedgerError(f"epoch {self._epoch.phase} of {self._epoch.paradigm} still open")
        self._epoch = _Epoch(paradigm, trial, phase, run_seed, keep_values)
        try:
            yield self._epoch.calls
        finally:
            self.calls.extend(self._epoch.calls)
            self._epoch = None

    def settle(self, calls: Sequence[Call]) -> None:
        """Digest the kept input and output values (call this outside timed sections)."""
        for call in calls:
            if call.input_values is not None:
                call.inputs = {k: self.digest(v) for k, v in call.input_values.items()}
            if call.returned is not None and not call.failed:
                named = named_outputs(self._specs[call.action], call.returned)
                call.outputs = {k: self.digest(v) for k, v in named.items()}
            call.input_values, call.returned = None, None

    def digest(self, value: Any) -> str:
        """The digest R-LAM would store ``value`` under: BLAKE3 of its canonical bytes."""
        return digest(self._serializer.dumps_typed(value)[1])

    def _wrap(self, spec: ActionSpec) -> Callable[..., Any]:
        fn, name, ledger = spec.fn, spec.name, self

        @functools.wraps(fn)
        def counted(*args: Any, **kwargs: Any) -> Any:
            epoch = ledger._epoch
            if epoch is None:
                raise LedgerError(f"action {name} was called outside a ledger epoch")
            ctx = kwargs.get(CONTEXT_PARAM)
            occurrence = epoch.occurrences[name]
            epoch.occurrences[name] += 1
            call = Call(
                paradigm=epoch.paradigm,
                trial=epoch.trial,
                phase=epoch.phase,
                action=name,
                occurrence=occurrence,
                params={k: v for k, v in kwargs.items() if k != CONTEXT_PARAM},
                seed=getattr(ctx, "seed", None),
                started_at=time.time(),
            )
            if epoch.keep_values:
                call.input_values = dict(zip(spec.inputs, args, strict=False))
            epoch.calls.append(call)
            if ledger.faults and strikes(ledger.faults, epoch.run_seed, name, occurrence):
                rate = ledger.faults.get(name, ledger.faults.get(ANY_ACTION, 0.0))
                message = injected_error(name, rate, occurrence).message
                call.injected, call.error_type, call.error_message = (
                    True,
                    InjectedFault.__name__,
                    message,
                )
                ledger.injections += 1
                raise InjectedFault(message)
            started = time.perf_counter()
            try:
                returned = fn(*args, **kwargs)
            except Exception as exc:
                call.error_type, call.error_message = type(exc).__name__, str(exc)
                raise
            finally:
                call.duration = time.perf_counter() - started
            if epoch.keep_values:
                call.returned = returned
            return returned

        return counted


def named_outputs(spec: ActionSpec, returned: Any) -> dict[str, Any]:
    """An action's return value by output name (one output: the value; several: a tuple)."""
    if len(spec.outputs) == 1:
        return {spec.outputs[0]: returned}
    if isinstance(returned, Mapping):
        return {name: returned[name] for name in spec.outputs}
    return dict(zip(spec.outputs, returned, strict=True))


@contextmanager
def watch_code(functions: Mapping[str, Callable[..., Any]]) -> Iterator[Counter[str]]:
    """Count executions of these functions' code in this thread, however they are reached."""
    codes: dict[CodeType, str] = {}
    for name, fn in functions.items():
        code = getattr(fn, "__code__", None)
        if isinstance(code, CodeType):
            codes[code] = name
    seen: Counter[str] = Counter()

    def profile(frame: FrameType, event: str, _arg: Any) -> None:
        if event == "call" and frame.f_code in codes:
            seen[codes[frame.f_code]] += 1

    previous = sys.getprofile()
    sys.setprofile(profile)
    try:
        yield seen
    finally:
        sys.setprofile(previous)
