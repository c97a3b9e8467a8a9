"""The Dask executor: actions run on the workers of a Dask cluster (``reprolam[dask]``).

``DaskExecutor(workers=N)`` starts a ``LocalCluster`` of N single-threaded worker processes
on 127.0.0.1; ``DaskExecutor(scheduler="tcp://HOST:PORT")`` connects to a running one.

What crosses the scheduler is small: the action by reference (module, file, qualname), its
params, and its inputs and outputs as content-addressed artifacts (codec tag and digest),
never pickles of user objects. Their bytes travel through the store's artifact directory
(a shared filesystem for a remote cluster): the driver makes sure every input's blob is
there (the store has usually written it already), the worker reads it by digest, checks
the digest, decodes, runs the action with the ``LocalExecutor`` (same seeding), encodes
each output and writes its bytes there under their digest; the driver reads them back by
digest, checks it, and alone writes the trace. Values of at most ``INLINE_MAX`` bytes (the
size below which SQL stores keep artifacts in their table, not in the directory) travel
inline as codec bytes with their digest, checked the same way. A store without an artifact
directory (``memory``) sends every value inline.

Each step records where it ran (``placement``: worker address, host, pid and a digest of
the worker's Python and installed packages), so a sweep over workers whose environments
differ says so. A worker lost mid-step is a failed step (``WorkerLost``): on a local
cluster the scheduler is told not to retry it (``allowed-failures`` 0), so only the run's
explicit retry policy ever runs it again. An external scheduler keeps its own setting.

The executor is ``concurrent``: one instance serves several runs at once (a sweep's forks
share one cluster).
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import random
import socket
import sys
import threading
import types
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from reprolam.actions import ActionSpec
from reprolam.codecs import default_serializer
from reprolam.context import ActionContext
from reprolam.engine.code_capture import action_fingerprints
from reprolam.engine.executors import ExecutorBase, LocalExecutor, Outcome, error_info
from reprolam.engine.outputs import encoded_outputs
from reprolam.engine.process import (
    WORKER_RAISED,
    FunctionRef,
    _resolve,
    function_ref,
    unspawnable_main,
)
from reprolam.errors import ConfigError, IntegrityError
from reprolam.hashing import digest
from reprolam.trace.blobs import INLINE_MAX, BlobDir
from reprolam.trace.records import ErrorInfo

DEFAULT_WORKERS = 2
INSTALL_HINT = "pip install 'reprolam[dask]'"

# An artifact on its way: (codec tag, digest, bytes inline or None if in the artifact directory)
_Sent = tuple[str, str, bytes | None]
# The code a step must run: its workflow's actions and the fingerprint this run recorded
_Code = tuple[tuple[FunctionRef, ...], str]


class DaskExecutor(ExecutorBase):
    """Runs actions on Dask workers: a local cluster it starts, or a scheduler it joins."""

    name = "dask"
    stops_on_timeout = False  # Dask cannot stop a task that is already running
    concurrent = True  # one instance may serve several runs at once (thread-safe submit)

    def __init__(self, workers: int | None = None, scheduler: str | None = None) -> None:
        super().__init__()
        if workers is not None and workers < 1:
            raise ConfigError(f"{{workers={workers}}}: start at least one worker", option="workers")
        if workers is not None and scheduler is not None:
            raise ConfigError(
                "{workers} starts a local cluster and {scheduler} joins a running one: "
                "give one of them",
                option="workers",
            )
        self.workers = workers
        self.scheduler = scheduler
        self._client: Any = None
        self._cluster: Any = None
        self._lock = threading.Lock()
        self._warming = threading.Lock()
        self._serializer = default_serializer()
        self.artifacts: str | None = None  # the store's artifact directory (prepare)
        self._warmed: set[tuple[FunctionRef, ...]] = set()  # workflows the workers imported
        self._code: dict[FunctionRef, _Code] = {}  # action -> the code its steps must run
        self.startup_seconds: float | None = None  # how long start() took (benchmarks)

    def prepare(self, store: Any, workflow: Any) -> None:
        """Before a run's first step: exchange values through this store's artifact
        directory, and have every worker import the workflow's actions (once per workflow),
        so that import is not counted in the first step's time."""
        blobs = getattr(store, "blobs", None)
        self.artifacts = str(blobs.path) if isinstance(blobs, BlobDir) else None
        refs = tuple(function_ref(spec) for spec in workflow.actions)
        fingerprints = action_fingerprints(workflow.actions)  # as the run records them
        for ref, spec in zip(refs, workflow.actions, strict=True):
            self._code[ref] = (refs, fingerprints[spec.name])
        client = self.client
        with self._warming:  # a second run of the same workflow waits for the first's import
            if refs not in self._warmed:
                client.run(import_actions, refs)
                self._warmed.add(refs)

    def allow_pickle(self, allowed: bool) -> None:
        if allowed != self._serializer.pickles:
            self._serializer = default_serializer(trusted=allowed)

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "workers": self.workers, "scheduler": self.scheduler}

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        with self._lock:
            if self._client is not None:
                return
            import time

            t0 = time.perf_counter()
            try:
                import dask

                distributed: Any = importlib.import_module("distributed")  # untyped
            except ImportError:
                raise ConfigError(
                    "the dask executor needs dask.distributed, which is not installed",
                    option="executor",
                    value="dask",
                    hint=INSTALL_HINT,
                ) from None
            if self.scheduler is not None:
                _check_address(self.scheduler)  # a Client refused one waits 20 s at exit
                try:
                    self._client = distributed.Client(
                        self.scheduler, timeout="10s", set_as_default=False
                    )
                except OSError as exc:
                    raise ConfigError(
                        f"cannot reach the Dask scheduler at {self.scheduler}: {exc}",
                        option="scheduler",
                        value=self.scheduler,
                        hint="start one with `dask scheduler`, or drop {scheduler} to start "
                        "a local cluster",
                    ) from None
            else:
                # A lost worker must not be retried behind the run's back (see the docstring).
                workers = self.workers or DEFAULT_WORKERS
                try:
                    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
                        self._cluster = distributed.LocalCluster(
                            n_workers=workers,
                            threads_per_worker=1,
                            processes=True,
                            host="127.0.0.1",
                            dashboard_address="127.0.0.1:0",  # a free port: never "8787 in use"
                            # Dask's own log lines (a lost worker: "marked as failed",
                            # "Restarting worker") are noise beside the step's WorkerLost
                            # record; only this cluster's, while it lives (not a user's own).
                            silence_logs=logging.CRITICAL,
                        )
                except Exception as exc:  # e.g. its temporary directory cannot be made
                    raise ConfigError(
                        f"the local Dask cluster ({workers} workers on 127.0.0.1) did not "
                        f"start: {exc}{unspawnable_main()}",
                        option="executor",
                        value="dask",
                        hint="fix what it names or what the workers printed to stderr "
                        f"({WORKER_RAISED}; Dask's temporary-directory setting, "
                        "DASK_TEMPORARY_DIRECTORY, must be a writable directory), or join a "
                        "running cluster with {scheduler}",
                    ) from None
                self._client = distributed.Client(self._cluster, set_as_default=False)
            self._client.run(warm_worker)  # before any step is timed
            self.startup_seconds = time.perf_counter() - t0

    def close(self) -> None:
        with self._lock:
            client, cluster = self._client, self._cluster
            self._client = self._cluster = None
            self._warmed.clear()
        if client is not None:
            with _quiet_client_log():
                client.close()
        if cluster is not None:
            cluster.close()

    @property
    def client(self) -> Any:
        """The ``distributed.Client`` (after ``start()``)."""
        if self._client is None:
            self.start()
        return self._client

    def worker_pids(self) -> dict[str, int]:
        """Worker address -> process id (to watch or stop a worker)."""
        return dict(self.client.run(os.getpid))

    # -- execution ----------------------------------------------------------------------------

    def execute(
        self,
        spec: ActionSpec,
        inputs: Sequence[Any],
        params: Mapping[str, Any],
        ctx: ActionContext,
        *,
        timeout: float | None = None,
    ) -> Outcome:
        client = self.client
        artifacts = self.artifacts
        blobs = BlobDir(artifacts, fsync=True) if artifacts is not None else None
        sent = [send(blobs, *self._serializer.dumps_typed(value)) for value in inputs]
        ref = function_ref(spec)
        future = client.submit(
            run_on_worker,
            ref,
            sent,
            artifacts,
            dict(params),
            ctx.seed,
            ctx.run_id,
            ctx.step_index,
            ctx.effects,
            ctx.workdir_root,  # output files go where the engine collects them (shared fs)
            self._serializer.pickles,  # outputs encoded as the run would encode them
            self._code.get(ref),  # checked there: a worker may hold older code
            pure=False,
            # a run's later steps before other runs' first ones: started forks finish first
            priority=ctx.step_index,
            key=f"reprolam-{spec.name}-{ctx.run_id}-{ctx.step_index}-{os.urandom(4).hex()}",
        )
        try:
            status, outputs, error, placement, observed = future.result()
        except Exception as exc:  # the worker died, the scheduler went away, ...
            future.release()
            return Outcome(error=_lost(spec, exc))
        future.release()
        try:
            values = {
                name: self._serializer.loads_typed(tag, receive(blobs, key, data))
                for name, tag, key, data in outputs
            }
        except Exception as exc:  # e.g. an output that only pickles, in an untrusted store
            return Outcome(error=error_info(exc), placement=placement, observed=observed)
        failure = None if status == "ok" else ErrorInfo(*error)
        return Outcome(outputs=values, error=failure, placement=placement, observed=observed)


