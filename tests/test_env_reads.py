"""Environment variables an action's own code reads are recorded like file reads: with the
digest of the value, checked again by ``--reuse``, named by ``reproduce``, refused by
``strict``; what the stdlib, libraries and the action itself set are not reads."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import reprolam
from env_flow import (
    COPY_FLOW,
    FLOW,
    MANY,
    SCALE,
    SECRET_FLOW,
    expands_a_path,
    hands_the_environment_to_libraries,
    leaves_a_variable_set,
    reads_bytes,
    reads_in_comprehensions,
    reads_many_variables,
    reads_through_aliases,
)
from reads_flow import cache_advice
from reprolam import Policy, env_reads, workflow
from reprolam.cli.main import cli
from reprolam.hashing import digest
from reprolam.trace.records import StepRecord, StepStatus


def _env_reads(step: StepRecord) -> list[dict[str, Any]]:
    effects = step.proposal.get("observed", {}).get("effects", [])
    return [e for e in effects if e["kind"] == "env_read"]


def test_the_variable_read_by_the_users_code_is_recorded_with_its_value_digest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SCALE, "2.5")
    with reprolam.open(tmp_path / "store") as rl:
        step = rl.run(FLOW, planner="rules").steps[0]
    # HOME (read by os.path.expanduser) and the variable it set itself are not reads
    (read,) = _env_reads(step)
    assert read["target"] == f"${SCALE}"
    assert read["digest"] == digest(b"2.5")
    assert read["declared"] is False


def test_an_unset_variable_is_recorded_as_missing_a_secret_without_its_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(SCALE, raising=False)
    monkeypatch.setenv("REPROLAM_TEST_API_KEY", "hunter2")
    with reprolam.open(tmp_path / "store") as rl:
        (unset,) = _env_reads(rl.run(FLOW, planner="rules").steps[0])
        (secret,) = _env_reads(rl.run(SECRET_FLOW, planner="rules").steps[0])
    assert unset["missing"] is True
    assert secret["secret"] is True
    assert "digest" not in secret
    assert "hunter2" not in str(secret)


def test_reuse_executes_again_when_the_value_changed_and_names_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SCALE, "2")
    with reprolam.open(tmp_path / "store") as rl:
        first = rl.run(FLOW, planner="rules")
        same = rl.run(FLOW, planner="rules", reuse=True)
        monkeypatch.setenv(SCALE, "3")
        changed = rl.run(FLOW, planner="rules", reuse=True)
        monkeypatch.delenv(SCALE)
        unset = rl.run(FLOW, planner="rules", reuse=True)
    assert cache_advice(same.steps[0])["reused"] is True
    step = changed.steps[0]
    assert cache_advice(step)["reused"] is False
    (why,) = cache_advice(step)["changed"]
    assert why.startswith(f"variable ${SCALE}: value changed since the recorded run")
    assert step.outputs != first.steps[0].outputs  # executed with the new value
    assert cache_advice(unset.steps[0])["changed"] == [
        f"variable ${SCALE}: unset since the recorded run"
    ]


def test_reproduce_names_the_variable_whose_value_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SCALE, "2")
    with reprolam.open(tmp_path / "store") as rl:
        run = rl.run(FLOW, planner="rules")
        monkeypatch.setenv(SCALE, "5")
        result = rl.reproduce(run.id, workflow=FLOW)
    assert result.divergence is not None
    assert result.divergence.step == 0
    assert f"step 0 (scaled) read ${SCALE}: value changed since the recorded run" in (
        result.summary()
    )


def test_strict_refuses_the_read_naming_the_variable_and_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SCALE, "2")
    with reprolam.open(tmp_path / "store") as rl:
        result = rl.run(FLOW, planner="rules", policy=Policy(effects="strict", max_failures=1))
    step = result.steps[0]
    assert step.status is StepStatus.FAILED
    assert step.error is not None
    assert step.error.type == "UndeclaredEffect"
    assert f"env_read: ${SCALE}" in step.error.message
    assert env_reads.READ_FIX in step.error.message
    assert "side_effects" not in step.error.message  # no fix for effects it did not have
    (read,) = _env_reads(step)  # refused, and still recorded
    assert read["digest"] == digest(b"2")


def test_the_cli_warns_under_the_step_and_show_lists_the_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SCALE, "2")
    runner = CliRunner()
    store = str(tmp_path / "store")
    ran = runner.invoke(cli, ["--store", store, "run", "env_flow:FLOW", "--planner", "rules"])
    assert ran.exit_code == 0, ran.output
    (run_id,) = re.findall(r"run (\S+) succeeded", ran.stdout)
    said = "".join(ran.stderr.split())
    assert f"undeclaredenvread:${SCALE}[valueblake3{digest(b'2')[:12]}]" in said
    shown = "".join(runner.invoke(cli, ["--store", store, "show", run_id]).stdout.split())
    assert f"step0scaled:undeclaredenvread:${SCALE}" in shown


def test_reads_through_names_bound_to_the_mapping_or_getenv_are_seen(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Compiled code's lookups are told apart by the user's frame not naming ``os.environ``:
    an alias bound at module level still names it."""
    monkeypatch.setenv(SCALE, "3")
    flow = workflow("env_aliases", [reads_through_aliases], outputs=["x"])
    with reprolam.open("memory:") as rl:
        step = rl.run(flow, planner="rules").steps[0]
    targets = [e["target"] for e in step.proposal["observed"]["effects"]]
    assert targets == [f"${SCALE}", "$REPROLAM_TEST_OTHER"]


