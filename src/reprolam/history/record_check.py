"""Whether the records a report is built from still verify (for ``diff`` and ``compare``).

``diff`` and ``compare`` state params, outputs and metrics read from stored records. Those
are only the run's if the records verify as ``replay`` verifies them (header hash, hash
chain, seal, artifact bytes, run outputs): a step's params edited in the database were
shown as what the run ran with, exit 0. The reports say which runs do not verify, with
the first problem, and the CLI exits 1 for them.
"""

from __future__ import annotations

from collections.abc import Iterable

from reprolam.history.kept_records import FileContents
from reprolam.history.verify import Problem, stream_trace, verify_trace
from reprolam.trace.contract import TraceStore
from reprolam.trace.records import RunRecord, StepRecord

# What a record may show and still be what its run recorded: an interrupted run's last
# step never finished; a run recorded without an environment snapshot says so when audited.
# Everything else verify_trace finds is an edited, damaged or incomplete record.
ACCEPTED = frozenset({"unfinished", "environment"})


def integrity_problems(store: TraceStore, run: RunRecord) -> list[Problem]:
    """What is wrong with ``run``'s record (its trace streamed from the store)."""
    return [p for p in trace_problems(store, run) if p.kind not in ACCEPTED]


def trace_problems(
    store: TraceStore, run: RunRecord, steps: Iterable[StepRecord] | None = None
) -> list[Problem]:
    """Every problem ``replay`` finds with ``run``'s record: ``verify_trace`` of its trace
    (``steps``, else streamed from the store), and the contents of the files and directories
    its steps wrote (a manifest verifies on its own; the bytes it names must too)."""
    files = FileContents()
    return verify_trace(
        store,
        run,
        stream_trace(store, run.id) if steps is None else steps,
        on_artifact=files.note,
        on_page=lambda page: files.check(store, page),
    )


def unverified(store: TraceStore, runs: Iterable[RunRecord]) -> dict[str, str]:
    """Run id -> why its record does not verify (the first problem, and how many more), for
    each of ``runs`` that does not."""
    found: dict[str, str] = {}
    for run in runs:
        if run.id in found:
            continue
        problems = integrity_problems(store, run)
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            found[run.id] = f"{problems[0].message}{more}"
    return found


def unverified_warning(run_id: str, why: str) -> str:
    """One line for a report built from a record that does not verify."""
    return (
        f"run {run_id} does not verify, so what is shown of it may not be what it recorded: "
        f"{why}; see `reprolam audit {run_id}`"
    )
