"""Replay (no execution), reproduce (re-execution + divergence), fork (by reference), diff."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

import reprolam
from reprolam.cli.main import cli
from reprolam.engine.executors import LocalExecutor
from reprolam.history.diff import diff_runs
from reprolam.history.fork import fork
from reprolam.history.replay import replay
from reprolam.history.reproduce import reproduce
from reprolam.trace import SQLiteStore

BREAST_CANCER = ["load_dataset", "analyze_data", "preprocess_data", "train_model", "evaluate_model"]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One Breast Cancer run in a SQLite store (tests copy it before changing anything)."""
    root = tmp_path_factory.mktemp("recorded")
    result = reprolam.run("breast-cancer", store=root, seed=0)
    assert result.succeeded
    return root, result.id


@pytest.fixture
def store_copy(recorded: tuple[Path, str], tmp_path: Path) -> tuple[Path, str]:
    root, run_id = recorded
    copy = tmp_path / "store"
    shutil.copytree(root, copy)
    return copy, run_id


@pytest.fixture
def executions(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every action the engine executes in this process, by name."""
    calls: list[str] = []
    original = LocalExecutor.execute

    def counting(self: LocalExecutor, spec: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(spec.name)
        return original(self, spec, *args, **kwargs)

    monkeypatch.setattr(LocalExecutor, "execute", counting)
    return calls


def invoke(store: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--store", str(store), *args], catch_exceptions=False)


def run_ids(store: Path) -> list[str]:
    with SQLiteStore(store) as trace:
        return [r.id for r in trace.list_runs()]


# -- replay -------------------------------------------------------------------------------------


def test_replay_executes_nothing_and_returns_the_recorded_accuracy(
    recorded: tuple[Path, str], executions: list[str]
) -> None:
    root, run_id = recorded
    with SQLiteStore(root) as store:
        original = reprolam.show(run_id, store=store)
        result = replay(store, run_id)
    assert executions == []
    assert result.verified
    assert result.steps_replayed == 5
    assert result.outputs["metrics"] == original.metrics
    assert result.outputs["metrics"]["accuracy"] > 0.9
    assert type(result.outputs["model"]).__name__ == "LogisticRegression"


def test_replay_in_a_process_that_cannot_import_the_workflow_or_engine(
    recorded: tuple[Path, str],
) -> None:
    root, run_id = recorded
    code = textwrap.dedent(
        f"""
        import sys
        class Forbid:
            def find_spec(self, name, path=None, target=None):
                if name.startswith(("reprolam.engine", "reprolam.workflows", "reprolam.planning")):
                    raise ImportError(f"replay must not import {{name}}")
        sys.meta_path.insert(0, Forbid())
        from reprolam.history.replay import replay
        from reprolam.trace.sqlite import SQLiteStore
        with SQLiteStore({str(root)!r}) as store:
            result = replay(store, {run_id!r})
        print(result.verified, result.outputs["metrics"]["accuracy"])
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    verified, accuracy = out.stdout.split()
    assert verified == "True"
    assert float(accuracy) > 0.9


def test_replay_of_one_step(recorded: tuple[Path, str]) -> None:
    root, run_id = recorded
    with SQLiteStore(root) as store:
        result = replay(store, run_id, step=2)
        assert set(result.outputs) == {"X_processed", "split"}
        assert len(result.outputs["split"]["test"]) == 142
        with pytest.raises(reprolam.NotFoundError, match="has no step 9"):
            replay(store, run_id, step=9)


def test_replay_cli(recorded: tuple[Path, str]) -> None:
    root, run_id = recorded
    result = invoke(root, "replay", run_id[:13], "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["verified"] is True
    assert payload["outputs"]["metrics"]["summary"].startswith("dict{accuracy=")


# -- tampering: replay and reproduce report the exact step and artifact ------------------------


def _blob_of_step(store: Path, run_id: str, index: int, output: str) -> tuple[str, Path]:
    with SQLiteStore(store) as trace:
        key = trace.step_at(run_id, index).outputs[output]
        return key, trace.blobs.path_of(key)


def test_an_altered_artifact_file_is_reported_by_replay_and_reproduce(
    store_copy: tuple[Path, str], executions: list[str]
) -> None:
    store, run_id = store_copy
    key, blob = _blob_of_step(store, run_id, 0, "X")  # 136 kB: a file, not inline
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.write_bytes(bytes(data))
    before = run_ids(store)

    replayed = invoke(store, "replay", run_id, "--json")
    assert replayed.exit_code == 1
    problem = json.loads(replayed.stdout)["first_problem"]
    assert (problem["step"], problem["artifact"]) == (0, key)
    assert "corrupted" in problem["message"]

    reproduced = invoke(store, "reproduce", run_id, "--json")
    assert reproduced.exit_code == 1
    payload = json.loads(reproduced.stdout)
    assert payload["reproduction"] is None
    assert payload["problems"][0]["artifact"] == key
    assert payload["problems"][0]["step"] == 0
    assert executions == []  # nothing re-executed from a damaged record
    assert run_ids(store) == before  # nothing written


def test_an_edited_step_row_is_reported(store_copy: tuple[Path, str]) -> None:
    store, run_id = store_copy
    with closing(sqlite3.connect(store / "trace.db")) as conn, conn:
        conn.execute(
            "UPDATE steps SET params = ? WHERE run_id = ? AND idx = 3",
            ('{"C":2.0,"max_iter":1000}', run_id),
        )
    for command in ("replay", "reproduce"):
        result = invoke(store, command, run_id, "--json")
        assert result.exit_code == 1, command
        payload = json.loads(result.stdout)
        problem = payload["first_problem"] if command == "replay" else payload["problems"][0]
        assert problem["step"] == 3
        assert problem["kind"] == "tampered"


def test_a_deleted_step_row_is_reported(store_copy: tuple[Path, str]) -> None:
    store, run_id = store_copy
    with closing(sqlite3.connect(store / "trace.db")) as conn, conn:
        conn.execute("DELETE FROM steps WHERE run_id = ? AND idx = 1", (run_id,))
    payload = json.loads(invoke(store, "replay", run_id, "--json").stdout)
    assert payload["first_problem"]["kind"] == "missing_step"
    assert payload["first_problem"]["step"] == 1


def test_reproduce_of_a_store_missing_an_artifact_writes_nothing(
    store_copy: tuple[Path, str],
) -> None:
    store, run_id = store_copy
    key, blob = _blob_of_step(store, run_id, 2, "X_processed")
    blob.unlink()
    before = run_ids(store)
    result = invoke(store, "reproduce", run_id)
    assert result.exit_code == 1
    assert key in result.output
    assert "missing" in result.output
    assert run_ids(store) == before


# -- reproduce ------------------------------------------------------------------------------------


def test_reproduce_in_the_same_environment_is_bitwise_identical(
    store_copy: tuple[Path, str], executions: list[str]
) -> None:
    store, run_id = store_copy
    result = invoke(store, "reproduce", run_id, "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["summary"] == "reproduced: 5/5 steps bitwise identical"
    assert payload["bitwise"] is True
    assert executions == BREAST_CANCER
    with SQLiteStore(store) as trace:
        (repro,) = trace.list_runs(verifies=run_id)  # the attempt is remembered
        assert repro.id == payload["reproduction"]
        assert repro.planner["name"] == "recorded"
        steps = trace.steps(repro.id)
        assert [s.proposal["cache"]["hit"] for s in steps] == [True] * 5


FLOW_V1 = """
import random
from reprolam import action, workflow

@action(outputs=["data"], determinism="seeded")
def make(*, n: int = 5, ctx) -> list:
    return [ctx.random.random() for _ in range(n)]

@action(outputs=["total"])
def total(data: list) -> float:
    return round(sum(data), 6)

flow = workflow("tiny-file", [make, total], outputs=["total"])
"""


def test_reproduce_names_a_changed_action_fingerprint(tmp_path: Path) -> None:
    flows = tmp_path / "flows.py"
    flows.write_text(FLOW_V1)
    with SQLiteStore(tmp_path / "store") as store:
        original = reprolam.run(f"{flows}:flow", store=store)
        flows.write_text(FLOW_V1.replace("round(sum(data), 6)", "round(sum(data), 6) + 1"))
        result = reproduce(store, original.id)
    assert not result.reproduced
    divergence = result.divergence
    assert divergence is not None
    assert (divergence.step, divergence.action, divergence.output) == (1, "total", "total")
    assert divergence.fingerprint is not None
    assert "code fingerprint of total changed" in divergence.message
    assert result.environment["workflow.actions.total.fingerprint"] == divergence.fingerprint


NOISY = Path(__file__).with_name("noisy_flow.py")


def test_tolerance_is_reported_as_such_never_as_identical(tmp_path: Path) -> None:
    store = tmp_path / "store"
    run_id = reprolam.run(f"{NOISY}:flow", store=store).id
    strict = invoke(store, "reproduce", run_id, "--json")
    assert strict.exit_code == 1
    assert json.loads(strict.stdout)["divergence"]["output"] == "value"
    loose = invoke(store, "reproduce", run_id, "--rtol", "1e-6", "--json")
    assert loose.exit_code == 0
    payload = json.loads(loose.stdout)
    assert payload["bitwise"] is False
    assert payload["within_tolerance"] == 1
    assert "equal within tolerance" in payload["summary"]


# -- fork -----------------------------------------------------------------------------------------


def test_fork_at_train_model_executes_two_of_five_steps(
    store_copy: tuple[Path, str], executions: list[str]
) -> None:
    store, run_id = store_copy
    result = invoke(
        store, "fork", run_id, "--at", "train_model", "--set", "train_model.C=0.01", "--json"
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert executions == ["train_model", "evaluate_model"]
    assert (payload["inherited"], payload["executed"]) == (3, 2)
    fork_id = payload["run"]["id"]
    assert payload["run"]["parent_id"] == run_id
    assert payload["run"]["fork_index"] == 3
    with SQLiteStore(store) as trace:
        parent_steps = trace.steps(run_id)
        fork_steps = trace.steps(fork_id)
        assert fork_steps[:3] == parent_steps[:3]  # the same records, by reference
        assert len(trace.own_steps(fork_id)) == 2
        assert fork_steps[3].params["C"] == 0.01
        assert trace.steps(run_id) == parent_steps  # the parent is untouched
        diff = diff_runs(trace, run_id, fork_id)
    assert diff.shared_steps == 3
    assert diff.steps[3].changes["params.C"] == (1.0, 0.01)
    assert "accuracy" in diff.metrics
    assert payload["metrics"]["accuracy"] == diff.metrics["accuracy"][1]

    shown = invoke(store, "diff", run_id, fork_id)
    assert "b is a fork of a at step 3" in shown.output
    assert "shared history: 3 steps" in shown.output
    assert "params.C: 1.0000 -> 0.0100" in shown.output
    assert "metric accuracy" in shown.output


def test_fork_of_a_fork_and_cache_reuse(
    store_copy: tuple[Path, str], executions: list[str]
) -> None:
    store, run_id = store_copy
    with SQLiteStore(store) as trace:
        child = fork(trace, run_id, at="train_model", overrides={"train_model": {"C": 0.1}})
        executions.clear()
        grandchild = fork(trace, child.id, at=4, reuse=True)
        assert executions == []  # evaluate_model is identical to the child's: reused
        step = trace.own_steps(grandchild.id)[0]
        assert step.proposal["cache"]["reused"] is True
        assert step.outputs == trace.step_at(child.id, 4).outputs
        assert trace.steps(grandchild.id)[:4] == trace.steps(child.id)[:4]
        assert grandchild.run.overrides == {"train_model": {"C": 0.1}}
        assert replay(trace, grandchild.id).verified  # inherited steps verify across runs


def test_diff_names_a_fork_of_a_fork_as_a_descendant(store_copy: tuple[Path, str]) -> None:
    """A fork of a fork shares its grandparent's history: not "independent runs"."""
    store, run_id = store_copy
    with SQLiteStore(store) as trace:
        child = fork(trace, run_id, at="train_model", overrides={"train_model": {"C": 0.1}})
        grandchild = fork(trace, child.id, at=4)
        other = fork(trace, run_id, at=2)
        assert diff_runs(trace, run_id, grandchild.id).relation == (
            f"b descends from a through fork {child.id}"
        )
        assert diff_runs(trace, grandchild.id, run_id).relation.startswith("a descends from b")
        assert diff_runs(trace, grandchild.id, other.id).relation == (
            f"related: both descend from {run_id}"
        )
        assert diff_runs(trace, run_id, run_id).relation == "the same run"  # not independent


def test_fork_with_replayed_decisions(store_copy: tuple[Path, str]) -> None:
    store, run_id = store_copy
    with SQLiteStore(store) as trace:
        result = fork(trace, run_id, at=2, replay_decisions=True)
        assert result.run.planner["name"] == "recorded"
        own = trace.own_steps(result.id)
        assert [s.action for s in own] == BREAST_CANCER[2:]
        assert all(s.proposal["cache"]["hit"] for s in own)
        assert result.run.outputs == trace.get_run(run_id).outputs  # same decisions, same bytes


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--at", "9"], "has only 5 steps"),
        (["--at", "fit_model"], "never ran an action named 'fit_model'"),
        (["--at", "train_model", "--set", "train_model.gamma=1"], "train_model has no param gamma"),
        (["--at", "train_model", "--set", "train_model.C=-1"], "train_model.C=-1"),
    ],
)
def test_bad_fork_requests_write_nothing(
    store_copy: tuple[Path, str], args: list[str], fragment: str
) -> None:
    store, run_id = store_copy
    before = run_ids(store)
    result = invoke(store, "fork", run_id, *args)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ")
    assert fragment in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert run_ids(store) == before


def test_history_commands_explain_themselves() -> None:
    for command in ("replay", "reproduce", "fork", "diff"):
        text = CliRunner().invoke(cli, [command, "--help"]).output
        assert "Example:" in text, command


def test_a_step_row_that_is_not_json_any_more_is_reported_not_a_traceback(
    store_copy: tuple[Path, str],
) -> None:
    store, run_id = store_copy
    with closing(sqlite3.connect(store / "trace.db")) as conn, conn:
        conn.execute("UPDATE steps SET params = '{oops' WHERE run_id = ? AND idx = 2", (run_id,))
    # A damaged record is a problem found (exit 1), named, never a crash of the command.
    for command in ("replay", "audit"):
        result = invoke(store, command, run_id)
        assert result.exit_code == 1, command
        assert "step 2 of run" in result.output, command
        assert "damaged" in result.output, command
        assert "Traceback" not in result.output
    shown = invoke(store, "show", run_id)
    assert shown.exit_code == 0
    assert "damaged" in shown.output
