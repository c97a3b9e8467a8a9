"""Anchoring a finished run: the seal over its end fields, chain head and artifact metadata.

``records.run_header_hash`` covers what a run executes (and starts its chain); the seal
computed here covers how it ended. Both are recomputed by ``history.verify``.

The seal's artifact part covers what the store records of every artifact the run refers
to (codec and size: a digest covers only the bytes), one line ``"<digest> <codec> <size>"``
per artifact (``- -`` for one the store lacks). Two definitions exist; a seal's own text
says which it follows (``records.seal_version``), so a verifier never guesses:

* version 1 (a bare hex digest: every run sealed before version 2 existed): each artifact
  once, the lines sorted by digest, joined by newlines. Sorting needs every digest first,
  so re-sealing a run after each of its steps cost time in the run's length.
* version 2 (``v2:<hex>``: every run sealed now): a line, ended by a newline, per
  reference, in the order the run is written: each step in index order, its inputs then
  its outputs, each map by name; then the run's outputs by name; then its environment
  snapshot. A writer hashes it as it goes (BLAKE3 is incremental, and its state is copied
  cheaply to finalize a seal), so a hand-built run re-seals in constant time per step; a
  verifier hashes it as it streams the trace, in memory that does not grow with the run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from itertools import islice

from blake3 import blake3

from reprolam.errors import ReprolamError
from reprolam.hashing import digest
from reprolam.trace.contract import TraceStore
from reprolam.trace.records import SEAL_VERSION, RunRecord, StepRecord, run_seal_hash

MISSING = "- -"  # what a seal line says of an artifact the store has no record of
ENVIRONMENT = "environment"  # the name the environment snapshot's line is listed under
_PAGE = 512  # steps whose unknown artifacts are read from the store in one call


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
    """Version 1: hash of (digest, codec, size) of each artifact, sorted by digest.

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
            lines.append(f"{key} {MISSING}")
    return digest("\n".join(lines).encode("utf-8", "surrogatepass"))


def reference_lines(named: Mapping[str, str], meta: Mapping[str, str]) -> str:
    """Version 2's lines for a map name -> digest, by name. ``meta``: digest -> ``"codec
    size"`` (or ``MISSING``) of every digest in ``named``."""
    if len(named) == 1:  # the common case: no sort
        for key in named.values():
            return f"{key} {meta[key]}\n"
    return "".join([f"{key} {meta[key]}\n" for key in _by_name(named)])


class ReferenceStream:
    """Version 2's artifact part, hashed as the references come (see the module doc)."""

    __slots__ = ("_hasher",)

    def __init__(self, hasher: blake3 | None = None) -> None:
        self._hasher = blake3() if hasher is None else hasher

    def copy(self) -> ReferenceStream:
        return ReferenceStream(self._hasher.copy())

    def add(self, text: str) -> None:
        """Lines made by ``reference_lines``, in order."""
        self._hasher.update(text.encode("utf-8", "surrogatepass"))

    def add_step(self, step: StepRecord, meta: Mapping[str, str]) -> None:
        self.add(reference_lines(step.inputs, meta) + reference_lines(step.outputs, meta))

    def hexdigest(self) -> str:
        """The hash of the lines added so far (the stream can go on growing)."""
        return self._hasher.hexdigest()

    def sealed(self, run: RunRecord, meta: Mapping[str, str]) -> str:
        """The artifact part of the seal of ``run`` whose steps are all added: the run's
        outputs and environment added to a copy, then hashed."""
        end = self.copy()
        end.add(run_end_lines(run, meta))
        return end.hexdigest()


def run_end_lines(run: RunRecord, meta: Mapping[str, str]) -> str:
    """Version 2's last lines: the run's outputs by name, then its environment snapshot."""
    lines = reference_lines(run.outputs, meta)
    if run.environment:
        lines += reference_lines({ENVIRONMENT: run.environment}, meta)
    return lines


def seal_of(
    store: TraceStore,
    run: RunRecord,
    steps: Sequence[StepRecord],
    known: Mapping[str, tuple[str, int]] | None = None,
    *,
    version: int = SEAL_VERSION,
) -> str:
    """The seal of a finished run over its whole trace ``steps`` (read once, in order).

    ``known``: codec and size of artifacts the caller stored; the others are read from the
    store a page of steps at a time.
    """
    if version == 1:
        meta = artifact_metadata(store, referenced_artifacts(run, steps), known)
        return run_seal_hash(run, steps, meta, version=1)
    lines = _Described(store, known or {})
    stream = ReferenceStream()
    pending = iter(steps)
    while page := list(islice(pending, _PAGE)):
        maps = [named for step in page for named in (step.inputs, step.outputs)]
        lines.read([key for named in maps for key in named.values()])
        # ``reference_lines`` of each map, inlined: a run's end waits for this loop.
        stream.add(
            "".join(
                [
                    f"{key} {lines[key]}\n"
                    for named in maps
                    for key in (named.values() if len(named) < 2 else _by_name(named))
                ]
            )
        )
    lines.read([*run.outputs.values(), *([run.environment] if run.environment else [])])
    return run_seal_hash(run, steps, stream.sealed(run, lines), version=version)


def _by_name(named: Mapping[str, str]) -> list[str]:
    return [named[name] for name in sorted(named)]


class _Described(dict[str, str]):
    """digest -> ``"codec size"``: all of ``known`` at once (a few C-level loops), the
    others read from the store as pages of steps refer to them (``read``)."""

    def __init__(self, store: TraceStore, known: Mapping[str, tuple[str, int]]) -> None:
        super().__init__({key: f"{codec} {size}" for key, (codec, size) in known.items()})
        self.store = store

    def read(self, keys: list[str]) -> None:
        unknown = sorted({key for key in keys if key not in self})
        if unknown:
            self.update(described(self.store, unknown))


def described(store: TraceStore, keys: Sequence[str]) -> dict[str, str]:
    """Digest -> ``"codec size"`` as the store records it, ``MISSING`` where it has none."""
    try:
        records = store.artifact_records(keys)
    except ReprolamError:
        records = {}
    return {
        key: MISSING if (record := records.get(key)) is None else f"{record.codec} {record.size}"
        for key in keys
    }


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
