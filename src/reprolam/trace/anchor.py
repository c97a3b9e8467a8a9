"""Anchoring a finished run: the seal over its end fields, chain head and artifact metadata.

``records.run_header_hash`` covers what a run executes (and starts its chain); the seal
computed here covers how it ended. Both are recomputed by ``history.verify``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from reprolam.errors import ReprolamError
from reprolam.trace.contract import TraceStore
from reprolam.trace.records import RunRecord, StepRecord, run_seal_hash


def referenced_artifacts(run: RunRecord, steps: Sequence[StepRecord]) -> list[str]:
    """Every artifact digest the run and its trace refer to, sorted."""
    found: set[str] = set(map(str, run.outputs.values()))
    if run.environment:
        found.add(run.environment)
    for step in steps:
        found.update(map(str, step.inputs.values()))
        found.update(map(str, step.outputs.values()))
    return sorted(found)


def artifact_metadata(store: TraceStore, digests: Sequence[str]) -> list[list[Any]]:
    """[digest, codec, size] of each artifact as the store records it (None, None if absent)."""
    meta: list[list[Any]] = []
    for key in digests:
        try:
            record = store.get_artifact_record(key)
            meta.append([key, record.codec, record.size])
        except ReprolamError:
            meta.append([key, None, None])
    return meta


def seal_of(store: TraceStore, run: RunRecord, steps: Sequence[StepRecord]) -> str:
    meta = artifact_metadata(store, referenced_artifacts(run, steps))
    return run_seal_hash(run, list(steps), meta)


def sealed(store: TraceStore, run: RunRecord, steps: Sequence[StepRecord]) -> RunRecord:
    """``run`` with its seal set, for a run with a header (older runs stay unsealed)."""
    if run.header_hash is None:
        return run
    return replace(run, seal=seal_of(store, run, steps))
