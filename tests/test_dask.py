"""The Dask executor on a LocalCluster (2 worker processes on 127.0.0.1): same outputs as
in-process, worker placement recorded, a lost worker is a recorded failure."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import reprolam
from reprolam.cli.main import cli
from reprolam.errors import ConfigError
from reprolam.trace import SQLiteStore
from reprolam.trace.records import StepKind, StepRecord, StepStatus

pytest.importorskip("distributed")

from reprolam.engine.dask_executor import DaskExecutor

pytestmark = pytest.mark.slow

FLOW = f"{Path(__file__).with_name('sweep_flow.py')}:flow"


@pytest.fixture(scope="module")
def cluster() -> Iterator[DaskExecutor]:
    executor = DaskExecutor(workers=2)
    executor.start()
    yield executor
    executor.close()


def content(steps: list[StepRecord]) -> list[tuple[Any, ...]]:
    """What a step computed, without where and when: equal for the same work anywhere."""
    return [(s.index, s.action, s.params, s.inputs, s.outputs, s.seed, s.status) for s in steps]


def test_a_run_on_dask_computes_what_in_process_does_and_records_its_workers(
    cluster: DaskExecutor, tmp_path: Path
) -> None:
    with reprolam.open(tmp_path / "store") as rl:
        on_dask = rl.run("breast-cancer", seed=4, executor=cluster)
        local = rl.run("breast-cancer", seed=4)
        assert on_dask.succeeded
        assert content(on_dask.steps) == content(local.steps)
        assert on_dask.run.policy["executor"] == {"name": "dask", "workers": 2, "scheduler": None}
        workers = set(cluster.client.scheduler_info()["workers"])
        for step in on_dask.steps:
            placement = step.proposal["placement"]
            assert placement["worker"] in workers
            assert len(placement["environment"]) == 64
            assert placement["pid"] != os.getpid()
        assert all("placement" not in s.proposal for s in local.steps)
        assert rl.audit(on_dask.id).clean
        check = rl.reproduce(on_dask.id, executor="local")  # re-executed in-process: identical
        assert check.identical, check.summary()


def test_a_sweep_on_dask_matches_the_same_sweep_in_process(
    cluster: DaskExecutor, tmp_path: Path
) -> None:
    with reprolam.open(tmp_path / "store") as rl:
        parent = rl.run(FLOW, seed=2)
        grid = {"fit.C": [0.5, 1.0, 2.0, 3.0]}
        on_dask = rl.sweep(parent.id, at="fit", grid=grid, jobs=2, executor=cluster)
        local = rl.sweep(parent.id, at="fit", grid=grid)
        assert on_dask.succeeded
        assert local.succeeded
        for remote, here in zip(on_dask.points, local.points, strict=True):
            assert remote.run is not None
            assert here.run is not None
            assert content(rl.store.steps(remote.run.id)) == content(rl.store.steps(here.run.id))
            assert remote.metrics == here.metrics
            assert rl.audit(remote.run.id).clean
            assert len(remote.environments) == 1  # both workers run this same venv
        assert len(on_dask.environments) == 1
        assert local.environments == []


def test_killing_a_worker_mid_sweep_records_failures_and_loses_nothing(
    tmp_path: Path,
) -> None:
    executor = DaskExecutor(workers=2)
    executor.start()
    try:
        with reprolam.open(tmp_path / "store") as rl:
            parent = rl.run(FLOW, seed=2)
            killed: list[int] = []

            def kill_a_busy_worker() -> None:
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    busy = [w for w, keys in executor.client.processing().items() if keys]
                    if busy:
                        pid = executor.worker_pids()[busy[0]]
                        time.sleep(0.3)  # well inside the 3 s action
                        os.kill(pid, signal.SIGKILL)
                        killed.append(pid)
                        return
                    time.sleep(0.05)

            killer = threading.Thread(target=kill_a_busy_worker)
            killer.start()
            result = rl.sweep(
                parent.id,
                at="fit",
                grid={"fit.C": [1.0, 2.0, 3.0, 4.0], "fit.delay": [3.0]},
                jobs=2,
                executor=executor,
            )
            killer.join()
            assert killed, "no worker was busy"
            statuses = [p.run.status.value if p.run else p.error for p in result.points]
            assert statuses.count("failed") >= 1, statuses
            assert statuses.count("failed") + statuses.count("succeeded") == 4
            runs = [p.run for p in result.points if p.run]
            assert len(runs) == 4
            lost = 0
            for run in runs:
                own = rl.store.own_steps(run.id)
                indices = [s.index for s in own]
                assert indices == list(range(1, 1 + len(own)))  # none lost, none twice
                assert all(s.status is not StepStatus.STARTED for s in own)
                fits = [s for s in own if s.action == "fit"]
                assert len(fits) == 1  # a lost step is not retried behind the policy's back
                if fits[0].status is StepStatus.FAILED:
                    assert fits[0].error is not None
                    assert fits[0].error.type == "WorkerLost"
                    lost += 1
                # a lost worker is a complete failure record: there is no traceback to keep
                audit = rl.audit(run.id)
                assert audit.clean, audit.problems
            assert lost >= 1
    finally:
        executor.close()


def test_cli_runs_and_sweeps_on_a_local_cluster(tmp_path: Path) -> None:
    store = tmp_path / "store"
    runner = CliRunner()
    ran = runner.invoke(
        cli, ["--store", str(store), "run", FLOW, "--executor", "dask", "--workers", "1"]
    )
    assert ran.exit_code == 0, ran.output
    with SQLiteStore(store) as trace:
        (run,) = trace.list_runs()
        assert run.policy["executor"] == {"name": "dask", "workers": 1, "scheduler": None}
    swept = runner.invoke(
        cli,
        [
            "--store",
            str(store),
            "sweep",
            run.id[:12],
            "--at",
            "fit",
            "--grid",
            "fit.C=1,2",
            "--jobs",
            "2",
        ],
    )
    assert swept.exit_code == 0, swept.output
    with SQLiteStore(store) as trace:
        forks = [r for r in trace.list_runs() if r.parent_id == run.id]
        assert len(forks) == 2
        for fork in forks:  # the recorded executor is used again: the steps ran on workers
            assert fork.policy["executor"]["name"] == "dask"
            for step in trace.own_steps(fork.id):
                assert step.kind is StepKind.ACTION
                assert step.proposal["placement"]["executor"] == "dask"


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ConfigError, match="workers=0"):
        DaskExecutor(workers=0)
    with pytest.raises(ConfigError, match="one of them"):
        DaskExecutor(workers=1, scheduler="tcp://127.0.0.1:1")


def test_an_unreachable_scheduler_is_one_clear_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # free, and nobody listens on it
    result = CliRunner().invoke(
        cli,
        [
            "--store",
            str(tmp_path / "s"),
            "run",
            FLOW,
            "--executor",
            "dask",
            "--scheduler",
            f"tcp://127.0.0.1:{port}",
        ],
    )
    assert result.exit_code == 2, result.output
    assert "cannot reach the Dask scheduler" in result.stderr
    assert "--scheduler" in result.stderr


def test_a_trusted_store_pickles_on_the_workers_as_it_does_in_process(
    cluster: DaskExecutor, tmp_path: Path
) -> None:
    # The workers encoded outputs without the trust the store was opened with: a value only
    # pickle takes failed on Dask ("opt in to pickle with trusted=True") and not in-process.
    import trust_flow

    with reprolam.open(tmp_path / "store", trusted=True) as rl:
        on_dask = rl.run(trust_flow.opaque, executor=cluster)
        local = rl.run(trust_flow.opaque)
        assert local.succeeded
        assert on_dask.succeeded, on_dask.steps[-1].error
        assert content(on_dask.steps) == content(local.steps)


def test_an_output_no_codec_takes_names_the_action_and_output_on_every_executor(
    cluster: DaskExecutor, tmp_path: Path
) -> None:
    # In-process the step's error said "action 'wrap', output 'opaque': no codec can encode
    # ..."; the process and Dask workers said only "no codec can encode ..." (a CodecError).
    import trust_flow

    with reprolam.open(tmp_path / "store") as rl:
        errors = [
            rl.run(trust_flow.opaque, executor=executor).steps[-1].error
            for executor in ("local", "process", cluster)
        ]
    said = {(e.type, e.message) for e in errors if e is not None}
    assert len(said) == 1, said  # the same on all three
    ((kind, message),) = said
    assert kind == "OutputError"
    assert message.startswith("action 'wrap', output 'opaque': no codec can encode")


CHANGING_FLOW = """
from reprolam import action, workflow