@contextlib.contextmanager
def _quiet_client_log() -> Iterator[None]:
    """Closing a client whose scheduler is gone cancels its reconnection, which Dask logs as
    an ERROR with a CancelledError traceback: noise after the step's WorkerLost record."""
    log = logging.getLogger("distributed.client")
    level = log.level
    log.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        log.setLevel(level)


def _check_address(address: str) -> None:
    """Refuse a scheduler address Dask cannot connect to at all (``foo``, ``http://...``)."""
    from distributed.comm.addressing import get_address_host_port, parse_address
    from distributed.comm.registry import get_backend

    try:
        scheme, _ = parse_address(address)
        get_backend(scheme)
        if scheme in ("tcp", "tls", "ws", "wss"):
            get_address_host_port(address)
    except ValueError as exc:
        raise ConfigError(
            f"{{scheduler}} {address!r} is not a Dask scheduler address: {exc}",
            option="scheduler",
            value=address,
            hint="give the address `dask scheduler` prints, e.g. {scheduler=tcp://10.0.0.5:8786}",
        ) from None


def send(blobs: BlobDir | None, tag: str, data: bytes) -> _Sent:
    """A value's codec bytes made ready to cross: by digest through the directory if large."""
    key = digest(data)
    if blobs is None or len(data) <= INLINE_MAX:
        return tag, key, data
    blobs.put(key, data)  # kept if the store has it there already, replaced if damaged
    return tag, key, None


