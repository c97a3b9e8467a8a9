"""Executors run one action call behind one interface: in this process, in a worker process,
and (as plug-ins) anywhere else.

An executor is a context manager with a lifecycle the engine owns: ``start()`` before the
first action, ``execute()`` per action, ``close()`` at the end (both idempotent). Its
``config()`` (name and settings, never secrets) is recorded with the run, so ``fork``,
``resume`` and ``reproduce`` can build the same kind again (see ``engine.executor_registry``).
"""

from __future__ import annotations

import random
import sys
import threading
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from reprolam._frozen import builder
from reprolam.actions import CONTEXT_PARAM, ActionSpec
from reprolam.context import ActionContext
from reprolam.engine.observe import ActionWatch
from reprolam.trace.records import ErrorInfo, storable_name


@dataclass(frozen=True, slots=True)
class Outcome:
    """What an action call produced: its outputs by name, or the error that stopped it.

    ``placement`` says where it ran when that is not this process (a Dask worker's address
    and environment digest); the engine records it with the step.
    """

    outputs: dict[str, Any] = field(default_factory=dict)
    error: ErrorInfo | None = None
    # what the action printed, warned and did outside the engine (see engine.observe), JSON
    observed: dict[str, Any] | None = None
    placement: dict[str, Any] | None = None  # where it ran, when not here (a Dask worker)


_outcome = builder(Outcome)  # one per step: built without the frozen __init__


class Executor(Protocol):
    name: str
    stops_on_timeout: bool  # whether ``timeout`` can actually stop a running action

    def config(self) -> dict[str, Any]: ...

    def start(self) -> None: ...

    def close(self) -> None: ...

    def __enter__(self) -> Executor: ...

    def __exit__(self, *exc: object) -> None: ...

    def execute(
        self,
        spec: ActionSpec,
        inputs: Sequence[Any],
        params: Mapping[str, Any],
        ctx: ActionContext,
        *,
        timeout: float | None = None,
    ) -> Outcome: ...


class ExecutorBase:
    """The lifecycle every executor shares; subclasses override what they need."""

    name = "base"
    stops_on_timeout = False

    def config(self) -> dict[str, Any]:
        return {"name": self.name}

    def prepare(self, store: Any, workflow: Any) -> None:
        """Told the store and workflow of a run about to start, before its first step (an
        executor may share the store's artifacts, or import the workflow where it runs)."""

    def allow_pickle(self, allowed: bool) -> None:
        """Told, before a run's first step, whether its values may be pickled (the store is
        trusted): an executor whose values cross to another process encodes them there as
        the run would here, so a value only pickle takes is not refused on the way back."""

    def start(self) -> None:
        """Acquire what execution needs (workers, a cluster); called again, does nothing."""

    def close(self) -> None:
        """Release it; safe to call twice, and ``start()`` may follow."""

    def __enter__(self) -> ExecutorBase:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# Actions in this process run one at a time, whichever thread drives their run (a sweep's
# --jobs, runs started from threads): they share the global RNGs a seeded action is handed
# seeded, and the effects watch that tells whose draws and output are whose. Two at once drew
# from each other's seeded state (outputs a sequential run and `reproduce` never give) and
# recorded each other's draws as undeclared effects. Reentrant: an action may run another.
_IN_PROCESS = threading.RLock()


