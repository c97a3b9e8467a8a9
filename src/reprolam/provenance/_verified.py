"""Provenance leaves and enters a store only verified: ``export`` and ``import`` both check
every run they carry as ``replay`` does (header hash, hash chain, seal, artifact bytes, run
outputs), and its code record (bytes and codec, which the seal does not cover), so an
edited record is neither published as provenance nor taken in from a crate.
"""

from __future__ import annotations

from collections.abc import Iterable

from reprolam.errors import IntegrityError
from reprolam.history.kept_records import code_record_problems
from reprolam.history.record_check import ACCEPTED, integrity_problems
from reprolam.trace.contract import TraceStore
from reprolam.trace.records import RunRecord

__all__ = ["ACCEPTED", "integrity_problems", "require_verified"]


def require_verified(
    store: TraceStore, runs: Iterable[RunRecord], *, where: str, then: str
) -> None:
    """Raise ``IntegrityError`` for the first of ``runs`` whose record does not verify.

    ``where`` says what holds the records (prefixes the message), ``then`` what was not
    done ("nothing was imported").
    """
    for run in runs:
        problems = integrity_problems(store, run) or code_record_problems(store, run)
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise IntegrityError(
                f"{where}run {run.id} does not verify: {problems[0].message}{more}: {then}"
            )