def receive(blobs: BlobDir | None, key: str, data: bytes | None) -> bytes:
    """The bytes of an artifact that crossed (inline or read by digest), checked."""
    if data is None:
        if blobs is None:
            raise IntegrityError(f"artifact {key} was sent by digest, with no artifact directory")
        data = blobs.get(key)
    if digest(data) != key:
        raise IntegrityError(
            f"artifact {key} arrived with other bytes (digest {digest(data)}): the artifact "
            "directory the workers share is damaged or not the same directory"
        )
    return data


def _lost(spec: ActionSpec, exc: Exception) -> ErrorInfo:
    kind = type(exc).__name__
    if kind == "KilledWorker":
        return ErrorInfo(
            "WorkerLost",
            f"the Dask worker running {spec.name} died before it finished ({exc})",
        )
    return ErrorInfo("WorkerLost", f"{spec.name} did not come back from Dask: {kind}: {exc}")


# -- on the worker --------------------------------------------------------------------------------

_environment: dict[str, Any] = {}  # this worker process's, computed once


def worker_environment() -> dict[str, Any]:
    """This process's host, pid and environment digest (Python and installed packages)."""
    if not _environment:
        from importlib.metadata import distributions

        from reprolam.hashing import canonical_json_bytes, digest

        packages = sorted(
            {(d.metadata["Name"] or "").lower(): d.version for d in distributions()}.items()
        )
        described = {"python": sys.version, "platform": sys.platform, "packages": packages}
        _environment.update(
            host=socket.gethostname(),
            pid=os.getpid(),
            environment=digest(canonical_json_bytes(described)),
        )
    return dict(_environment)


_RNG_APART: list[bool] = []  # done once per worker process


def _machinery_draws_apart() -> None:
    """Give the worker's own machinery a ``random`` of its own.

    Dask samples items to estimate sizes (``dask.sizeof``), tornado jitters periodic
    callbacks and distributed picks peers, all with the global ``random`` and in the
    worker's other threads while an action runs: the effects watch then saw "the global
    random module state" change under any action that ran for a while, and recorded an
    undeclared effect the action never had.
    """
    if _RNG_APART:
        return
    own = types.ModuleType("random", "the global random API on a private Random instance")
    own.__dict__.update(random.__dict__)
    private = random.Random()
    setattr(own, "_inst", private)  # noqa: B010
    shared = random._inst
    for name in random.__all__:  # random(), choice(), ...: methods of the global instance
        if getattr(getattr(random, name, None), "__self__", None) is shared:
            setattr(own, name, getattr(private, name))
    for name, module in list(sys.modules.items()):
        if name.partition(".")[0] in ("tornado", "distributed", "dask") and (
            getattr(module, "random", None) is random
        ):
            setattr(module, "random", own)  # noqa: B010
    _RNG_APART.append(True)


