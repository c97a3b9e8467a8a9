"""Runs built by hand: ``reprolam.execute`` (one action outside a workflow) and ``ManualRun``
(labels, control edges, recovery, forks you extend), recorded as ordinary runs."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pytest
from pydantic import Field

import reprolam
from reprolam import (
    ActionContext,
    ConfigError,
    ManualRun,
    NotFoundError,
    PolicyViolation,
    StepStatus,
    action,
    execute,
    step_after,
    step_external,
    step_label,
)
from reprolam.history.audit import audit
from reprolam.history.replay import replay
from reprolam.history.verify import verify_trace
from reprolam.trace import MemoryStore, SQLiteStore
from reprolam.trace.records import run_header_hash


def load(path: str) -> list[int]:
    return [1, 2, 3, 4, 5]


def double(data: list[int]) -> list[int]:
    return [x * 2 for x in data]


def train(data: list[int], lr: float) -> dict[str, float]:
    if lr > 1:
        raise RuntimeError("Numerical instability during training")
    return {"weights": sum(data) * lr}


@action(outputs=["samples"], determinism="seeded")
def draw(*, n: Annotated[int, Field(ge=1, le=100)] = 3, ctx: ActionContext) -> list[float]:
    """Draw n samples."""
    return ctx.rng.standard_normal(n).tolist()


@action(outputs=["total"])
def total(samples: list[float], *, scale: float = 1.0) -> float:
    """Sum the samples."""
    return sum(samples) * scale


def count(X: Any) -> int:
    return len(X)


def three_steps(store: Any) -> ManualRun:
    run = ManualRun(store)
    run.record(execute(load, inputs={"path": "data.csv"}), label="A1")
    run.record(execute(double, inputs={"data": run.value("A1")}), label="A2", after=["A1"])
    run.record(
        execute(train, inputs={"data": run.value("A2")}, params={"lr": 0.01}),
        label="A3",
        after=["A2"],
    )
    return run


# -- execute ------------------------------------------------------------------------------------


def test_execute_runs_a_plain_callable_now_and_records_nothing(memory_store: MemoryStore) -> None:
    done = execute(train, inputs={"data": [1, 2]}, params={"lr": 0.5})
    assert done.succeeded
    assert done.outputs == {"output": {"weights": 1.5}}
    assert (done.action, done.version) == ("train", "1")
    assert len(done.fingerprint) == 64
    assert done.seed is not None
    assert done.duration is not None
    assert done.duration >= 0
    assert memory_store.list_runs() == []


def test_execute_captures_an_exception_with_its_type_and_traceback() -> None:
    done = execute(train, inputs={"data": [1]}, params={"lr": 10.0})
    assert not done.succeeded
    assert done.outputs == {}
    assert done.error is not None
    assert done.error.type == "RuntimeError"
    assert done.error.message == "Numerical instability during training"
    assert "raise RuntimeError" in done.error.traceback


def test_execute_an_action_passes_inputs_positionally_validates_params_and_seeds_ctx() -> None:
    first = execute(draw, params={"n": 4}, seed=7)
    again = execute(draw, params={"n": 4}, seed=7)
    assert first.outputs["samples"] == again.outputs["samples"]
    assert len(first.outputs["samples"]) == 4
    assert (first.action, first.determinism, first.seed) == ("draw", "seeded", 7)
    summed = execute(total, inputs={"samples": [1.0, 2.0]}, params={"scale": 2})
    assert summed.outputs == {"total": 6.0}
    assert summed.params == {"scale": 2.0}


def test_execute_refuses_bad_params_and_wrong_inputs_before_running_anything() -> None:
    with pytest.raises(PolicyViolation, match=r"draw\.n=0"):
        execute(draw, params={"n": 0})
    # values a person passed are not converted (as for set=): "4" would run and be recorded
    # as 4, True as 1, while the caller passed something else
    with pytest.raises(PolicyViolation, match=r"draw\.n='4': Input should be a valid integer"):
        execute(draw, params={"n": "4"})
    with pytest.raises(PolicyViolation, match=r"draw\.n=True"):
        execute(draw, params={"n": True})
    with pytest.raises(ConfigError, match=r"takes inputs \['samples'\], got \['x'\]"):
        execute(total, inputs={"x": [1.0]})
    with pytest.raises(ConfigError, match="needs a function"):
        execute(42)  # type: ignore[arg-type]


def test_execute_keeps_the_inputs_and_params_as_the_action_received_them() -> None:
    """An action that changes an input in place: the step records what went in."""

    def spoil(data: list[int], weights: Any, *, options: dict[str, int]) -> int:
        data.append(99)
        weights *= 10.0
        options["extra"] = 1
        return len(data)

    data, weights, options = [1, 2], np.ones(2), {"k": 1}
    done = execute(spoil, inputs={"data": data, "weights": weights}, params={"options": options})
    assert done.outputs == {"output": 3}
    assert data == [1, 2, 99]  # the action got the caller's objects, as called
    assert done.inputs["data"] == [1, 2]
    assert done.inputs["weights"].tolist() == [1.0, 1.0]
    assert done.params == {"options": {"k": 1}}

    @action(outputs=["n"])
    def grow(xs: list[int]) -> int:
        xs.append(0)
        return len(xs)

    assert execute(grow, inputs={"xs": [5]}).inputs == {"xs": [5]}


# -- recording ------------------------------------------------------------------------------------


def test_a_hand_built_run_is_an_ordinary_run_that_audits_clean(memory_store: MemoryStore) -> None:
    run = three_steps(memory_store)
    assert run.id is not None
    record = memory_store.get_run(run.id)
    assert record.status is reprolam.RunStatus.SUCCEEDED
    assert record.planner == {"name": "manual"}
    assert record.environment == reprolam.compute_environment_hash()
    assert record.header_hash == run_header_hash(record)  # the chain's genesis
    assert record.seal is not None  # finished, and anchored, after its last step
    steps = memory_store.steps(run.id)
    assert steps[0].prev_hash == record.header_hash
    assert [step_label(s) for s in steps] == ["A1", "A2", "A3"]
    assert [step_after(s) for s in steps] == [(), (0,), (1,)]
    assert [s.prev_hash for s in steps[1:]] == [s.hash for s in steps[:-1]]
    assert verify_trace(memory_store, record, steps) == []
    report = audit(memory_store, run.id)
    assert report.clean, report.problems
    sources = {(link.step, link.input): link.source for link in report.lineage}
    assert sources == {(0, "path"): "external", (1, "data"): "step", (2, "data"): "step"}
    assert step_external(steps[0]) == ("path",)
    assert step_external(steps[1]) == ()
    # the run's outputs are the latest value under each output name, replayable from the store
    assert replay(memory_store, run.id).outputs == {"output": {"weights": 0.3}}


def test_the_run_record_is_finished_after_every_step(memory_store: MemoryStore) -> None:
    run = ManualRun(memory_store)
    run.record(execute(load, inputs={"path": "x"}), label="A1")
    run.record(execute(train, inputs={"data": [1]}, params={"lr": 10.0}), label="A3")
    failed = memory_store.get_run(run.id or "")
    assert failed.status is reprolam.RunStatus.FAILED
    assert failed.finished_at is not None
    assert failed.error == (
        "step 1 (A3) failed (RuntimeError: Numerical instability during training) and no "
        "later step follows or recovers from it"
    )
    run.record(execute(train, inputs={"data": [1]}, params={"lr": 0.1}), label="A4", recovers="A3")
    recovered = memory_store.get_run(run.id or "")
    assert recovered.status is reprolam.RunStatus.SUCCEEDED
    assert recovered.error is None
    assert memory_store.steps(run.id or "")[2].recovers == 1
    report = audit(memory_store, run.id or "")
    assert report.clean, report.problems
    assert report.failures.recoveries == [(2, 1)]


def test_the_run_outputs_are_those_of_its_leaves(memory_store: MemoryStore) -> None:
    run = ManualRun(memory_store)

    def outputs() -> set[str]:
        return set(memory_store.get_run(run.id or "").outputs)

    run.record(execute(load, inputs={"path": "a"}, output="x"), label="A1")
    run.record(execute(load, inputs={"path": "b"}, output="y"), label="B1")
    run.record(execute(double, inputs={"data": run.value("A1")}, output="z"), after=["A1"])
    assert outputs() == {"y", "z"}
    run.record(execute(train, inputs={"data": [1]}, params={"lr": 9.0}), label="C", after=["B1"])
    assert outputs() == {"z"}
    assert memory_store.get_run(run.id or "").status is reprolam.RunStatus.FAILED
    run.record(execute(load, inputs={"path": "c"}, output="w"), recovers="C")
    assert outputs() == {"z", "w"}
    assert memory_store.get_run(run.id or "").status is reprolam.RunStatus.SUCCEEDED
    assert audit(memory_store, run.id or "").clean
    reopened = ManualRun.open(memory_store, run.id or "")  # the same ends, rebuilt from the store
    reopened.record(execute(load, inputs={"path": "d"}, output="v"), after=[4])
    assert outputs() == {"z", "v"}


def test_bad_references_are_refused_before_anything_is_written(memory_store: MemoryStore) -> None:
    run = three_steps(memory_store)
    before = len(memory_store.steps(run.id or ""))
    done = execute(load, inputs={"path": "y"})
    with pytest.raises(ConfigError, match="label 'A2' is already step 1 of run"):
        run.record(done, label="A2")
    with pytest.raises(NotFoundError, match=r"no step 'B9' in run .* labelled A1, A2, A3"):
        run.record(done, label="B1", after=["B9"])
    with pytest.raises(ConfigError, match=r"step 1 \(A2\) succeeded: only a failed step"):
        run.record(done, label="B1", recovers="A2")
    with pytest.raises(ConfigError, match="non-empty string"):
        run.record(done, label="")
    assert len(memory_store.steps(run.id or "")) == before
    assert len(run.steps) == before


def test_a_value_that_cannot_be_stored_fails_its_step_visibly(memory_store: MemoryStore) -> None:
    run = ManualRun(memory_store)
    step = run.record(execute(object, action="make"), label="A1")
    assert step.status is StepStatus.FAILED
    assert step.error is not None
    assert step.error.message.startswith("output 'output' cannot be stored: ")
    assert "; return plain data" in step.error.message
    assert "register a codec" in step.error.message
    given = run.record(execute(lambda gen: 1, inputs={"gen": iter([1])}, action="use"), label="B")
    assert given.error is not None  # an input is passed, not returned: said 'return plain data'
    assert given.error.message.startswith("input 'gen' cannot be stored: ")
    assert "; pass plain data" in given.error.message
    assert step.outputs == {}
    assert memory_store.get_run(run.id or "").status is reprolam.RunStatus.FAILED
    report = audit(memory_store, run.id or "")
    assert report.clean, report.problems
    assert report.failures.ratio == 1.0


def test_a_failure_keeps_its_own_error_when_an_input_cannot_be_stored_either(
    memory_store: MemoryStore,
) -> None:
    run = ManualRun(memory_store)
    step = run.record(execute(train, inputs={"data": object()}, params={"lr": 10.0}))
    assert step.error is not None
    assert step.error.type == "RuntimeError"  # the execution's own failure comes first
    assert step.error.message.startswith("Numerical instability during training (and input ")
    assert "(and input 'data' cannot be stored: " in step.error.message
    assert "data" not in step.inputs


def test_a_param_that_is_not_json_is_kept_as_an_external_input(memory_store: MemoryStore) -> None:
    import numpy as np

    run = ManualRun(memory_store)
    step = run.record(
        execute(
            lambda data, weights: float(data @ weights),
            inputs={"data": np.ones(3)},
            params={"weights": np.arange(3.0)},
            action="dot",
        ),
        label="A1",
    )
    assert step.status is StepStatus.SUCCEEDED
    assert step.params == {}
    assert set(step.inputs) == {"data", "weights"}
    assert step_external(step) == ("data", "weights")
    assert run.value("A1") == 3.0
    assert audit(memory_store, run.id or "").clean


def test_editing_a_label_or_an_edge_in_the_store_breaks_the_chain(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "s") as store:
        run_id = three_steps(store).id or ""
    db = sqlite3.connect(tmp_path / "s" / "trace.db")
    (proposal,) = db.execute(
        "SELECT proposal FROM steps WHERE run_id = ? AND idx = 2", (run_id,)
    ).fetchone()
    db.execute(
        "UPDATE steps SET proposal = ? WHERE run_id = ? AND idx = 2",
        (proposal.replace('"after":[1]', '"after":[0]'), run_id),
    )
    db.commit()
    db.close()
    with SQLiteStore(tmp_path / "s") as store:
        report = audit(store, run_id)
    assert [(p.kind, p.step) for p in report.problems] == [("tampered", 2)]


def test_editing_a_hand_built_runs_record_or_dropping_its_last_step_is_evident(
    tmp_path: Path,
) -> None:
    with SQLiteStore(tmp_path / "s") as store:
        run_id = three_steps(store).id or ""
    db = sqlite3.connect(tmp_path / "s" / "trace.db")
    db.execute("UPDATE runs SET seed = 1 WHERE id = ?", (run_id,))
    db.commit()
    with SQLiteStore(tmp_path / "s") as store:
        assert not audit(store, run_id).clean
    db.execute("UPDATE runs SET seed = 0 WHERE id = ?", (run_id,))
    db.execute("DELETE FROM steps WHERE run_id = ? AND idx = 2", (run_id,))
    db.commit()
    db.close()
    with SQLiteStore(tmp_path / "s") as store:
        assert not audit(store, run_id).clean


def test_fork_inherits_by_reference_and_is_extended_by_hand(memory_store: MemoryStore) -> None:
    parent = three_steps(memory_store)
    fork = parent.fork("A3")  # steps before A3 are inherited
    assert memory_store.own_steps(fork.id or "") == []
    assert fork.labels == {"A1": 0, "A2": 1}
    step = fork.record(
        execute(train, inputs={"data": fork.value("A2")}, params={"lr": 0.001}),
        label="A3_prime",
        after=["A2"],
    )
    record = memory_store.get_run(fork.id or "")
    # the fork's own chain starts at its header, which covers the inherited head
    assert record.header_hash == run_header_hash(record, parent.steps[1].hash or "")
    assert (step.index, step.prev_hash) == (2, record.header_hash)
    assert (record.parent_id, record.fork_index) == (parent.id, 2)
    assert [s.run_id for s in memory_store.steps(fork.id or "")] == [parent.id] * 2 + [fork.id]
    assert audit(memory_store, fork.id or "").clean
    assert len(memory_store.steps(parent.id or "")) == 3  # the parent is never changed


def test_fork_carries_later_steps_as_reused_without_executing(memory_store: MemoryStore) -> None:
    run = ManualRun(memory_store)
    run.record(execute(load, inputs={"path": "x"}), label="A1")
    run.record(execute(double, inputs={"data": run.value("A1")}), label="A2", after=["A1"])
    run.record(execute(load, inputs={"path": "other"}), label="B1")
    fork = run.fork(1, carry=["B1"])
    (carried,) = memory_store.own_steps(fork.id or "")
    assert (carried.index, step_label(carried)) == (1, "B1")
    assert carried.outputs == run.steps[2].outputs
    assert carried.proposal["cache"]["reused"] is True
    assert carried.proposal["cache"]["counterpart"] == [run.id, 2]
    assert fork.labels == {"A1": 0, "B1": 1}
    assert audit(memory_store, fork.id or "").clean
    with pytest.raises(ConfigError, match="before the fork point"):
        run.fork(2, carry=["A1"])


def test_an_engine_run_can_be_read_and_forked_but_not_extended_by_hand(
    memory_store: MemoryStore,
) -> None:
    result = reprolam.run("breast-cancer", store=memory_store, planner="rules")
    opened = ManualRun.open(memory_store, result.id[:13])
    assert [s.action for s in opened.steps][:2] == ["load_dataset", "analyze_data"]
    with pytest.raises(ConfigError, match="recorded by the engine"):
        opened.record(execute(load, inputs={"path": "x"}))
    fork = opened.fork(2)
    fork.record(execute(count, inputs={"X": fork.value(0, "X")}))
    assert audit(memory_store, fork.id or "").clean


def test_the_environment_hash_is_stable_and_tracks_determinism_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = reprolam.compute_environment_hash()
    assert first == reprolam.compute_environment_hash()
    assert len(first) == 64
    monkeypatch.setenv("PYTHONHASHSEED", "123")
    assert reprolam.compute_environment_hash() != first


def test_a_client_builds_runs_by_hand_and_reopens_them(tmp_path: Path) -> None:
    with reprolam.open(tmp_path / "s") as rl:
        run = rl.manual_run(name="notebook", seed=3)
        run.record(execute(load, inputs={"path": "x"}), label="A1")
        again = rl.manual_run(run.id)
        assert (again.id, again.labels, again.seed) == (run.id, {"A1": 0}, 3)
        again.record(execute(double, inputs={"data": again.value("A1")}), label="A2", after=[0])
        assert rl.show(run.id or "").run.workflow == "notebook"
        assert rl.audit(run.id or "").clean


def test_a_stale_object_for_a_run_extended_through_another_is_refused(tmp_path: Path) -> None:
    with reprolam.open(tmp_path / "s") as rl:
        run = rl.manual_run()
        run.record(execute(load, inputs={"path": "x"}), label="A1")
        again = rl.manual_run(run.id)  # reopened, e.g. in a notebook cell
        again.record(execute(double, inputs={"data": again.value("A1")}), label="A2", after=[0])
        with pytest.raises(ConfigError, match="has 2 steps, this object knows 1"):
            run.record(execute(count, inputs={"X": [1]}), label="late")  # would be step 1
        again.record(execute(count, inputs={"X": again.value("A2")}), label="A3", after=[1])
        shown = rl.show(run.id or "")
        assert [step_label(s) for s in shown.steps] == ["A1", "A2", "A3"]
        assert rl.audit(run.id or "").clean


def _record_elsewhere(store: Path, run_id: str, label: str) -> None:
    """Extend a hand-built run by one step in another process."""
    import subprocess
    import sys

    elsewhere = (
        "import reprolam, sys\n"
        "with reprolam.open(sys.argv[1]) as rl:\n"
        "    run = rl.manual_run(sys.argv[2])\n"
        "    run.record(reprolam.execute(len, inputs={'obj': [1]}), label=sys.argv[3])\n"
    )
    subprocess.run([sys.executable, "-c", elsewhere, str(store), run_id, label], check=True)


@pytest.mark.slow  # a second process
def test_a_run_extended_by_another_process_is_extended_here_once_reopened(tmp_path: Path) -> None:
    with reprolam.open(tmp_path / "s") as rl:
        run = rl.manual_run()
        run.record(execute(load, inputs={"path": "x"}), label="A1")
        rl.store.flush()
        _record_elsewhere(tmp_path / "s", run.id or "", "A2")
        again = rl.manual_run(run.id)  # knows A2, recorded elsewhere
        again.record(execute(count, inputs={"X": [1]}), label="A3", after=["A2"])
        with pytest.raises(ConfigError, match="has 3 steps, this object knows 1"):
            run.record(execute(count, inputs={"X": [1]}), label="late")
        assert [step_label(s) for s in rl.show(run.id or "").steps] == ["A1", "A2", "A3"]
        assert rl.audit(run.id or "").clean


@pytest.mark.slow  # a second process
def test_a_run_read_before_another_process_extended_it_is_not_overwritten(tmp_path: Path) -> None:
    """Two processes that opened one run both record its next step: the later is refused
    (it would replace the other's step: an HPC job array extending one run, say)."""
    with reprolam.open(tmp_path / "s") as rl:
        run = rl.manual_run()
        run.record(execute(load, inputs={"path": "x"}), label="A1")
        rl.store.flush()
        stale = rl.manual_run(run.id)  # read now, before the other process records
        _record_elsewhere(tmp_path / "s", run.id or "", "theirs")
        with pytest.raises(ConfigError, match=r"already has a step 1.*open the run again"):
            stale.record(execute(count, inputs={"X": [1]}), label="mine")
        again = rl.manual_run(run.id)
        again.record(execute(count, inputs={"X": [1]}), label="mine", after=["theirs"])
        assert [step_label(s) for s in rl.show(run.id or "").steps] == ["A1", "theirs", "mine"]
        assert rl.audit(run.id or "").clean


def test_reproduce_and_fork_of_a_hand_built_run_say_why_they_cannot(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from reprolam.cli.main import cli

    with SQLiteStore(tmp_path / "s") as store:
        run_id = three_steps(store).id or ""
    for verb in (["reproduce", run_id], ["fork", run_id, "--at", "1"]):
        done = CliRunner().invoke(cli, ["--store", str(tmp_path / "s"), *verb])
        assert done.exit_code == 2, done.output
        (line,) = done.stderr.strip().splitlines()
        assert line.startswith(f"error: run {run_id} was built by hand (ManualRun")
        assert "ManualRun.fork" in line
        assert "--workflow MODULE:ATTR" in line


def test_execute_refuses_inputs_or_params_that_are_not_a_mapping() -> None:
    for bad in ({"params": [1]}, {"inputs": ("x",)}):
        with pytest.raises(ConfigError, match="pass a dict of names to values"):
            reprolam.execute(lambda n=0: n, **bad)  # type: ignore[arg-type]


@action(outputs=["n"])
def reads_and_prints(*, path: str = "") -> int:
    print("counted")
    with open(DATA_FILE["path"]) as handle:  # a file it was not handed
        return len(handle.read())


DATA_FILE: dict[str, str] = {}


def test_an_executed_action_s_output_and_effects_are_recorded_with_its_step(
    tmp_path: Path,
) -> None:
    # execute() watched the @action (its print captured, its read seen), then dropped what
    # the watch saw: the print was lost and the step said it read nothing
    data = tmp_path / "raw.csv"
    data.write_text("a,b\n")
    DATA_FILE["path"] = str(data)
    done = execute(reads_and_prints)
    assert done.observed is not None
    with reprolam.open(MemoryStore()) as rl:
        run = rl.manual_run()
        step = run.record(done, label="A1")
        assert rl.show(run.id or "").captured[0]["stdout"] == "counted\n"
        (effect,) = step.proposal["observed"]["effects"]
        assert (effect["kind"], effect["target"], effect["declared"]) == (
            "file_read",
            str(data.resolve()),
            False,
        )
        report = audit(rl.store, run.id or "")
        assert report.clean
        assert [e["target"] for e in report.effects] == [str(data.resolve())]


@pytest.mark.parametrize("seed", ["1", 1.5, True])
def test_execute_refuses_a_seed_that_is_not_a_whole_number(seed: Any) -> None:
    # execute(fn, seed='1') ran and returned Executed(seed='1'), a seed no run takes
    # (run(seed='1') is refused the same way).
    def one() -> int:
        return 1

    with pytest.raises(reprolam.ConfigError, match="a seed is a whole number"):
        execute(one, seed=seed)
