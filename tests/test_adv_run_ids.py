"""Run ids are names, never paths.

A crate's records are self-consistent whenever their author computed the hashes, so a
hostile crate can carry a run whose id is ``../trace.db`` and whose status is ``running``.
The SQLite store keeps a lease file per running run (``<store>/leases/<run_id>``) and
deletes the leases of dead runs when it opens: that id deleted the store's own database.
Import refuses such ids; the leases never leave their directory, whatever the id.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pytest

from reprolam.errors import IntegrityError
from reprolam.provenance import export_run, import_crate
from reprolam.trace.memory import MemoryStore
from reprolam.trace.records import RunRecord, RunStatus, run_header_hash
from reprolam.trace.sqlite import SQLiteStore

pytest.importorskip("rocrate", reason="pip install 'reprolam[provenance]'")


def _running(run_id: str) -> RunRecord:
    """A run left running by a process long gone, its header hash computed as reprolam does."""
    run = RunRecord(
        id=run_id, workflow="x", seed=0, created_at=time.time(), host="gone", pid=2**22 + 7
    )
    return replace(run, header_hash=run_header_hash(run))


@pytest.mark.parametrize("run_id", ["../trace.db", "a/../../b", "..", "x\x00y"])
def test_a_crate_whose_run_id_is_a_path_is_refused(tmp_path: Path, run_id: str) -> None:
    staged = MemoryStore()
    staged.create_run(_running(run_id))
    crate = tmp_path / "crate"
    export_run(staged, run_id, format="rocrate", output=crate)
    lab = tmp_path / "lab"
    with SQLiteStore(lab) as store:
        store.create_run(_running("01a00000-0000-7000-8000-000000000000"))
        with pytest.raises(IntegrityError, match="is not a run id"):
            import_crate(store, crate)
    with SQLiteStore(lab) as store:  # reopening marks dead runs and releases their leases
        assert [r.id for r in store.list_runs()] == ["01a00000-0000-7000-8000-000000000000"]
    assert (lab / "trace.db").is_file()


def test_a_lease_never_leaves_the_lease_directory(tmp_path: Path) -> None:
    """A run whose id is a path (recorded through the API, or by an older import) that was
    left running: marking it interrupted touches no file outside ``leases/``."""
    store_dir = tmp_path / "store"
    with SQLiteStore(store_dir) as store:
        store.create_run(_running("../victim.txt"))
        with store.lease("../victim.txt"):
            pass
    victim = store_dir / "victim.txt"
    victim.write_text("not a lease")
    with SQLiteStore(store_dir) as store:
        run = store.get_run("../victim.txt")
    assert victim.read_text() == "not a lease"
    assert run.status in (RunStatus.RUNNING, RunStatus.INTERRUPTED)
    assert all(p.parent == store_dir / "leases" for p in (store_dir / "leases").iterdir())


@pytest.mark.parametrize("run_id", ["a?b#c", "a b", "<x>", "a%2e", "x\u202ey", "-a"])
def test_a_crate_whose_run_id_is_not_a_plain_name_is_refused(tmp_path: Path, run_id: str) -> None:
    """Any id but a path was taken in: ``a?b#c`` or ``a b`` then made broken links in the UI
    and, exported again, RO-Crate @ids that are not IRIs (the validator failed the crate)."""
    staged = MemoryStore()
    staged.create_run(_running(run_id))
    crate = tmp_path / "crate"
    export_run(staged, run_id, format="rocrate", output=crate)
    store = MemoryStore()
    with pytest.raises(IntegrityError, match="is not a run id"):
        import_crate(store, crate)
    assert store.list_runs() == []