class LocalExecutor(ExecutorBase):
    """Runs actions in this process, one at a time. Exceptions become ``Outcome.error``;
    nothing is retried."""

    name = "local"
    stops_on_timeout = False  # Python cannot stop a running function safely in-process

    def execute(
        self,
        spec: ActionSpec,
        inputs: Sequence[Any],
        params: Mapping[str, Any],
        ctx: ActionContext,
        *,
        timeout: float | None = None,
    ) -> Outcome:
        with _IN_PROCESS:
            return self._execute(spec, inputs, params, ctx)

    def _execute(
        self, spec: ActionSpec, inputs: Sequence[Any], params: Mapping[str, Any], ctx: ActionContext
    ) -> Outcome:
        if spec.determinism == "seeded":
            seed_global_rngs(ctx.seed)
        watch = ActionWatch(
            determinism=spec.determinism,
            side_effects=spec.side_effects,
            strict=ctx.effects == "strict",
            # where step workdirs are made: reading ctx.workdir here would create one per step
            workdir=ctx.workdir_root,
        ).start(inputs, params)  # the paths among them are the files it may read as declared
        try:
            values = spec.python_params(params)  # a record that no longer validates: failed
            kwargs = {**values, CONTEXT_PARAM: ctx} if spec.wants_context else values
            returned = spec.fn(*inputs, **kwargs)
        except KeyboardInterrupt:
            watch.stop()
            raise  # the user stopping the run: it is interrupted (and resumable), not failed
        except BaseException as exc:  # SystemExit(0) and GeneratorExit fail the step, visibly
            observed = watch.stop()
            return Outcome(outputs=dict(ctx.partial), error=error_info(exc), observed=observed)
        observed = watch.stop()
        try:
            return _outcome(name_outputs(spec, returned), None, observed, None)
        except Exception as exc:  # OutputMismatch, or a mapping that fails to be read
            return Outcome(outputs=dict(ctx.partial), error=error_info(exc), observed=observed)


def seed_global_rngs(seed: int) -> None:
    """Seed the global RNGs too, for library code that ignores the context's generators."""
    random.seed(seed)
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed(seed)


def name_outputs(spec: ActionSpec, returned: Any) -> dict[str, Any]:
    """Map an action's return value onto its declared outputs, or explain the mismatch."""
    names = spec.outputs
    if len(names) == 1:
        return {names[0]: returned}
    if isinstance(returned, Mapping):
        if set(returned) != set(names):
            raise OutputMismatch(
                f"{spec.name} returned outputs {sorted(returned)}, but declares {list(names)}"
            )
        return {n: returned[n] for n in names}
    if isinstance(returned, tuple | list) and len(returned) == len(names):
        return dict(zip(names, returned, strict=True))
    raise OutputMismatch(
        f"{spec.name} declares outputs {list(names)}: return a tuple of {len(names)} values "
        f"or a dict with those keys, not {type(returned).__name__}"
    )


class OutputMismatch(Exception):
    """An action returned something other than its declared outputs."""


MESSAGE_MAX = 8 * 1024  # characters of an exception message kept (and fed to planners)
TRACEBACK_MAX = 32 * 1024  # characters of a traceback kept


def capped(text: str, limit: int) -> str:
    """``text`` cut to about ``limit`` characters, saying how much was cut (head and tail
    kept), as every store can hold it (``storable_name``: a file name that is not UTF-8, or
    a NUL, which PostgreSQL text cannot hold, in an error message must not make the failure
    unrecordable)."""
    text = storable_name(text)
    if len(text) <= limit:
        return text
    keep = limit // 2
    return f"{text[:keep]}\n[... {len(text) - 2 * keep} characters cut ...]\n{text[-keep:]}"


def _safe_str(exc: BaseException) -> str:
    try:
        return str(exc)
    except BaseException as broken:
        return f"<{type(exc).__qualname__}.__str__ raised {type(broken).__qualname__}>"


def describe_exception(exc: BaseException) -> str:
    """``Type: message``, capped, even for an exception whose ``__str__`` raises."""
    message = _safe_str(exc)
    text = f"{type(exc).__qualname__}: {message}" if message else type(exc).__qualname__
    return capped(text, MESSAGE_MAX)


def error_info(exc: BaseException) -> ErrorInfo:
    """An exception as recorded: type, capped message, capped traceback; never raises."""
    try:
        trace = "".join(traceback.format_exception(exc))
    except BaseException:
        frames = "".join(traceback.format_tb(exc.__traceback__))
        trace = f"Traceback (most recent call last):\n{frames}{describe_exception(exc)}\n"
    return ErrorInfo(
        type=type(exc).__qualname__,
        message=capped(_safe_str(exc), MESSAGE_MAX),
        traceback=capped(trace, TRACEBACK_MAX),
    )