FACTOR = {factor}


def scale(x: float) -> float:
    return x * {body}


@action(outputs=["value"], determinism="pure")
def compute(*, x: float = 2.0) -> float:
    return scale(x)


flow = workflow("changing", [compute], outputs=["value"])
"""


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ({"factor": 2, "body": "FACTOR"}, {"factor": 5, "body": "FACTOR"}),  # a constant
        ({"factor": 2, "body": "FACTOR"}, {"factor": 2, "body": "FACTOR * 3"}),  # a helper
    ],
    ids=["constant", "helper"],
)
def test_a_worker_holding_older_code_fails_the_step_instead_of_recording_it_as_new(
    cluster: DaskExecutor, tmp_path: Path, before: dict[str, Any], after: dict[str, Any]
) -> None:
    # A worker keeps the modules it imported: after the workflow's code changed, a cluster
    # that outlived the change ran the old code under the new code's fingerprint, and
    # --reuse then handed that stale output to runs of the new code.
    source = tmp_path / f"changing_{tmp_path.name.replace('-', '_')}.py"
    source.write_text(CHANGING_FLOW.format(**before))
    with reprolam.open(tmp_path / "store") as rl:
        assert rl.run(f"{source}:flow", executor=cluster).succeeded
        source.write_text(CHANGING_FLOW.format(**after))
        stale = rl.run(f"{source}:flow", executor=cluster)
        assert not stale.succeeded
        error = stale.steps[-1].error
        assert error is not None
        assert error.type == "WorkerCodeDiffers"
        assert "restart the cluster's workers" in error.message
        fresh = rl.run(f"{source}:flow", reuse=True)  # never the old code's output
        expected = 2.0 * after["factor"] * (3 if "3" in after["body"] else 1)
        assert fresh.outputs["value"] == expected


@pytest.mark.parametrize("address", ["foo", "tcp://", "http://127.0.0.1:8786"])
def test_a_malformed_scheduler_address_is_one_clear_error_at_once(
    tmp_path: Path, address: str
) -> None:
    # It was a ValueError traceback, and the half-made Client then held the exit for 20 s.
    started = time.monotonic()
    with pytest.raises(ConfigError, match="not a Dask scheduler address") as refused:
        DaskExecutor(scheduler=address).start()
    assert refused.value.option == "scheduler"
    assert time.monotonic() - started < 10


DYING_FLOW = """
import os, signal
from reprolam import action, workflow

