"""PostgreSQL liveness and crash safety: a dead run is interrupted and resumable from anywhere.

The crash matrix is tests/test_crash.py's on PostgreSQL: SIGKILL of the writer just before
and just after every durable write (the run's INSERT, every record() COMMIT, every blob
file), then a fresh process opens the store, finds the run interrupted, resumes it, and
gets outputs identical to an uninterrupted run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

import crash_flow
import pg
from reprolam import ConfigError, StoreError
from reprolam.history.audit import audit
from reprolam.history.resume import resume
from reprolam.history.verify import verify_trace
from reprolam.trace import RunStatus, StepStatus
from reprolam.trace.postgres import PostgresStore

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
SCRIPT = str(Path(crash_flow.__file__))


def run_script(dsn: str, artifacts: Path, crash_at: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "REPROLAM_CRASH_AT": crash_at}
    return subprocess.run(
        [sys.executable, SCRIPT, dsn, str(artifacts)],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def count_writes(dsn: str, artifacts: Path) -> int:
    code = (
        "import os, sys; os.environ['REPROLAM_CRASH_AT'] = '1000000'\n"
        f"sys.path.insert(0, {str(Path(SCRIPT).parent)!r})\n"
        "import crash_flow\n"
        "from reprolam.trace import crashpoints\n"
        "from reprolam.trace.postgres import PostgresStore\n"
        f"with PostgresStore({dsn!r}, artifacts_dir={str(artifacts)!r}) as store:\n"
        "    crash_flow.run_once(store)\n"
        "print(crashpoints._writes[0])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(out.stdout.strip())


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_sigkill_at_every_postgres_write_leaves_a_resumable_store(
    postgres: pg.PgServer, tmp_path: Path
) -> None:
    with PostgresStore(postgres.create_database(), artifacts_dir=tmp_path / "ref") as store:
        reference_id = crash_flow.run_once(store)
        reference = [s.outputs for s in store.steps(reference_id)]
    writes = count_writes(postgres.create_database(), tmp_path / "count")
    points = [f"{n}{phase}" for n in range(1, writes + 1) for phase in ("", ":after")]
    assert len(points) >= 40
    outcomes = {"no run yet": 0, "resumed": 0, "finished": 0}
    for point in points:
        dsn, artifacts = postgres.create_database(), tmp_path / f"a-{point.replace(':', '-')}"
        proc = run_script(dsn, artifacts, point)
        assert proc.returncode == -signal.SIGKILL, (point, proc.stderr)
        # A fresh process (this one) opens the store: the dead run's lock is gone.
        with PostgresStore(dsn, artifacts_dir=artifacts) as store:
            runs = store.list_runs()
            if not runs:
                outcomes["no run yet"] += 1
                continue
            (run,) = runs
            steps = store.steps(run.id)
            if run.status is RunStatus.SUCCEEDED:
                assert verify_trace(store, run, steps) == [], point
                assert [s.outputs for s in steps] == reference, point
                outcomes["finished"] += 1
                continue
            assert run.status is RunStatus.INTERRUPTED, (point, run.status)
            assert "reprolam resume" in (run.error or "")
            assert [p.kind for p in audit(store, run.id).problems] == ["interrupted"], point
            started = [s for s in steps if s.status is StepStatus.STARTED]
            assert len(started) <= 1
            result = resume(store, run.id)
            assert result.succeeded, (point, result.run.error)
            assert [s.outputs for s in store.steps(run.id)] == reference, point
            assert audit(store, run.id).clean, point
            outcomes["resumed"] += 1
    print(f"{len(points)} kill points on PostgreSQL: {outcomes}")
    assert outcomes["resumed"] >= 30, outcomes
    assert sum(outcomes.values()) == len(points)


def test_a_live_run_is_not_marked_and_cannot_be_executed_twice(pg_dsn: str, tmp_path: Path) -> None:
    artifacts = tmp_path / "a"
    with PostgresStore(pg_dsn, artifacts_dir=artifacts) as holder:
        run_id = crash_flow.run_once(holder)
        # Pretend it is still running, leased by this (live) store.
        with holder.lease(run_id):
            with psycopg.connect(pg_dsn, autocommit=True) as conn:
                conn.execute(
                    "UPDATE runs SET status = 'running', seal = NULL WHERE id = %s", (run_id,)
                )
            with PostgresStore(pg_dsn, artifacts_dir=artifacts) as other:
                assert other.get_run(run_id).status is RunStatus.RUNNING  # alive: left alone
                refused = pytest.raises(StoreError, match="being executed by another process")
                with refused, other.lease(run_id):
                    pass
        # The lease is gone (as when the process dies): the next opener marks the run.
        with PostgresStore(pg_dsn, artifacts_dir=artifacts) as other:
            record = other.get_run(run_id)
            assert record.status is RunStatus.INTERRUPTED
            assert f"pid {record.pid}" in (record.error or "")


def test_a_killed_run_is_resumable_from_another_process_and_resume_refuses_twice(
    pg_dsn: str, tmp_path: Path
) -> None:
    artifacts = tmp_path / "a"
    proc = run_script(pg_dsn, artifacts, "12")
    assert proc.returncode == -signal.SIGKILL
    with PostgresStore(pg_dsn, artifacts_dir=artifacts) as store:
        (run,) = store.list_runs()
        assert run.status is RunStatus.INTERRUPTED  # was: running forever
        assert resume(store, run.id).succeeded
        with pytest.raises(ConfigError, match="not interrupted"):
            resume(store, run.id)


@pytest.mark.slow
def test_server_stopped_mid_run_leaves_it_interrupted_and_resumable(tmp_path: Path) -> None:
    bindir = pg.find_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries not found")
    with pg.running_server(bindir) as server:
        dsn, artifacts = server.create_database(), tmp_path / "a"
        env = {**os.environ, "CRASH_FLOW_SLEEP": "0.2"}
        proc = subprocess.Popen(
            [sys.executable, SCRIPT, dsn, str(artifacts)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # wait until a few steps are recorded
            try:
                with psycopg.connect(dsn, autocommit=True) as conn:
                    row = conn.execute("SELECT count(*) FROM steps").fetchone()
                if row and row[0] >= 4:
                    break
            except Exception:  # the schema is not there yet
                pass
            time.sleep(0.1)
        server.stop()
        _out, err = proc.communicate(timeout=120)
        assert proc.returncode != 0, err
        assert "Traceback" not in err.splitlines()[-1] if err else True
        server.serve()
        with PostgresStore(dsn, artifacts_dir=artifacts) as store:
            (run,) = store.list_runs()
            assert run.status is RunStatus.INTERRUPTED
            assert resume(store, run.id).succeeded
            assert audit(store, run.id).clean


def test_a_run_resumed_elsewhere_while_its_process_was_cut_off_is_not_written_again(
    pg_dsn: str, tmp_path: Path
) -> None:
    """The server restarted (or the session was killed) mid-run: its lease was gone, another
    process resumed the run and finished it, and the first process, reconnected, took the free
    lease again and overwrote the other's steps and end: the run executed twice, recorded once."""
    import socket
    from dataclasses import replace

    from reprolam.errors import LeaseLostError
    from reprolam.testing.conformance import make_run, make_step

    artifacts = tmp_path / "a"
    mine = make_run("cut-off", pid=os.getpid(), host=socket.gethostname(), status=RunStatus.RUNNING)
    first = PostgresStore(pg_dsn, artifacts_dir=artifacts)
    with first.lease(mine.id):
        first.create_run(mine)
        first.record(steps=[make_step(mine.id, 0)])
        with psycopg.connect(pg_dsn, autocommit=True) as admin:  # the session is cut off
            admin.execute("SELECT pg_terminate_backend(%s)", (first._conn.info.backend_pid,))
        with PostgresStore(pg_dsn, artifacts_dir=artifacts) as other, other.lease(mine.id):
            resumed = replace(mine, status=RunStatus.RUNNING, pid=os.getpid() + 1)
            other.record(run=resumed)  # what resume records: its own process
            theirs = make_step(mine.id, 1, action="theirs")
            other.record(steps=[theirs], run=replace(resumed, status=RunStatus.SUCCEEDED))
        for attempt in (
            lambda: first.record(steps=[make_step(mine.id, 1, action="mine")]),
            lambda: first.record(run=replace(mine, status=RunStatus.INTERRUPTED)),
        ):
            with pytest.raises(LeaseLostError, match="another process has taken the run over"):
                attempt()
    first.close()
    with PostgresStore(pg_dsn, artifacts_dir=artifacts) as store:
        assert store.get_run(mine.id).status is RunStatus.SUCCEEDED
        assert [s.action for s in store.steps(mine.id)] == ["action_0", "theirs"]


