"""A store opened for reading needs no write access; a dead writer's journal never bricks one."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from reprolam import Engine, RulesPlanner, StoreError
from reprolam.history.audit import audit
from reprolam.trace import RunStatus, SQLiteStore
from reprolam.trace.journal import RecoveryWarning, has_frames, journal_files
from test_failures import FLOW

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def recorded(tmp_path: Path) -> tuple[Path, str]:
    with SQLiteStore(tmp_path / "store") as store:
        run_id = Engine(store).run(FLOW, planner=RulesPlanner()).id
    return tmp_path / "store", run_id


def test_a_store_opened_read_only_reads_and_refuses_writes(recorded: tuple[Path, str]) -> None:
    path, run_id = recorded
    with SQLiteStore(path, read_only=True) as store:
        assert [r.id for r in store.list_runs()] == [run_id]
        assert audit(store, run_id).clean
        with pytest.raises(StoreError, match="read-only"):
            Engine(store).run(FLOW, planner=RulesPlanner())
    with SQLiteStore(path) as store:
        assert len(store.list_runs()) == 1  # nothing was recorded


def test_a_read_only_store_is_refused_when_it_needs_an_upgrade(
    recorded: tuple[Path, str],
) -> None:
    import sqlite3
    from contextlib import closing

    path, _run_id = recorded
    with closing(sqlite3.connect(path / "trace.db")) as conn, conn:
        conn.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    with pytest.raises(StoreError, match="with write access"):
        SQLiteStore(path, read_only=True)


@pytest.fixture
def shared_store() -> Iterator[Path]:
    """A store in a directory other users can read but not write (tmp_path is private)."""
    root = Path(tempfile.mkdtemp(prefix="reprolam-ro-"))
    try:
        os.chmod(root, 0o755)
        yield root / "store"
    finally:
        shutil.rmtree(root, ignore_errors=True)


def as_nobody(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI as a user without write access (tests run as root in CI)."""
    import pwd

    nobody = pwd.getpwnam("nobody")

    def drop() -> None:
        os.setgid(nobody.pw_gid)
        os.setuid(nobody.pw_uid)

    env = {**os.environ, "HOME": "/tmp"}
    try:
        return subprocess.run(
            [sys.executable, "-m", "reprolam", *args],
            capture_output=True,
            text=True,
            preexec_fn=drop if os.geteuid() == 0 else None,
            env=env,
            check=False,
            timeout=120,
            cwd="/",
        )
    except PermissionError as exc:
        return subprocess.CompletedProcess(args, 126, "", str(exc))


def test_cli_reads_a_store_it_cannot_write(
    recorded: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """As a user without write access sees it (root always has it, so os.access says so)."""
    from click.testing import CliRunner

    from reprolam.cli.main import cli

    path, run_id = recorded
    real_access = os.access

    def access(target: str | os.PathLike[str], mode: int, **kwargs: object) -> bool:
        if mode & os.W_OK and str(Path(target).resolve()).startswith(str(path.resolve())):
            return False
        return real_access(target, mode)

    monkeypatch.setattr(os, "access", access)
    runner = CliRunner()
    for args in (["runs"], ["show", run_id], ["audit", run_id], ["replay", run_id]):
        result = runner.invoke(cli, ["--store", str(path), *args])
        assert result.exit_code == 0, (args, result.output)
    refused = runner.invoke(cli, ["--store", str(path), "run", f"{ROOT}/tests/trust_flow.py:quick"])
    assert refused.exit_code == 2
    assert "read-only" in refused.output


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_runs_and_show_work_without_write_access(shared_store: Path) -> None:
    if os.geteuid() == 0 and not os.access(sys.executable, os.X_OK, effective_ids=False):
        pytest.skip("cannot run as another user here")
    probe = as_nobody("--version")
    if probe.returncode != 0:
        pytest.skip(f"this Python cannot run as user nobody: {probe.stderr[-200:]}")
    with SQLiteStore(shared_store) as store:
        run_id = Engine(store).run(FLOW, planner=RulesPlanner()).id
    for path in [shared_store, *shared_store.rglob("*")]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    if os.geteuid() != 0:  # a user can make their own store read-only for themselves
        for path in [shared_store, *shared_store.rglob("*")]:
            os.chmod(path, 0o555 if path.is_dir() else 0o444)
    listed = as_nobody("--store", str(shared_store), "runs")
    assert listed.returncode == 0, listed.stderr
    assert run_id[:8] in listed.stdout
    shown = as_nobody("--store", str(shared_store), "show", run_id)
    assert shown.returncode == 0, shown.stderr
    audited = as_nobody("--store", str(shared_store), "audit", run_id)
    assert audited.returncode == 0, audited.stderr
    refused = as_nobody(
        "--store", str(shared_store), "run", str(ROOT / "tests/trust_flow.py:quick")
    )
    assert refused.returncode == 2
    assert "read-only" in refused.stderr
    assert "Traceback" not in refused.stderr


KILLED_WRITER = """
import os, signal, sys
sys.path.insert(0, {tests!r})
from reprolam.trace import sqlite
sqlite.FLUSH_INTERVAL = 1000.0  # keep everything in the journal until the kill
from reprolam import Engine, RulesPlanner
from test_failures import FLOW
store = sqlite.SQLiteStore({path!r})
Engine(store).run(FLOW, planner=RulesPlanner(), seed=5)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_dead_writers_journal_over_a_restored_backup_is_reported_not_fatal(
    recorded: tuple[Path, str], tmp_path: Path
) -> None:
    path, run_id = recorded
    backup = tmp_path / "backup.db"
    shutil.copy(path / "trace.db", backup)
    script = KILLED_WRITER.format(tests=str(ROOT / "tests"), path=str(path))
    command = [sys.executable, "-c", script]
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    assert proc.returncode == -9, proc.stderr
    journals = journal_files(path / "journal")
    assert journals
    assert any(has_frames(j) for j in journals)
    # Restore trace.db from the backup taken before the dead writer's run existed.
    for leftover in ("trace.db-wal", "trace.db-shm"):
        (path / leftover).unlink(missing_ok=True)
    shutil.copy(backup, path / "trace.db")
    with pytest.warns(RecoveryWarning, match="not in .*restored from a backup"):
        store = SQLiteStore(path)
    with store:
        assert [r.id for r in store.list_runs()] == [run_id]  # the store works
        assert audit(store, run_id).clean
        assert store.notes
        (kept,) = (path / "journal").glob("*.unapplied")
        assert str(kept) in store.notes[0]
        assert Engine(store).run(FLOW, planner=RulesPlanner()).run.status is RunStatus.SUCCEEDED
    with SQLiteStore(path) as again:  # reported once: the journal is gone, the rest kept
        assert again.notes == []
