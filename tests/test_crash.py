"""Crash safety: SIGKILL at every durable store write, then open, check, resume, compare."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import crash_flow
from reprolam.history.audit import audit
from reprolam.history.resume import resume
from reprolam.history.verify import verify_trace
from reprolam.trace import RunStatus, SQLiteStore, StepStatus

SCRIPT = str(Path(crash_flow.__file__))


def _run_script(store: Path, crash_at: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "REPROLAM_CRASH_AT": crash_at}
    return subprocess.run(
        [sys.executable, SCRIPT, str(store)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _count_writes(tmp_path: Path) -> int:
    """Durable writes of one uninterrupted run (the crash points to cover)."""
    code = (
        "import os, sys; os.environ['REPROLAM_CRASH_AT'] = '1000000'\n"
        f"sys.path.insert(0, {str(Path(SCRIPT).parent)!r})\n"
        "import crash_flow\n"
        "from reprolam.trace import crashpoints\n"
        "from reprolam.trace.sqlite import SQLiteStore\n"
        f"with SQLiteStore({str(tmp_path / 'count')!r}) as store:\n"
        "    crash_flow.run_once(store)\n"
        "print(crashpoints._writes[0])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(out.stdout.strip())


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_sigkill_at_every_store_write_leaves_a_consistent_resumable_store(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "reference") as store:
        reference_id = crash_flow.run_once(store)
        reference = [s.outputs for s in store.steps(reference_id)]
    writes = _count_writes(tmp_path)
    points = [f"{n}{phase}" for n in range(1, writes + 1) for phase in ("", ":after")]
    assert len(points) >= 50
    outcomes: dict[str, int] = {"no run yet": 0, "resumed": 0, "finished": 0}

    for point in points:
        store_dir = tmp_path / f"crash-{point.replace(':', '-')}"
        proc = _run_script(store_dir, point)
        assert proc.returncode == -signal.SIGKILL, (point, proc.stderr)
        with SQLiteStore(store_dir) as store:  # it opens: journal recovered, dead run found
            runs = store.list_runs()
            if not runs:  # killed before the run's record was committed: nothing to resume
                outcomes["no run yet"] += 1
                continue
            (run,) = runs
            steps = store.steps(run.id)
            problems = verify_trace(store, run, steps)
            if run.status is RunStatus.SUCCEEDED:  # killed after the last record
                assert problems == [], point
                assert [s.outputs for s in steps] == reference, point
                outcomes["finished"] += 1
                continue
            assert run.status is RunStatus.INTERRUPTED, point
            assert "reprolam resume" in (run.error or "")
            # The only problem audit finds is the interruption itself.
            assert [p.kind for p in audit(store, run.id).problems] == ["interrupted"], point
            assert {p.kind for p in problems} <= {"unfinished"}, (point, problems)
            started = [s for s in steps if s.status is StepStatus.STARTED]
            assert len(started) <= 1
            assert all(s.index == len(steps) - 1 for s in started), point
            result = resume(store, run.id)
            assert result.succeeded, (point, result.run.error)
            resumed = store.steps(run.id)
            assert [s.outputs for s in resumed] == reference, point
            assert verify_trace(store, store.get_run(run.id), resumed) == []
            assert audit(store, run.id).clean
            outcomes["resumed"] += 1

    print(f"{len(points)} kill points: {outcomes}")
    assert outcomes["resumed"] >= 40, outcomes
    assert sum(outcomes.values()) == len(points)


def test_resume_refuses_a_finished_run(tmp_path: Path) -> None:
    import reprolam

    with SQLiteStore(tmp_path) as store:
        run_id = crash_flow.run_once(store)
        with pytest.raises(reprolam.ConfigError, match="has succeeded, not interrupted"):
            resume(store, run_id)
