"""Anchoring a finished run: the seal over its end fields, chain head and artifact metadata.

``records.run_header_hash`` covers what a run executes (and starts its chain); the seal
computed here covers how it ended. Both are recomputed by ``history.verify``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from reprolam.errors import ReprolamError
from reprolam.hashing import digest
from reprolam.trace.contract import TraceStore
from reprolam.trace.records import RunRecord, StepRecord, run_seal_hash


def referenced_artifacts(run: RunRecord, steps: Sequence[StepRecord]) -> list[str]:
    """Every artifact digest the run and its trace refer to, sorted."""
    found: set[str] = set(run.outputs.values())
    if run.environment:
        found.add(run.environment)
    for step in steps:
        found.update(step.inputs.values())
        found.update(step.outputs.values())
    return sorted(found)


def artifact_metadata(
    store: TraceStore,
    digests: Sequence[str],
    known: Mapping[str, tuple[str, int]] | None = None,
) -> str:
    """Hash of (digest, codec, size) of each artifact, sorted by digest.

    ``known``: what the caller itself stored (the engine, for the artifacts its run
    produced), so only the others are read from the store, in a few queries.
    """
    known = known or {}
    try:
        records = store.artifact_records([key for key in digests if key not in known])
    except ReprolamError:
        records = {}
    lines: list[str] = []
    for key in sorted(digests):
        if key in known:
            codec, size = known[key]
            lines.append(f"{key} {codec} {size}")
        elif key in records:
            lines.append(f"{key} {records[key].codec} {records[key].size}")
        else:
            lines.append(f"{key} - -")
    return digest("\n".join(lines).encode("utf-8", "surrogatepass"))


def seal_of(
    store: TraceStore,
    run: RunRecord,
    steps: Sequence[StepRecord],
    known: Mapping[str, tuple[str, int]] | None = None,
) -> str:
    meta = artifact_metadata(store, referenced_artifacts(run, steps), known)
    return run_seal_hash(run, steps, meta)


def sealed(
    store: TraceStore,
    run: RunRecord,
    steps: Sequence[StepRecord],
    known: Mapping[str, tuple[str, int]] | None = None,
) -> RunRecord:
    """``run`` with its seal set, for a run with a header (older runs stay unsealed)."""
    if run.header_hash is None:
        return run
    return replace(run, seal=seal_of(store, run, steps, known))
