"""Module-level verbs: the client's, for one call, with the store named by ``store=``.

``store`` is a path, a ``postgresql://`` DSN, ``"memory:"``, an open ``TraceStore`` or a
``Client``; ``None`` means ``$REPROLAM_STORE``, else ``./.reprolam``. Every keyword option
is the client's (see ``reprolam.client.Client``).

Example::

    import reprolam
    result = reprolam.run("breast-cancer", store=".reprolam", seed=0)
    fork = reprolam.fork(result.id, store=".reprolam", at="train_model",
                         set={"train_model.C": 0.01})
    print(reprolam.diff(result.id, fork.id, store=".reprolam").metrics)
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reprolam.client import Client, RunRef, RunView, using
from reprolam.results import GotArtifact
from reprolam.trace.contract import TraceStore
from reprolam.trace.records import RunRecord

if TYPE_CHECKING:
    from reprolam.engine.engine import RunResult
    from reprolam.history.audit import AuditReport
    from reprolam.history.diff import RunDiff
    from reprolam.history.replay import ReplayResult
    from reprolam.history.reproduce import ReproduceResult
    from reprolam.history.sweep import SweepResult
    from reprolam.provenance import ImportReport
    from reprolam.workflows.registry import Workflow

StoreRef = Client | TraceStore | str | os.PathLike[str] | None

__all__ = [
    "audit",
    "diff",
    "export",
    "fork",
    "get",
    "replay",
    "reproduce",
    "resume",
    "run",
    "runs",
    "show",
    "sweep",
]


def run(
    workflow: str | Workflow | None = None, *, store: StoreRef = None, **options: Any
) -> RunResult:
    """Plan, execute and record one run (``Client.run``)."""
    with using(store) as rl:
        return _reopening(rl.run(workflow, **options), store)


def fork(run: RunRef, *, at: int | str, store: StoreRef = None, **options: Any) -> RunResult:
    """Fork a run at a step (``Client.fork``)."""
    with using(store, create=False) as rl:
        return _reopening(rl.fork(run, at=at, **options), store)


def sweep(run: RunRef, *, at: int | str, store: StoreRef = None, **options: Any) -> SweepResult:
    """Fork a run once per point of a parameter grid or random space (``Client.sweep``)."""
    with using(store, create=False) as rl:
        return rl.sweep(run, at=at, **options)


def reproduce(run: RunRef, *, store: StoreRef = None, **options: Any) -> ReproduceResult:
    """Re-execute a run and compare every output hash (``Client.reproduce``)."""
    with using(store, create=False) as rl:
        return rl.reproduce(run, **options)


def resume(run: RunRef, *, store: StoreRef = None, **options: Any) -> RunResult:
    """Continue an interrupted run (``Client.resume``)."""
    with using(store, create=False) as rl:
        return _reopening(rl.resume(run, **options), store)


def replay(
    run: RunRef, *, store: StoreRef = None, step: int | None = None, workflow: str | None = None
) -> ReplayResult:
    """Verify a run's record and rebuild its outputs, executing nothing (``Client.replay``)."""
    with using(store, create=False) as rl:
        return rl.replay(run, step=step, workflow=workflow)


def audit(run: RunRef, *, store: StoreRef = None) -> AuditReport:
    """Check a run's record (``Client.audit``)."""
    with using(store, create=False) as rl:
        return rl.audit(run)


def diff(a: RunRef, b: RunRef, *, store: StoreRef = None) -> RunDiff:
    """Compare two runs step by step (``Client.diff``)."""
    with using(store, create=False) as rl:
        return rl.diff(a, b)


def export(
    run: RunRef,
    *,
    format: str,
    output: str | os.PathLike[str] | None = None,
    license: str | None = None,
    store: StoreRef = None,
) -> Path | str:
    """Export a run's provenance or a picture of it (``Client.export``)."""
    with using(store, create=False) as rl:
        return rl.export(run, format=format, output=output, license=license)


def import_crate(crate: str | os.PathLike[str], *, store: StoreRef = None) -> ImportReport:
    """Verify an exported RO-Crate and load its run into the store (``Client.import_crate``);
    the crate is verified before the store is opened, so a refused one creates no store."""
    from reprolam.provenance._import import verify_crate

    verified = verify_crate(crate)
    with using(store) as rl:
        return rl.import_crate(verified)


def runs(*, store: StoreRef = None, limit: int | None = None) -> list[RunRecord]:
    """Recorded runs, newest first (``Client.runs``)."""
    with using(store, create=False) as rl:
        return rl.runs(limit=limit)


def show(run: RunRef, *, store: StoreRef = None) -> RunView:
    """A run with its whole trace and headline metrics (``Client.show``)."""
    with using(store, create=False) as rl:
        return rl.show(run)


def get(run: RunRef, name: str, *, store: StoreRef = None, **options: Any) -> GotArtifact:
    """Write one artifact of a run in an open format (``Client.get``)."""
    with using(store, create=False) as rl:
        return rl.get(run, name, **options)


class _StoreAgain:
    """The client of a run result a module-level verb returned: that verb's client is closed
    once it returns, so each of the result's verbs (``result.fork(...)``, ``.reproduce()``,
    ``.replay()``, ``.audit()``) opens the store again for its one call, as they do."""

    def __init__(self, store: StoreRef) -> None:
        self.store = store

    def fork(self, run: RunRef, *, at: int | str, **options: Any) -> RunResult:
        return fork(run, at=at, store=self.store, **options)

    def reproduce(self, run: RunRef, **options: Any) -> ReproduceResult:
        return reproduce(run, store=self.store, **options)

    def replay(self, run: RunRef, *, step: int | None = None) -> ReplayResult:
        return replay(run, store=self.store, step=step)

    def audit(self, run: RunRef) -> AuditReport:
        return audit(run, store=self.store)


def _reopening(result: RunResult, store: StoreRef) -> RunResult:
    """``result`` bound to a client that outlives this call: a given client or open store
    stays open; a store named by path or DSN is opened again by each verb (a ``"memory:"``
    store is gone once closed: its result keeps the closed client, which says so)."""
    if isinstance(store, Client | TraceStore) or str(store) == "memory:":
        return result
    return replace(result, client=_StoreAgain(store))
