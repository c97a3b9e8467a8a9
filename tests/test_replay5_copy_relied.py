"""``store copy`` verifies only the destination's artifacts that what it writes relies on.

A copy skips the artifacts the destination already holds, so it re-reads them to report a
damaged one (``CopyReport.damaged``). It re-read every one the copied store's runs refer to,
runs already there (skipped) included: each incremental copy into a backup re-read the
whole backup. Now only those the runs it writes refer to are read: a damaged artifact of a
skipped run is neither read nor reported (``audit`` of that run names it), one a new run
relies on still is.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import reprolam
from reprolam import ActionContext, action, workflow
from reprolam.trace.copy import copy_store
from reprolam.trace.sqlite import SQLiteStore


@action(outputs=["data"])
def load() -> bytes:
    return bytes(range(256)) * 400  # the same for every run, large: a blob file


@action(outputs=["label"], determinism="seeded")
def label(data: bytes, *, ctx: ActionContext) -> str:
    return f"{len(data)} {ctx.rng.random()!r}"  # a run's own artifact, kept inline


flow = workflow("copy-relied", [load, label], outputs=["label"])


def _outputs(store: Path, run_id: str) -> dict[str, str]:
    with SQLiteStore(store) as trace:
        return {n: d for s in trace.steps(run_id) for n, d in s.outputs.items()}


def _damage(store: Path, data: str, label: str) -> None:
    with SQLiteStore(store) as trace:
        blob = trace.blobs.path_of(data)
    blob.chmod(0o644)
    blob.write_bytes(b"!" + blob.read_bytes()[1:])
    with closing(sqlite3.connect(store / "trace.db")) as conn, conn:
        (inline,) = conn.execute("SELECT data FROM artifacts WHERE digest = ?", (label,)).fetchone()
        conn.execute(
            "UPDATE artifacts SET data = ? WHERE digest = ?", (bytes(inline) + b"0", label)
        )


def test_only_what_the_written_runs_refer_to_is_read_again(
    tmp_path: Path, artifact_reads: list[str]
) -> None:
    source, backup = tmp_path / "source", tmp_path / "backup"
    with reprolam.open(source) as rl:
        first = rl.run(flow, seed=1).id
    with reprolam.open(source) as src, reprolam.open(backup) as dst:
        assert copy_store(src.store, dst.store).copied == [first]
    with reprolam.open(backup) as rl:
        only_there = rl.run(flow, seed=3).id  # a run the source never had
    with reprolam.open(source) as rl:
        second = rl.run(flow, seed=2).id
    shared = _outputs(source, first)["data"]
    assert _outputs(source, second)["data"] == shared
    first_label = _outputs(source, first)["label"]
    there_label = _outputs(backup, only_there)["label"]
    _damage(backup, shared, first_label)
    _damage(backup, shared, there_label)
    artifact_reads.clear()  # what recording read: not the copy's

    with reprolam.open(source) as src, reprolam.open(backup) as dst:
        report = copy_store(src.store, dst.store)
    assert (report.copied, report.skipped) == ([second], [first])
    # the new run relies on the damaged blob the backup held: read, and repaired from the
    # source's bytes
    assert report.repaired == [shared]
    assert report.damaged == {}
    # the skipped run's own damaged artifact, and the backup's own run's: not read
    assert first_label not in artifact_reads
    assert there_label not in artifact_reads
    with reprolam.open(backup) as rl:
        found = {p.artifact for p in rl.audit(first).problems}
    assert first_label in found  # audit still names it
    assert shared not in found