@action(outputs=["y"])
def boom(*, n: int = 1) -> int:
    os.kill(os.getpid(), signal.SIGKILL)
    return n

flow = workflow("die", [boom], outputs=["y"])
"""


def test_a_lost_worker_is_said_once_by_reprolam_without_dask_s_log_lines(tmp_path: Path) -> None:
    # Dask's scheduler and nanny logged "... marked as failed because 1 workers died" and
    # "Restarting worker" to stderr, beside the step's WorkerLost line.
    (tmp_path / "die.py").write_text(DYING_FLOW)
    command = [sys.executable, "-m", "reprolam", "--store", str(tmp_path / "store"), "run"]
    command += [f"{tmp_path / 'die.py'}:flow", "--executor", "dask", "--workers", "1"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 1, done.stderr
    assert "WorkerLost: the Dask worker running boom died" in done.stderr
    assert not re.search(r"distributed\.\w+ - (ERROR|WARNING|INFO)", done.stderr), done.stderr


def test_a_local_cluster_that_cannot_start_is_one_clear_error(tmp_path: Path) -> None:
    import dask

    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with (
        dask.config.set({"temporary-directory": str(blocker / "dask")}),
        pytest.raises(ConfigError, match=r"local Dask cluster .* did not start") as refused,
    ):
        DaskExecutor(workers=1).start()
    assert "a-file" in str(refused.value)  # what failed is named
    # and where a worker's own error went ('Nanny failed to start.' names none)
    assert "what the workers printed to stderr (an error in the worker" in str(refused.value)


def test_a_script_read_from_stdin_is_named_as_why_the_workers_did_not_start() -> None:
    # Each worker process died loading '<stdin>' again (FileNotFoundError in its own stderr)
    # and the error said only 'Nanny failed to start.' and to check the temporary directory.
    script = (
        "from reprolam.engine.dask_executor import DaskExecutor\n"
        "from reprolam.errors import ConfigError\n"
        "try:\n"
        "    DaskExecutor(workers=1).start()\n"
        "except ConfigError as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-"],
        input=script,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    said = done.stdout.strip()
    assert "did not start" in said, done.stderr[-2000:]
    assert "main script '<stdin>' is not a file" in said
    assert "save the script to a file and run that" in said


def test_an_executor_that_cannot_start_leaves_no_run_behind(tmp_path: Path) -> None:
    # The run was recorded before the executor started: a bad --scheduler left an empty
    # "interrupted" run in the store.
    with reprolam.open(tmp_path / "store") as rl:
        with pytest.raises(ConfigError, match="scheduler"):
            rl.run(FLOW, executor={"name": "dask", "scheduler": "nowhere"})
        assert rl.store.list_runs() == []


SCRIPT_WITH_HELPER = """
import sys

