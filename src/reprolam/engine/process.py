"""The process executor: actions run in a worker process, so a timeout can stop them.

Values cross the process boundary as codec bytes (the same canonical encoding the store
keeps), never as pickles of user objects. The worker imports the action by module (or by
file, for workflows loaded from a path) and runs it with the ``LocalExecutor``. On a
timeout the worker is killed and replaced on the next call; the step is recorded as failed
with error type ``ActionTimeout``.
"""

from __future__ import annotations

import importlib
import inspect
import multiprocessing
import sys
from collections.abc import Mapping, Sequence
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from reprolam.actions import ActionSpec, spec_of
from reprolam.codecs import default_serializer
from reprolam.context import ActionContext
from reprolam.engine.executors import ExecutorBase, LocalExecutor, Outcome, error_info
from reprolam.trace.records import ErrorInfo

FunctionRef = tuple[str, str | None, str]  # module, file (path-loaded workflows), qualname


class ProcessExecutor(ExecutorBase):
    """Runs each action in one long-lived worker process (started lazily, replaced if killed)."""

    name = "process"
    stops_on_timeout = True

    def __init__(self) -> None:
        super().__init__()
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None
        self._serializer = default_serializer()

    def execute(
        self,
        spec: ActionSpec,
        inputs: Sequence[Any],
        params: Mapping[str, Any],
        ctx: ActionContext,
        *,
        timeout: float | None = None,
    ) -> Outcome:
        conn = self._worker()
        encoded = [self._serializer.dumps_typed(value) for value in inputs]
        conn.send((function_ref(spec), encoded, dict(params), ctx.seed, ctx.run_id, ctx.step_index))
        if not conn.poll(timeout):
            self.close()
            return Outcome(
                error=ErrorInfo(
                    "ActionTimeout",
                    f"{spec.name} did not finish within {timeout} s (policy action_timeout): "
                    "its worker process was killed",
                )
            )
        try:
            status, outputs, error = conn.recv()
        except (EOFError, OSError):
            code = self._process.exitcode if self._process else None
            self.close()
            return Outcome(
                error=ErrorInfo(
                    "WorkerDied", f"the worker process running {spec.name} died (exit code {code})"
                )
            )
        try:
            values = {name: self._serializer.loads_typed(tag, data) for name, tag, data in outputs}
        except Exception as exc:  # e.g. an output that only pickles, in an untrusted store
            return Outcome(error=error_info(exc))
        return Outcome(outputs=values, error=None if status == "ok" else ErrorInfo(*error))

    def _worker(self) -> Connection:
        if self._conn is None or self._process is None or not self._process.is_alive():
            self.close()
            context = multiprocessing.get_context("spawn")  # no inherited threads or locks
            parent, child = context.Pipe()
            self._process = context.Process(target=_serve, args=(child,), daemon=True)
            self._process.start()
            child.close()
            self._conn = parent
        return self._conn

    def close(self) -> None:
        if self._process is not None and self._process.is_alive():
            self._process.kill()
            self._process.join(timeout=10)
        if self._conn is not None:
            self._conn.close()
        self._process = self._conn = None


def function_ref(spec: ActionSpec) -> FunctionRef:
    fn = spec.fn
    try:
        source: str | None = inspect.getfile(fn)
    except TypeError:
        source = None
    return (fn.__module__, source, fn.__qualname__)


def _resolve(ref: FunctionRef) -> ActionSpec:
    module_name, source, qualname = ref
    module = sys.modules.get(module_name)
    if module is None:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            if source is None:
                raise
            from reprolam.workflows.registry import import_file

            module = import_file(Path(source))
    target: Any = module
    for part in qualname.split("."):
        target = getattr(target, part)
    return spec_of(target)


def _serve(conn: Connection) -> None:
    """The worker's loop: run one action per message until the pipe closes."""
    serializer = default_serializer()
    local = LocalExecutor()
    while True:
        try:
            ref, encoded, params, seed, run_id, index = conn.recv()
        except EOFError:
            return
        spec = _resolve(ref)
        inputs = [serializer.loads_typed(tag, data) for tag, data in encoded]
        ctx = ActionContext(seed=seed, run_id=run_id, step_index=index)
        outcome = local.execute(spec, inputs, params, ctx)
        outputs = [(name, *serializer.dumps_typed(v)) for name, v in outcome.outputs.items()]
        if outcome.error is None:
            conn.send(("ok", outputs, None))
        else:
            error = outcome.error
            conn.send(("error", outputs, (error.type, error.message, error.traceback)))