def warm_worker() -> None:
    """Pay a worker's first-call costs up front: imports, the environment digest, the codecs
    and one trivial action through the ``LocalExecutor`` (its effects watch is set up on
    first use): ~0.1 s that would otherwise be counted in the first step a worker runs."""
    from reprolam.actions import action, spec_of

    worker_environment()
    serializer = default_serializer()
    serializer.loads_own(*serializer.dumps_typed([0.0]))

    @action(outputs=["ready"])
    def warm_up() -> bool:
        return True

    ctx = ActionContext(seed=0, run_id="warm-up", step_index=0)
    LocalExecutor().execute(spec_of(warm_up), [], {}, ctx)


def import_actions(refs: Sequence[FunctionRef]) -> None:
    """Import a workflow's actions in this worker (a warm-up: later calls find them), and
    read their code's fingerprints while the files still hold what was imported."""
    specs = []
    for ref in refs:
        try:
            specs.append(_resolve(ref))
        except Exception:  # the step that calls it records why, in its turn
            continue
    with contextlib.suppress(Exception):  # a walk that fails here fails the step's check
        action_fingerprints(specs)  # the sources read now are kept with their code objects


def code_differs(spec: ActionSpec, code: _Code | None) -> str | None:
    """Why this worker cannot run ``spec`` as the run recorded it, or None.

    A worker keeps the modules it imported: one that outlived a change to the workflow's
    code (a cluster joined with --scheduler) would run the old code under the new code's
    fingerprint, and --reuse would later hand that output to runs of the new code.
    """
    if code is None:
        return None
    refs, expected = code
    found = action_fingerprints([_resolve(ref) for ref in refs]).get(spec.name)
    if found == expected:
        return None
    from distributed import get_worker

    return (
        f"the Dask worker {get_worker().address} holds other code for {spec.name} than this "
        f"run records (fingerprint {str(found)[:12]} there, {expected[:12]} here): a worker "
        "keeps the modules it imported, so one started before the code changed runs the old "
        "code; restart the cluster's workers (e.g. `client.restart()`), then run again"
    )


def run_on_worker(
    ref: FunctionRef,
    sent: list[_Sent],
    artifacts: str | None,
    params: dict[str, Any],
    seed: int,
    run_id: str,
    index: int,
    effects: Any,
    workdir_root: Any,
    pickles: bool = False,
    code: _Code | None = None,
) -> tuple[
    str,
    list[tuple[str, str, str, bytes | None]],
    tuple[str, str, str] | None,
    dict[str, Any],
    dict[str, Any] | None,
]:
    """One action on a worker: read inputs by digest, run, write outputs, return digests."""
    from distributed import get_worker

    serializer = default_serializer(trusted=pickles)
    placement = {"executor": "dask", "worker": get_worker().address, **worker_environment()}
    _machinery_draws_apart()
    blobs = BlobDir(artifacts, fsync=True) if artifacts is not None else None
    observed = None
    try:
        spec = _resolve(ref)
        differs = code_differs(spec, code)
        if differs is not None:
            return "error", [], ("WorkerCodeDiffers", differs, ""), placement, observed
        inputs = [  # from our driver, checked against their digests
            serializer.loads_own(tag, receive(blobs, key, data)) for tag, key, data in sent
        ]
        ctx = ActionContext(
            seed=seed,
            run_id=run_id,
            step_index=index,
            effects=effects,
            workdir_root=workdir_root,
        )
        outcome = LocalExecutor().execute(spec, inputs, params, ctx)
        observed = outcome.observed
        outputs = [
            (name, *send(blobs, tag, data))
            for name, tag, data in encoded_outputs(serializer, spec.name, outcome.outputs)
        ]
    except Exception as exc:  # the action's failure, not the worker's: say what it was
        failed = error_info(exc)
        return "error", [], (failed.type, failed.message, failed.traceback), placement, observed
    if outcome.error is None:
        return "ok", outputs, None, placement, observed
    error = outcome.error
    return "error", outputs, (error.type, error.message, error.traceback), placement, observed
