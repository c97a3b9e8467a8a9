"""Failure-aware execution: injected faults, retries, recoveries, partial outputs, timeouts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import reprolam
from reprolam import (
    ActionContext,
    ConfigError,
    Engine,
    Policy,
    Proposal,
    RulesPlanner,
    RunState,
    action,
    workflow,
)
from reprolam.cli.main import cli
from reprolam.engine.faults import parse_fault, parse_faults, strikes
from reprolam.engine.process import ProcessExecutor
from reprolam.history.reproduce import reproduce
from reprolam.trace import MemoryStore, RunStatus, SQLiteStore, StepKind, StepStatus

# Module-level actions so a worker process can import them.


@action(outputs=["data"], determinism="seeded")
def draw(*, n: int = 5, ctx: ActionContext) -> list[float]:
    return [ctx.random.random() for _ in range(n)]


@action(outputs=["total"])
def add(data: list[float], *, scale: float = 1.0) -> float:
    return sum(data) * scale


@action(outputs=["total"])
def careful(data: list[float]) -> float:
    """Saves a checkpoint, then fails."""
    ctx_free_checkpoint = [x * 2 for x in data]
    _PARTIAL["ctx"].save_partial("checkpoint", ctx_free_checkpoint)
    raise RuntimeError("disk full while writing the final result")


@action(outputs=["total"])
def sleepy(data: list[float], *, seconds: float = 30.0) -> float:
    import time

    time.sleep(seconds)
    return 0.0


_PARTIAL: dict[str, Any] = {}
FLOW = workflow("faulty", [draw, add], outputs=["total"])


class Recovering:
    """Rules, plus: after a failed `add`, retry it with a different scale, linked to the failure."""

    name = "recovering"
    instant = True

    def propose(self, state: RunState) -> Any:
        last = state.last_step
        if last is not None and last.status is StepStatus.FAILED:
            return Proposal(last.action, params={"scale": 0.5}, recovers=last.index)
        return RulesPlanner().propose(state)

    def config(self) -> dict[str, Any]:
        return {"name": self.name}


def seed_where(pattern: list[bool], action_name: str, rate: float) -> int:
    """A run seed whose first executions of ``action_name`` strike exactly as ``pattern``."""
    for seed in range(10_000):
        if [
            strikes({action_name: rate}, seed, action_name, i) for i in range(len(pattern))
        ] == pattern:
            return seed
    raise AssertionError("no such seed")


def test_parse_fault() -> None:
    assert parse_fault("train_model:0.3") == ("train_model", 0.3)
    assert parse_fault("*:1") == ("*", 1.0)
    for bad in ("train_model", "train_model:2", "train_model:x", ":0.5"):
        with pytest.raises(reprolam.ConfigError, match="ACTION:RATE"):
            parse_fault(bad)


def test_an_action_given_two_fault_rates_is_refused() -> None:
    """--fault train_model:0.2 --fault train_model:0.5 ran with 0.5, dropping 0.2 silently."""
    args = ["--fault", "train_model:0.2", "--fault", "train_model:0.5"]
    result = CliRunner().invoke(cli, ["--store", "memory:", "run", *args])
    assert result.exit_code == 2, result.output
    assert "--fault names 'train_model' twice (train_model:0.2 and train_model:0.5)" in (
        result.stderr
    )
    assert parse_faults(["*:0.1", "train_model:0"]) == {"*": 0.1, "train_model": 0.0}


def test_injected_faults_are_recorded_as_failures_and_never_call_the_action() -> None:
    calls: list[int] = []

    @action(outputs=["total"], name="add")
    def counted(data: list[float]) -> float:
        calls.append(1)
        return sum(data)

    store = MemoryStore()
    flow = workflow("counted", [draw, counted], outputs=["total"])
    result = Engine(store).run(flow, planner=RulesPlanner(), policy=Policy(faults={"add": 1.0}))
    failed = store.steps(result.id)[-1]
    assert failed.status is StepStatus.FAILED
    assert failed.error is not None
    assert failed.error.type == "InjectedFault"
    assert "fault injected into add" in failed.error.message
    assert "InjectedFault" in failed.error.traceback
    assert calls == []
    assert store.get_run(result.id).policy["faults"] == {"add": 1.0}  # recorded with the run


def test_faults_are_deterministic_per_seed_and_reproduce_identically(tmp_path: Path) -> None:
    policy = Policy(faults={"*": 0.5}, max_failures=50)
    with SQLiteStore(tmp_path) as store:
        runs = [
            Engine(store).run(FLOW, planner=RulesPlanner(), seed=s, policy=policy)
            for s in (1, 1, 2)
        ]
        kinds = [[(s.action, s.status) for s in store.steps(r.id)] for r in runs]
        assert kinds[0] == kinds[1]
        first = runs[0]
        again = reproduce(store, first.id, workflow=FLOW)
        assert again.bitwise, again.summary()


def test_explicit_retries_are_steps_linked_to_the_failure() -> None:
    seed = seed_where([True, True, False], "add", 0.5)
    store = MemoryStore()
    result = Engine(store).run(
        FLOW, planner=RulesPlanner(), seed=seed, policy=Policy(faults={"add": 0.5}, retries=2)
    )
    steps = store.steps(result.id)
    assert [(s.action, s.status) for s in steps] == [
        ("draw", StepStatus.SUCCEEDED),
        ("add", StepStatus.FAILED),
        ("add", StepStatus.FAILED),
        ("add", StepStatus.SUCCEEDED),
    ]
    assert [s.recovers for s in steps] == [None, None, 1, 2]
    assert "retry 1/2 of failed step 1" in steps[2].proposal["rationale"]
    assert steps[2].seed != steps[1].seed  # each attempt is a new execution with its own seed
    assert result.succeeded


def test_retries_stop_at_the_policy_limit() -> None:
    store = MemoryStore()
    result = Engine(store).run(
        FLOW, planner=RulesPlanner(), policy=Policy(faults={"add": 1.0}, retries=1)
    )
    assert [s.status for s in store.steps(result.id)].count(StepStatus.FAILED) == 2
    assert result.run.status is RunStatus.FAILED


def test_a_planner_recovery_is_linked_to_the_failure_it_recovers_from() -> None:
    seed = seed_where([True, False], "add", 0.5)
    store = MemoryStore()
    result = Engine(store).run(
        FLOW, planner=Recovering(), seed=seed, policy=Policy(faults={"add": 0.5})
    )
    steps = store.steps(result.id)
    failed, recovery = steps[1], steps[2]
    assert failed.status is StepStatus.FAILED
    assert recovery.recovers == failed.index
    assert recovery.params == {"scale": 0.5}
    assert result.succeeded


def test_partial_outputs_of_a_failed_action_are_recorded_not_used() -> None:
    @action(outputs=["total"], name="careful")
    def careful_with_ctx(data: list[float], *, ctx: ActionContext) -> float:
        _PARTIAL["ctx"] = ctx
        return careful(data)

    store = MemoryStore()
    result = Engine(store).run(
        workflow("partial", [draw, careful_with_ctx], outputs=["total"]), planner=RulesPlanner()
    )
    failed = store.steps(result.id)[-1]
    assert failed.status is StepStatus.FAILED
    assert set(failed.outputs) == {"checkpoint"}
    _, data = store.get_artifact(failed.outputs["checkpoint"])
    assert len(json.loads(data)) == 5
    assert result.run.outputs == {}


def test_the_process_executor_gives_the_same_bytes_and_stops_on_timeout(tmp_path: Path) -> None:
    store = MemoryStore()
    local = Engine(store).run(FLOW, planner=RulesPlanner(), seed=3)
    executor = ProcessExecutor()
    try:
        remote = Engine(store, executor=executor).run(FLOW, planner=RulesPlanner(), seed=3)
        assert [s.outputs for s in remote.steps] == [s.outputs for s in local.steps]
        slow = workflow("slow", [draw, sleepy], outputs=["total"])
        timed = Engine(store, executor=executor).run(
            slow, planner=RulesPlanner(), policy=Policy(action_timeout=1.0)
        )
        failed = timed.steps[-1]
        assert failed.error is not None
        assert failed.error.type == "ActionTimeout"
        assert "did not finish within 1.0 s" in failed.error.message
        again = Engine(store, executor=executor).run(FLOW, planner=RulesPlanner(), seed=3)
        assert again.succeeded  # a fresh worker replaced the killed one
    finally:
        executor.close()


def test_a_timeout_without_a_process_executor_is_refused_up_front() -> None:
    store = MemoryStore()
    with pytest.raises(reprolam.ConfigError, match="use executor='process'"):
        Engine(store).run(FLOW, planner=RulesPlanner(), policy=Policy(action_timeout=1.0))
    assert store.list_runs() == []


def test_injected_failures_in_breast_cancer_show_up_in_show(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(
        cli,
        ["--store", str(tmp_path), "run", "--fault", "train_model:1", "--retries", "1", "--json"],
    )
    assert result.exit_code == 1  # the run failed, visibly
    run_id = json.loads(result.stdout)["run"]["id"]
    shown = json.loads(
        runner.invoke(cli, ["--store", str(tmp_path), "show", run_id, "--json"]).stdout
    )
    failed = [s for s in shown["steps"] if s["status"] == "failed"]
    assert [s["action"] for s in failed] == ["train_model", "train_model"]
    assert all(s["error"]["type"] == "InjectedFault" for s in failed)
    assert failed[1]["recovers"] == failed[0]["index"]
    human = runner.invoke(cli, ["--store", str(tmp_path), "show", run_id]).output
    assert "InjectedFault" in human
    assert "recovers 3" in human
    assert [s["kind"] for s in shown["steps"]].count(StepKind.ACTION.value) == 5


def test_replay_of_a_failed_step_or_run_says_it_failed_and_why(tmp_path: Path) -> None:
    """`replay RUN --step K` of a failed step printed only 'replayed step K ... verified'
    (and `--json` empty outputs), as if the step had produced nothing."""
    runner = CliRunner()
    ran = runner.invoke(
        cli, ["--store", str(tmp_path), "run", "--fault", "train_model:1", "--json"]
    )
    run_id = json.loads(ran.stdout)["run"]["id"]
    replay = ["--store", str(tmp_path), "replay", run_id]
    step = json.loads(runner.invoke(cli, [*replay, "--step", "3", "--json"]).stdout)
    assert (step["status"], step["outputs"]) == ("failed", {})
    assert step["error"].startswith("InjectedFault: fault injected into train_model")
    human = runner.invoke(cli, [*replay, "--step", "3"]).output
    assert "step 3 (train_model) failed: InjectedFault" in " ".join(human.split())
    whole = json.loads(runner.invoke(cli, [*replay, "--json"]).stdout)
    assert whole["status"] == "failed"
    assert "train_model" in whole["error"]
    fine = json.loads(runner.invoke(cli, [*replay, "--step", "2", "--json"]).stdout)
    assert (fine["status"], fine["error"]) == ("succeeded", None)
    assert "failed" not in runner.invoke(cli, [*replay, "--step", "2"]).output


def test_an_interrupted_simulated_run_resumes_with_the_same_plan(tmp_path: Path) -> None:
    from reprolam.history.resume import resume
    from reprolam.planning.simulated import SimulatedPlanner
    from reprolam.workflows.breast_cancer import workflow as breast_cancer

    planner = SimulatedPlanner(seed=5, param_rate=1.0, reorder_rate=0.5)
    with SQLiteStore(tmp_path / "whole") as store:
        whole = Engine(store).run(breast_cancer, planner=planner, seed=5)
        expected = [(s.action, s.params, s.outputs) for s in whole.steps]

    # The same run, interrupted after its third step (KeyboardInterrupt marks it interrupted).
    class StopAfter:
        def __init__(self, n: int) -> None:
            self.n = n
            self.name, self.instant = planner.name, planner.instant

        def propose(self, state: RunState) -> Any:
            if len(state.steps) == self.n:
                raise KeyboardInterrupt
            return planner.propose(state)

        def config(self) -> dict[str, Any]:
            return planner.config()

    with SQLiteStore(tmp_path / "cut") as store:
        with pytest.raises(KeyboardInterrupt):
            Engine(store).run(breast_cancer, planner=StopAfter(3), seed=5)
        (run,) = store.list_runs()
        assert run.status is RunStatus.INTERRUPTED
        resumed = resume(store, run.id)
        assert [(s.action, s.params, s.outputs) for s in resumed.steps] == expected


def test_a_fault_naming_an_unknown_action_is_refused_up_front() -> None:
    store = MemoryStore()
    with pytest.raises(reprolam.ConfigError, match="no action 'trian_model'"):
        Engine(store).run(FLOW, planner=RulesPlanner(), policy=Policy(faults={"trian_model": 1.0}))
    assert store.list_runs() == []
    result = CliRunner().invoke(cli, ["--store", "memory:", "run", "--fault", "trian_model:1"])
    assert result.exit_code == 2
    assert "no action 'trian_model'" in result.stderr


@action(outputs=["data"])
def _open_missing() -> str:
    with open(os.fsdecode(b"caf\xe9.csv")) as f:  # a file name that is not UTF-8
        return f.read()


def test_a_failure_whose_message_is_not_valid_unicode_is_recorded(tmp_path: Path) -> None:
    """A file name decoded with ``surrogateescape`` in an exception message: the failed step
    is recorded with the name escaped, instead of the run dying on an unstorable record."""
    flow = workflow("missing", [_open_missing], outputs=["data"])
    with reprolam.open(tmp_path) as rl:
        run = rl.run(flow)
        assert run.status is RunStatus.FAILED
        (step,) = rl.show(run.id).steps
        assert step.error is not None
        assert step.error.type == "FileNotFoundError"
        assert "caf\\udce9.csv" in step.error.message
        assert rl.replay(run.id).verified


def test_a_param_that_is_not_valid_unicode_is_refused_before_anything_is_recorded(
    tmp_path: Path,
) -> None:
    flow = workflow("missing", [_open_missing_named], outputs=["data"])
    with reprolam.open(tmp_path) as rl:
        with pytest.raises(ConfigError, match=r"_open_missing_named.name: .*not valid Unicode"):
            rl.run(flow, set={"_open_missing_named.name": os.fsdecode(b"caf\xe9.csv")})
        assert rl.runs() == []
    runner = CliRunner()
    store = ["--store", str(tmp_path)]
    bad = ["--set", "preprocess_data.scaler=std\udce9"]  # argv bytes that are not UTF-8
    result = runner.invoke(cli, [*store, "run", *bad])
    assert result.exit_code == 2
    assert "unicode" in result.output.lower()


@action(outputs=["data"])
def _open_missing_named(*, name: str = "data.csv") -> str:
    with open(name) as f:
        return f.read()


@action(outputs=["total"])
def _spawns_then_hangs(data: list[float], *, pidfile: str = "") -> float:
    import subprocess
    import time

    child = subprocess.Popen(["sleep", "60"])  # a helper process of the action
    Path(pidfile).write_text(str(child.pid))
    time.sleep(60)
    return 0.0


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except FileNotFoundError:
        return False
    return state != "Z"  # a zombie waits only for its reaper


def test_a_timeout_stops_what_the_action_started_too(tmp_path: Path) -> None:
    """The worker was killed alone: a subprocess of the action outlived the step (re-parented
    to init), holding the command's output open until it ended."""
    import time

    pidfile = tmp_path / "child.pid"
    flow = workflow("spawns", [draw, _spawns_then_hangs], outputs=["total"])
    executor = ProcessExecutor()
    try:
        timed = Engine(MemoryStore(), executor=executor).run(
            flow,
            planner=RulesPlanner(),
            policy=Policy(action_timeout=1.0),
            overrides={"_spawns_then_hangs": {"pidfile": str(pidfile)}},
        )
    finally:
        executor.close()
    assert timed.steps[-1].error is not None
    assert timed.steps[-1].error.type == "ActionTimeout"
    child = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child)


