"""Provenance leaves and enters a store only verified: ``export`` and ``import`` both check
every run they carry as ``replay`` does (header hash, hash chain, seal, artifact bytes, run
outputs), so an edited record is neither published as provenance nor taken in from a crate.
"""

from __future__ import annotations

from collections.abc import Iterable

from reprolam.errors import IntegrityError
from reprolam.history.verify import Problem, stream_trace, verify_trace
from reprolam.trace.contract import TraceStore
from reprolam.trace.records import RunRecord

# What a record may show and still be exported or imported: an interrupted run's last step
# never finished; a run recorded without an environment snapshot says so when audited.
# Everything else verify_trace finds is an edited, damaged or incomplete record.
ACCEPTED = frozenset({"unfinished", "environment"})


def integrity_problems(store: TraceStore, run: RunRecord) -> list[Problem]:
    """What is wrong with ``run``'s record (its trace streamed from the store)."""
    found = verify_trace(store, run, stream_trace(store, run.id))
    return [p for p in found if p.kind not in ACCEPTED]


def require_verified(
    store: TraceStore, runs: Iterable[RunRecord], *, where: str, then: str
) -> None:
    """Raise ``IntegrityError`` for the first of ``runs`` whose record does not verify.

    ``where`` says what holds the records (prefixes the message), ``then`` what was not
    done ("nothing was imported").
    """
    for run in runs:
        problems = integrity_problems(store, run)
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise IntegrityError(
                f"{where}run {run.id} does not verify: {problems[0].message}{more}: {then}"
            )
