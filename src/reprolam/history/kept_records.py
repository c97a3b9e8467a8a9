"""The records a run keeps beside its trace, checked by ``audit``: what each step printed
(captured output) and the code it ran (the code manifest its environment snapshot names,
and every source text the manifest lists).

``verify_trace`` checks what the trace refers to (step inputs and outputs, run outputs, the
environment snapshot); these are referred to one level further down, by digest, so an edit
to their bytes went unnoticed: ``show`` printed edited output, ``diff`` compared edited code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reprolam.errors import ReprolamError
from reprolam.history.observed import observed_of
from reprolam.history.verify import Problem
from reprolam.trace.contract import TraceStore
from reprolam.trace.records import RunRecord, StepRecord
from reprolam.trace.stored_json import load_json


def kept_record_problems(
    store: TraceStore,
    run: RunRecord,
    steps: Sequence[StepRecord],
    manifests: Mapping[str, Sequence[str]] | None = None,
) -> list[Problem]:
    """A problem for each kept record of ``run`` that is missing or whose bytes do not match
    its digest, naming what it holds and where it belongs.

    ``manifests``: file and directory artifacts (digest -> the content digests they name),
    whose manifests ``verify_trace`` checked; the contents of those a step wrote are checked
    here (the bytes ``get`` writes out and a reproduction compares).
    """
    roles: dict[str, tuple[str, int | None]] = {}  # digest -> (what it is, its step)
    for step in steps:
        key = observed_of(step).get("output")
        if isinstance(key, str) and key not in roles:
            roles[key] = (f"captured output of step {step.index} ({step.action})", step.index)
        for name, manifest in step.outputs.items():
            for content in (manifests or {}).get(manifest, ()):
                what = f"content of file output {name!r} of step {step.index} ({step.action})"
                roles.setdefault(content, (what, step.index))
    manifest_key = _code_key(store, run)
    if manifest_key is not None:
        roles[manifest_key] = (f"code record of run {run.id}", None)
        # its sources, if the manifest itself reads (else the read below says it does not)
        for key, file in _sources(store, manifest_key).items():
            roles.setdefault(key, (f"source of {file} in the code record of run {run.id}", None))
    return [
        Problem("artifact", f"{what}: {read.error}", step, read.digest)
        for read in store.read_artifacts(list(roles))
        if read.error is not None
        for what, step in [roles[read.digest]]
    ]


def _code_key(store: TraceStore, run: RunRecord) -> str | None:
    """The digest of the code manifest the run's environment snapshot names (None: none, or
    the snapshot itself is unreadable, which ``verify_trace`` reports)."""
    try:
        key = load_json(store, run.environment).get("code")
    except ReprolamError:
        return None
    return key if isinstance(key, str) else None


def _sources(store: TraceStore, manifest_key: str) -> dict[str, str]:
    """Digest -> file of each source text the code manifest lists (none if it is unreadable)."""
    try:
        manifest: dict[str, Any] = load_json(store, manifest_key)
    except ReprolamError:
        return {}
    files: dict[str, str] = {}
    for module in manifest.get("modules", {}).values():
        sources = module.get("sources") if isinstance(module, dict) else None
        for file, key in (sources or {}).items():
            if isinstance(key, str):
                files.setdefault(key, str(file))
    return files