def test_a_run_cut_off_from_the_server_and_marked_interrupted_is_running_again_once_back(
    pg_dsn: str, tmp_path: Path
) -> None:
    """The session of a live run was cut off (a network drop, a killed session); another
    process opened the store meanwhile, found its lease free and marked it interrupted. Back,
    the first took its lease again and went on recording, and the run said `interrupted`
    (its process 'ended') while it ran, to the end of the run."""
    import socket
    from dataclasses import replace

    from reprolam.testing.conformance import make_run, make_step

    artifacts = tmp_path / "a"
    mine = make_run("cut-off", pid=os.getpid(), host=socket.gethostname(), status=RunStatus.RUNNING)
    first = PostgresStore(pg_dsn, artifacts_dir=artifacts)
    with first.lease(mine.id):
        first.create_run(mine)
        first.record(steps=[make_step(mine.id, 0)])
        with psycopg.connect(pg_dsn, autocommit=True) as admin:  # the session is cut off
            admin.execute("SELECT pg_terminate_backend(%s)", (first._conn.info.backend_pid,))
        with PostgresStore(pg_dsn, artifacts_dir=artifacts) as other:
            assert other.get_run(mine.id).status is RunStatus.INTERRUPTED  # nobody held it
        first.record(steps=[make_step(mine.id, 1)])  # reconnected: the lease is its again
        with PostgresStore(pg_dsn, artifacts_dir=artifacts) as other:
            run = other.get_run(mine.id)
            assert (run.status, run.error) == (RunStatus.RUNNING, None)  # it said interrupted
            with pytest.raises(StoreError, match="holds the run's lease"), other.lease(mine.id):
                pass
        first.record(run=replace(mine, status=RunStatus.SUCCEEDED))
    first.close()
    with PostgresStore(pg_dsn, artifacts_dir=artifacts) as store:
        assert store.get_run(mine.id).status is RunStatus.SUCCEEDED
        assert [s.index for s in store.steps(mine.id)] == [0, 1]