def test_a_lookup_in_a_comprehension_over_the_mapping_is_seen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the comprehension's frame names neither environ nor getenv (the function it is
    # written in does): the items it read were not seen, and strict let them through
    monkeypatch.setenv(SCALE, "3")
    flow = workflow("env_comprehension", [reads_in_comprehensions], outputs=["x"])
    with reprolam.open(tmp_path / "store") as rl:
        step = rl.run(flow, planner="rules").steps[0]
        strict = rl.run(flow, planner="rules", policy=Policy(effects="strict")).steps[0]
    # going through os.environ.items() reads every variable: the whole environment, whose
    # digest covers SCALE's value
    (read,) = _env_reads(step)
    assert read["target"] == "$*"
    assert read["digest"] == env_reads.env_state(env_reads.WHOLE)["digest"]
    assert strict.status is StepStatus.FAILED


def test_a_step_reading_more_variables_than_listed_is_never_reused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # past the 100 effects listed, variable reads were dropped without saying so: a changed
    # value among them was not seen and --reuse took the stale result
    for name in MANY:
        monkeypatch.setenv(name, "1")
    monkeypatch.setenv(SCALE, "2")
    flow = workflow("env_many", [reads_many_variables], outputs=["x"])
    with reprolam.open(tmp_path / "store") as rl:
        first = rl.run(flow, planner="rules").steps[0]
        assert any(e.get("unlisted") for e in first.proposal["observed"]["effects"])
        monkeypatch.setenv(SCALE, "3")
        again = rl.run(flow, planner="rules", reuse=True).steps[0]
    assert not again.reused
    assert again.outputs != first.outputs


