"""The process executor: actions run in a worker process, so a timeout can stop them.

Values cross the process boundary as codec bytes (the same canonical encoding the store
keeps), never as pickles of user objects. The worker imports the action by module (or by
file, for workflows loaded from a path) and runs it with the ``LocalExecutor``. On a
timeout (counted from the moment the worker starts the action, not from its start-up) the
worker is killed and replaced on the next call; the step is recorded as failed with error
type ``ActionTimeout``. A worker that dies (a signal, ``os._exit``, a native crash) is told
from a timeout: error type ``WorkerDied``, with its exit code or signal.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import multiprocessing
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from reprolam.actions import ActionSpec, spec_of
from reprolam.codecs import default_serializer
from reprolam.context import ActionContext
from reprolam.engine.executors import ExecutorBase, LocalExecutor, Outcome, error_info
from reprolam.engine.outputs import encoded_outputs
from reprolam.errors import render_markup
from reprolam.trace.records import ErrorInfo

FunctionRef = tuple[str, str | None, str]  # module, file (path-loaded workflows), qualname
STARTUP_TIMEOUT = 600.0  # seconds a worker may take to start and import the workflow
# what set the limit an action overran, recorded in Python's words (the CLI shows the flag)
TIMEOUT_SETTING = "policy {action_timeout}"


class ProcessExecutor(ExecutorBase):
    """Runs each action in one long-lived worker process (started lazily, replaced if killed)."""

    name = "process"
    stops_on_timeout = True

    def __init__(self) -> None:
        super().__init__()
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None
        self._serializer = default_serializer()

    def allow_pickle(self, allowed: bool) -> None:
        if allowed != self._serializer.pickles:
            self._serializer = default_serializer(trusted=allowed)

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
        where = ctx.workdir_root  # output files go where the engine collects them
        conn.send(
            (
                function_ref(spec),
                encoded,
                dict(params),
                (ctx.seed, ctx.run_id, ctx.step_index, ctx.effects, where),
                self._serializer.pickles,
            )
        )
        # Starting the worker, importing the workflow and decoding the inputs are not the
        # action's time: the timeout starts when the worker says the action has started.
        if self._wait(STARTUP_TIMEOUT) != "message" or not self._started(conn):
            return self._died(spec, f"before {spec.name} started (within {STARTUP_TIMEOUT} s)")
        state = self._wait(timeout)
        if state == "timeout":
            self.close()
            return Outcome(
                error=ErrorInfo(
                    "ActionTimeout",
                    f"{spec.name} did not finish within {timeout} s of starting "
                    f"({render_markup(TIMEOUT_SETTING)}): its worker process was killed",
                )
            )
        try:
            status, outputs, error, observed, workdir = conn.recv()
        except (EOFError, OSError):
            return self._died(spec, f"while running {spec.name}")
        if workdir is not None:  # removed with the step, as the local executor's is
            ctx.adopt_workdir(Path(workdir))
        try:
            values = {name: self._serializer.loads_own(tag, data) for name, tag, data in outputs}
        except Exception as exc:  # e.g. an output that only pickles, in an untrusted store
            return Outcome(error=error_info(exc))
        return Outcome(
            outputs=values,
            error=None if status == "ok" else ErrorInfo(*error),
            observed=observed,
        )

    def _wait(self, timeout: float | None) -> str:
        """Until the worker sends something ("message") or exits ("died"), or ``timeout``."""
        assert self._conn is not None
        assert self._process is not None
        ready = wait([self._conn, self._process.sentinel], timeout)
        if self._conn in ready:
            return "message"  # possibly the end of the pipe: recv() tells
        return "died" if ready else "timeout"

    def _started(self, conn: Connection) -> bool:
        try:
            return bool(conn.recv() == ("started",))
        except (EOFError, OSError):
            return False

    def _died(self, spec: ActionSpec, when: str) -> Outcome:
        process = self._process
        if process is not None:
            process.join(timeout=5)
        code = process.exitcode if process is not None else None
        self.close()
        if code is not None and code < 0:
            try:
                how = f"killed by signal {signal.Signals(-code).name}"
            except ValueError:
                how = f"killed by signal {-code}"
        else:
            how = f"exited with code {code}"
        why = (
            WORKER_RAISED
            if code == 1 and when.startswith("before")
            else "out of memory, a crash in native code, os._exit or a signal; not a timeout"
        )
        unspawnable = unspawnable_main() if when.startswith("before") else ""
        return Outcome(
            error=ErrorInfo(
                "WorkerDied",
                f"the worker process running {spec.name} died {when}: {how}"
                + (unspawnable or f" ({why})"),
            )
        )

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
        process = self._process
        if process is not None and process.pid is not None:
            # The worker leads its own process group (``_serve``): what its action started
            # (a subprocess, a pool) goes with it, instead of outliving the step and holding
            # the terminal's output open.
            with contextlib.suppress(OSError, AttributeError):
                os.killpg(process.pid, signal.SIGKILL)
        if process is not None and process.is_alive():
            process.kill()
            process.join(timeout=10)
        if self._conn is not None:
            self._conn.close()
        self._process = self._conn = None


# Why a worker exits with code 1 before its first action: an error, in its stderr; the
# likeliest, the main script it loads again (guarded by the worker: registry)
WORKER_RAISED = (
    "an error in the worker, printed to this program's stderr: each worker loads the main "
    "script again, so a script whose top level fails there, or starts runs outside "
    'if __name__ == "__main__":, stops it'
)


def unspawnable_main() -> str:
    """Why worker processes cannot start from this program, when it is a script they
    cannot load (``python - < script.py``: its ``__main__`` is ``<stdin>``); else ''.
    Each worker then dies with FileNotFoundError in its own stderr, before anything runs."""
    main = getattr(sys.modules.get("__main__"), "__file__", None)
    if not isinstance(main, str) or os.path.exists(main):
        return ""
    return (
        f" (this program's main script {main!r} is not a file: worker processes start by "
        "loading it again; save the script to a file and run that)"
    )


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
    with contextlib.suppress(OSError, AttributeError):  # not on Windows
        os.setpgid(0, 0)  # its own process group, killed whole with it (``close``)
    # What the worker prints outside actions (a workflow file printing as it is imported)
    # is not the command's output, which may be --json: to stderr. Actions' own is captured.
    sys.stdout = sys.stderr
    serializers = {pickles: default_serializer(trusted=pickles) for pickles in (False, True)}
    local = LocalExecutor()
    while True:
        try:
            ref, encoded, params, (seed, run_id, index, effects, where), pickles = conn.recv()
        except EOFError:
            return
        serializer = serializers[pickles]  # outputs encoded as the run would encode them
        try:
            spec = _resolve(ref)
            inputs = [serializer.loads_own(tag, data) for tag, data in encoded]  # from our parent
        except Exception as exc:  # the action cannot even be called: that is its failure
            conn.send(("started",))
            conn.send(("error", [], _error_tuple(error_info(exc)), None, None))
            continue
        conn.send(("started",))
        ctx = ActionContext(
            seed=seed, run_id=run_id, step_index=index, effects=effects, workdir_root=where
        )
        outcome = local.execute(spec, inputs, params, ctx)
        used = None if ctx.used_workdir is None else str(ctx.used_workdir)  # the parent removes it
        try:
            outputs = encoded_outputs(serializer, spec.name, outcome.outputs)
        except Exception as exc:  # an output the codecs cannot encode
            conn.send(("error", [], _error_tuple(error_info(exc)), outcome.observed, used))
            continue
        if outcome.error is None:
            conn.send(("ok", outputs, None, outcome.observed, used))
        else:
            conn.send(("error", outputs, _error_tuple(outcome.error), outcome.observed, used))


def _error_tuple(error: ErrorInfo) -> tuple[str, str, str]:
    return (error.type, error.message, error.traceback)