class _StoreGoesDown(MemoryStore):
    """A store whose server goes away while an action runs (``down`` set from the action)."""

    down = False

    def record(self, **parts: Any) -> None:
        if self.down:
            raise reprolam.StoreError(
                "record failed on test-db: server closed the connection unexpectedly: the "
                "connection to the server was lost; the store reconnects on the next call"
            )
        super().record(**parts)


_DOWN: dict[str, _StoreGoesDown] = {}


@action(outputs=["total"])
def add_as_the_store_goes_down(data: list[float]) -> float:
    _DOWN["store"].down = True
    return sum(data)


def test_a_store_failing_mid_run_names_the_run_left_unfinished_and_how_to_continue_it() -> None:
    store = _DOWN["store"] = _StoreGoesDown()
    flow = workflow("going-down", [draw, add_as_the_store_goes_down], outputs=["total"])
    with pytest.raises(reprolam.StoreError) as info:
        Engine(store).run(flow, planner=RulesPlanner())
    (run,) = store.list_runs()
    message = str(info.value)
    assert message.startswith("record failed on test-db: server closed the connection")
    assert message.endswith(
        f"run {run.id} stopped before it finished (the steps recorded so far are kept): once "
        f"the store works again, continue it with `reprolam resume {run.id}`"
    )
    assert [s.action for s in store.steps(run.id) if s.status is StepStatus.SUCCEEDED] == ["draw"]


def test_a_process_worker_that_cannot_load_a_script_read_from_stdin_says_so() -> None:
    # The worker died loading '<stdin>' again (FileNotFoundError in its stderr); the step's
    # error blamed memory, native code, os._exit or a signal.
    script = (
        "import reprolam\n"
        "import sweep_flow\n"
        "with reprolam.open('memory:') as rl:\n"
        "    run = rl.run(sweep_flow.flow, executor='process')\n"
        "    print(run.steps[0].error.message)\n"
    )
    flow_dir = Path(__file__).parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([*sys.path, str(flow_dir)])}
    done = subprocess.run(
        [sys.executable, "-"],
        input=script,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=env,
    )
    said = done.stdout.strip()
    assert "died before make_data started" in said, done.stderr[-2000:]
    assert "main script '<stdin>' is not a file" in said
    assert "out of memory" not in said