def test_a_copy_of_the_whole_environment_is_one_read_checked_by_reuse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # {**os.environ} recorded every variable as a read of its own (up to the 100 listed,
    # then none), and iterating os.environ's names was no read at all
    monkeypatch.setenv(SCALE, "2")
    with reprolam.open(tmp_path / "store") as rl:
        first = rl.run(COPY_FLOW, planner="rules")
        same = rl.run(COPY_FLOW, planner="rules", reuse=True)
        monkeypatch.setenv("REPROLAM_TEST_OTHER", "new")  # any variable: it read them all
        changed = rl.run(COPY_FLOW, planner="rules", reuse=True)
        strict = rl.run(COPY_FLOW, planner="rules", policy=Policy(effects="strict"))
    (read,) = _env_reads(first.steps[0])
    assert read["target"] == "$*"
    assert read["excluding"] == ["REPROLAM_TEST_OWN"]  # what it set itself is not read
    assert read["variables"] >= 2  # SCALE, and the environment the test runs in
    assert cache_advice(same.steps[0])["reused"] is True
    (why,) = cache_advice(changed.steps[0])["changed"]
    assert why.startswith("variable $*: the environment changed since the recorded run")
    assert strict.steps[0].status is StepStatus.FAILED


def test_os_environ_handed_to_a_library_is_read_by_the_action(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Template(...).substitute(os.environ) and pd.Series(os.environ) look the variables up in
    # the library's code: nothing was recorded, so --reuse took a result built from $SCALE
    monkeypatch.setenv(SCALE, "5")
    step = reprolam.execute(hands_the_environment_to_libraries)
    assert step.outputs["x"] == "5:True"
    assert step.observed is not None
    targets = {read["target"] for read in step.observed["effects"]}
    assert targets == {f"${SCALE}", "$*"}


def test_a_lookup_in_environb_is_a_read_of_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SCALE, "4")
    step = reprolam.execute(reads_bytes)
    assert step.observed is not None
    (read,) = step.observed["effects"]
    assert read["target"] == f"${SCALE}"
    assert read["digest"] == digest(b"4")


def test_a_variable_expanded_into_a_path_by_expandvars_is_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the standard library looked $DATA_DIR up: not recorded, so the file read through the
    # path was checked by --reuse where it was, not where the variable now points
    monkeypatch.setenv(SCALE, "/data/v1")
    step = reprolam.execute(expands_a_path)
    assert step.observed is not None
    (read,) = step.observed["effects"]
    assert (read["target"], read["digest"]) == (f"${SCALE}", digest(b"/data/v1"))


def test_a_variable_the_action_leaves_set_is_a_write_of_the_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # every later step (and the processes they start) sees the variable: nothing was
    # recorded, as for a working directory left changed, and strict let it through
    monkeypatch.delenv("REPROLAM_TEST_LEFT", raising=False)
    monkeypatch.delenv("REPROLAM_TEST_PUT_BACK", raising=False)
    flow = workflow("env_left", [leaves_a_variable_set], outputs=["x"])
    with reprolam.open("memory:") as rl:
        step = rl.run(flow, planner="rules").steps[0]
        monkeypatch.delenv("REPROLAM_TEST_LEFT")
        strict = rl.run(flow, planner="rules", policy=Policy(effects="strict")).steps[0]
    monkeypatch.delenv("REPROLAM_TEST_LEFT")
    (effect,) = step.proposal["observed"]["effects"]
    assert effect["kind"] == "file_write"
    assert effect["target"] == "the environment of the process: $REPROLAM_TEST_LEFT set"
    assert effect["declared"] is False
    assert strict.status is StepStatus.FAILED


def test_records_leaving_out_different_variables_are_each_checked_against_their_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the whole environment's state now was read once per step and target: a record that
    # left out a variable the action had set was compared with the state without it
    from reprolam.engine.cache import _check_reads

    monkeypatch.setenv("REPROLAM_TEST_OWN", "1")
    with_own = env_reads.env_state(env_reads.WHOLE)
    without_own = env_reads.env_state(env_reads.WHOLE, ["REPROLAM_TEST_OWN"])
    states: dict[str, dict[str, Any]] = {}
    for state in (without_own, with_own):
        effect = {"kind": "env_read", "target": "$*", "declared": False, "count": 1, **state}
        step = StepRecord.__new__(StepRecord)
        object.__setattr__(step, "proposal", {"observed": {"effects": [effect]}})
        assert _check_reads(step, None, states) == ((), 1)