def test_an_extension_whose_commit_was_answered_on_a_dropped_connection_is_not_anothers(
    pg_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server committed a hand-built run's next step, and the connection dropped before
    its answer came back: the call, retried whole, found that step there and said another
    process had extended the run (ConfigError: open the run again), though nobody had."""
    from reprolam.testing.conformance import make_run, make_step
    from reprolam.trace import crashpoints

    with PostgresStore(pg_dsn, artifacts_dir=tmp_path / "a") as store:
        store.create_run(make_run("by-hand"))
        store.extend_run("by-hand", 0, steps=[make_step("by-hand", 0)])
        dropped: list[bool] = []

        def answer_lost() -> None:  # after the COMMIT went through: the session is cut off
            if dropped:
                return
            dropped.append(True)
            with psycopg.connect(pg_dsn, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (store._conn.info.backend_pid,))
            store._conn.execute("SELECT 1")  # the client finds the connection gone

        monkeypatch.setattr(crashpoints, "after_write", answer_lost)
        mine = make_step("by-hand", 1)
        store.extend_run("by-hand", 1, steps=[mine])  # it raised ConfigError
        assert dropped
        assert [s.hash for s in store.steps("by-hand")][1] == mine.hash
        theirs = make_step("by-hand", 1, action="theirs")
        with pytest.raises(ConfigError, match="already has a step 1"):
            store.extend_run("by-hand", 1, steps=[theirs])  # another writer's is still refused