import reprolam
from reprolam import action, workflow


def scale(x):
    return x * 2


@action(outputs=["y"])
def make() -> int:
    return scale(4)


flow = workflow("dask-script", [make], outputs=["y"])

if __name__ == "__main__":
    with reprolam.open(sys.argv[1]) as rl:
        done = rl.run(flow, executor={"name": "dask", "workers": 1})
        print(done.run.status.value, done.outputs, done.run.error)
"""


def test_a_script_whose_action_reaches_a_helper_runs_on_dask(tmp_path: Path) -> None:
    """Run as ``python script.py``, the script's helpers are ``__main__``'s here and
    ``__mp_main__``'s in a worker multiprocessing spawned: the worker's fingerprint never
    matched, and every such step failed saying the worker 'holds other code' than the run."""
    script = tmp_path / "dask_script.py"
    script.write_text(SCRIPT_WITH_HELPER)
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "store")],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.stdout.split("\n")[0] == "succeeded {'y': 8} None", (
        done.stdout + done.stderr[-2000:]
    )


SCHEDULER_KILLER = """
import os
import signal
import socket
import time

from reprolam import action, workflow


@action(outputs=["y"])
def stop_scheduler(*, pid: int = 0) -> int:
    os.kill(pid, signal.SIGKILL)
    time.sleep(30)  # the scheduler is gone long before
    return pid


flow = workflow("no-scheduler", [stop_scheduler], outputs=["y"])
"""


def test_a_scheduler_gone_mid_step_is_a_lost_step_without_dask_s_traceback(
    tmp_path: Path,
) -> None:
    # The step was recorded as WorkerLost ('scheduler-connection-lost'), then closing the
    # client logged "distributed.client - ERROR" and a CancelledError traceback to stderr.
    (tmp_path / "kill.py").write_text(SCHEDULER_KILLER)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    dask_cli = [sys.executable, "-m"]
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "cwd": tmp_path}
    scheduler = subprocess.Popen(
        [*dask_cli, "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port",
         str(port), "--no-dashboard"], **quiet,
    )  # fmt: skip
    worker = subprocess.Popen(
        [*dask_cli, "distributed.cli.dask_worker", address, "--nthreads", "1",
         "--no-dashboard"], **quiet,
    )  # fmt: skip
    try:
        command = [sys.executable, "-m", "reprolam", "--store", str(tmp_path / "store"), "run"]
        command += [f"{tmp_path / 'kill.py'}:flow", "--executor", "dask", "--scheduler"]
        command += [address, "--set", f"stop_scheduler.pid={scheduler.pid}"]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    finally:
        for process in (worker, scheduler):
            process.kill()
            process.wait()
    assert done.returncode == 1, done.stderr
    assert "WorkerLost: stop_scheduler did not come back from Dask" in done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert not re.search(r"distributed\.\w+ - (ERROR|WARNING)", done.stderr), done.stderr
