"""``reprolam experiment``: Script vs Naive LAM vs R-LAM, measured against ground truth.

One offline run of the command (3 trials, faults injected into train_model) feeds most
tests, which read the files it writes; the llm planner runs against tests/fake_llm.py.
"""

from __future__ import annotations

import csv
import json
import logging
import struct
import sys
import traceback
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from fake_llm import FakeLLM, Received, Reply, call
from reprolam.cli.main import cli
from reprolam.engine.engine import Engine
from reprolam.engine.faults import InjectedFault
from reprolam.engine.policy import Policy
from reprolam.experiments.ledger import Call, Ledger, watch_code
from reprolam.experiments.metrics import log_visible, text_fields, text_mentions
from reprolam.history.reproduce import reproduce
from reprolam.planning.simulated import SimulatedPlanner
from reprolam.trace import MemoryStore, SQLiteStore
from reprolam.workflows.breast_cancer import workflow as BREAST_CANCER

ACTIONS = [spec.name for spec in BREAST_CANCER.actions]
FAULTS = ["--fault", "train_model:0.5"]  # with seeds 0..2, trials 1 and 2 are struck
PNGS = ("metrics.png", "time.png", "variability.png")
LLM_VARS = ("REPROLAM_LLM_BASE_URL", "REPROLAM_LLM_MODEL", "OPENROUTER_API_KEY", "OPENAI_API_KEY")


@pytest.fixture(autouse=True)
def no_llm_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in LLM_VARS:
        monkeypatch.delenv(name, raising=False)


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, ["experiment", *args], catch_exceptions=False)


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("experiment")
    result = invoke("--trials", "3", *FAULTS, "--seed", "0", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "| metric | Script | Naive LAM | R-LAM |" in result.stdout
    return out


def load(out: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((out / "results.json").read_text())
    return data


def rows(out: Path) -> dict[str, dict[str, str]]:
    with (out / "results.csv").open(newline="") as handle:
        return {row["paradigm"]: row for row in csv.DictReader(handle)}


def trials(data: dict[str, Any], paradigm: str) -> list[dict[str, Any]]:
    return [t for t in data["trials"] if t["paradigm"] == paradigm]


# -- the table -----------------------------------------------------------------------------------


def test_rlam_is_one_on_reproducibility_completeness_and_visibility_with_faults(
    results: Path,
) -> None:
    data, table = load(results), rows(results)
    summary = data["summary"]["r-lam"]
    assert summary["injected"] > 0, "the test needs injected faults to mean anything"
    for key in (
        "reproducibility",
        "reproducibility_reexecution",
        "trace_completeness",
        "failure_visibility",
    ):
        assert summary[key]["value"] == 1.0, (key, summary[key])
        assert float(table["r-lam"][key]) == 1.0
    assert summary["reproducibility"]["den"] == summary["task_success"]["num"] == 3
    assert summary["fields_per_action"] == 7.0


def test_naive_lam_is_below_one_on_completeness_and_visibility(results: Path) -> None:
    data, table = load(results), rows(results)
    naive = data["summary"]["naive-lam"]
    assert naive["injected"] > 0
    assert naive["trace_completeness"]["value"] < 1.0
    assert naive["failure_visibility"]["value"] < 1.0
    assert float(table["naive-lam"]["trace_completeness"]) < 1.0
    assert float(table["naive-lam"]["failure_visibility"]) < 1.0
    # its log is credited with what it holds: action, params, seed, versions and timings
    # (not which data went in or came out), and it does mention every failure in prose
    assert 4.0 <= naive["fields_per_action"] < 7.0
    assert naive["failures_mentioned"]["value"] == 1.0


def test_replay_made_zero_action_calls(results: Path) -> None:
    data = load(results)
    assert data["summary"]["r-lam"]["replay_calls"] == 0
    for trial in trials(data, "r-lam"):
        assert trial["replay_calls"] == 0
        assert trial["replay_seconds"] < trial["seconds"]


def test_fork_costs_two_of_five_for_rlam_and_everything_for_the_others(results: Path) -> None:
    data = load(results)
    for trial in trials(data, "script"):
        if trial["task_success"]:
            assert (trial["fork_calls"], trial["fork_base"]) == (5, 5)
            assert trial["fork_ok"]
    for trial in trials(data, "naive-lam"):
        assert trial["fork_calls"] >= trial["fork_base"]  # it ran its whole plan again
        assert trial["fork_ok"]
    clean = 0
    for trial in trials(data, "r-lam"):
        assert trial["fork_ok"]
        suffix = trial["sequence"][trial["sequence"].index("train_model") :]
        assert trial["fork_calls"] == len(suffix)  # the recorded steps from train_model on
        if trial["injected"] == 0:
            clean += 1
            assert trial["fork_calls"] == 2
            assert trial["fork_base"] in (4, 5)  # analyze_data may have been skipped
    assert clean >= 1


def test_every_paradigm_sees_the_same_faults_and_the_lams_the_same_plans(results: Path) -> None:
    data = load(results)
    naive, rlam, script = (trials(data, p) for p in ("naive-lam", "r-lam", "script"))
    for a, b in zip(naive, rlam, strict=True):
        assert (a["sequence"], a["failed_attempts"]) == (b["sequence"], b["failed_attempts"])
        assert a["hyperparameters"] == b["hyperparameters"]
    for s, r in zip(script, rlam, strict=True):  # same draw at train_model's first attempt
        first = r["sequence"].index("train_model")
        struck = first in r["failed_attempts"]
        assert s["task_success"] is not struck
    assert data["injections"] >= sum(data["summary"][p]["injected"] for p in data["summary"])


def test_reproduce_outside_the_harness_names_the_injected_fault_as_the_cause(
    results: Path,
) -> None:
    """The fault came from the harness's injector, not the run's plan: not 'nondeterministic'."""
    struck = next(t for t in trials(load(results), "r-lam") if t["failed_attempts"])
    with SQLiteStore(results / "store") as store:
        outcome = reproduce(store, struck["run_id"])
    assert outcome.divergence is not None
    assert outcome.divergence.what == "status"
    assert "InjectedFault the run's fault plan does not hold" in outcome.summary()
    assert "nondeterministic by itself" not in outcome.summary()


def test_final_outputs_are_what_the_counted_calls_returned(results: Path) -> None:
    data = load(results)
    for paradigm, summary in data["summary"].items():
        assert summary["outputs_grounded"], paradigm
    for trial in data["trials"]:
        assert trial["attempts"] == len(trial["sequence"])
        assert trial["attempts"] == trial["executed"] + trial["injected"]
        assert len(trial["fields"]) == trial["attempts"]


def test_output_files_exist_and_parse(results: Path) -> None:
    data = load(results)
    assert set(rows(results)) == {"script", "naive-lam", "r-lam"}
    assert data["config"]["trials"] == 3
    assert data["config"]["faults"] == {"train_model": 0.5}
    assert data["planner"]["config"]["name"] == "simulated"
    assert data["environment"]["python"]
    assert data["environment"]["scikit-learn"]
    assert "--trials 3" in data["command"]
    assert len(data["trials"]) == 9
    md = (results / "results.md").read_text()
    assert data["command"] in md
    assert "| trace completeness" in md
    assert "requested with --planner simulated" in md  # the CLI's flags, not Python's words
    for name in PNGS:
        raw = (results / name).read_bytes()
        assert raw.startswith(b"\x89PNG\r\n\x1a\n")
        width, height = struct.unpack(">II", raw[16:24])
        assert width > 400
        assert height > 300
    assert (results / "store" / "trace.db").is_file()


# -- the llm planner ------------------------------------------------------------------------------


def next_needed_action(request: Received) -> Reply:
    """Answer like a model that calls the first action not yet succeeded (again, if it failed)."""
    names: dict[str, str] = {}
    succeeded: set[str] = set()
    for message in request.messages:
        for tool_call in message.get("tool_calls") or []:
            names[tool_call["id"]] = tool_call["function"]["name"]
        result = json.loads(message["content"]) if message.get("role") == "tool" else {}
        if result.get("status") == "succeeded":
            succeeded.add(names.get(message["tool_call_id"], ""))
    action = next(name for name in ACTIONS if name not in succeeded)
    return call(action, {}, text=f"next: {action}")


def test_the_harness_runs_with_the_llm_planner(tmp_path: Path) -> None:
    with FakeLLM(responder=next_needed_action) as llm:
        result = invoke(
            "--trials",
            "2",
            "--planner",
            "llm",
            "--llm-base-url",
            llm.base_url,
            "--model",
            "fake-model",
            *FAULTS,
            "--seed",
            "1",
            "--out",
            str(tmp_path),
        )
    assert result.exit_code == 0, result.output
    data = load(tmp_path)
    assert data["planner"]["config"]["name"] == "llm"
    assert data["planner"]["config"]["model"] == "fake-model"
    assert len(llm.received) >= 2 * 2 * 4  # naive LAM and R-LAM, two trials, 4+ calls each
    rlam, naive = data["summary"]["r-lam"], data["summary"]["naive-lam"]
    assert rlam["injected"] > 0
    for key in ("reproducibility", "reproducibility_reexecution", "trace_completeness"):
        assert rlam[key]["value"] == 1.0, key
    assert rlam["failure_visibility"]["value"] == 1.0
    assert rlam["replay_calls"] == 0
    assert naive["trace_completeness"]["value"] < 1.0
    assert naive["failure_visibility"]["value"] < 1.0
    for trial in data["trials"]:
        assert trial["task_success"] or trial["paradigm"] == "script"


def test_a_planner_that_never_answers_stops_the_experiment_before_any_trial(
    tmp_path: Path,
) -> None:
    """Every LAM trial would end before its first action: a comparison of nothing."""
    refused = Reply(status=401, body={"error": {"message": "invalid api key"}})
    with FakeLLM(responder=lambda request: refused) as llm:
        result = invoke(
            *("--trials", "2", "--planner", "llm", "--llm-base-url", llm.base_url),
            *("--model", "fake-model", "--out", str(tmp_path / "out"), "--json"),
        )
    assert_clean_error(result, "the planner proposed no action in the warm-up run", "401")
    assert not (tmp_path / "out" / "store").exists()  # the corrected command may use --out again


# -- bad input ------------------------------------------------------------------------------------


def assert_clean_error(result: Result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--trials", "0"], ["--trials 0", "--trials 20"]),
        (["--fault", "x"], ["--fault 'x'", "ACTION:RATE"]),
        (["--fault", "train_model:2"], ["RATE between 0 and 1"]),
        (["--fault", "trian_model:0.2"], ["no action 'trian_model'", "train_model"]),
        (
            ["--fault", "train_model:0.2", "--fault", "train_model:0.5"],
            ["--fault names 'train_model' twice", "train_model:0.2 and train_model:0.5"],
        ),
        (["--planner", "rules"], ["--planner rules", "simulated"]),
        (["--seed", "-3"], ["--seed -3", "seeds -3..-3", "--seed 0"]),
        (["--seed", "4294967295", "--trials", "2"], ["seeds 4294967295..4294967296"]),
        (["--planner", "llm"], ["--planner llm", "REPROLAM_LLM_BASE_URL"]),
        (["--model", "x"], ["--model sets up an LLM", "simulated planner calls none"]),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, args: list[str], fragments: list[str]
) -> None:
    trials = [] if "--trials" in args else ["--trials", "1"]
    assert_clean_error(invoke(*args, *trials, "--out", str(tmp_path)), *fragments)
    assert not (tmp_path / "results.json").exists()


def test_a_model_in_the_environment_is_not_recorded_for_the_simulated_planner(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It was written into results.json as the model, though no model was called."""
    monkeypatch.setenv("REPROLAM_LLM_MODEL", "gpt-x")
    result = invoke("--trials", "1", "--out", str(tmp_path), "--json")
    assert result.exit_code == 0, result.output
    assert load(tmp_path)["config"]["model"] is None
    assert "gpt-x" not in (tmp_path / "results.json").read_text()


def test_an_empty_out_is_refused_not_read_as_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--out '' wrote results.md, the plots and the store into the current directory."""
    monkeypatch.chdir(tmp_path)
    assert_clean_error(invoke("--trials", "1", "--out", ""), "--out '' is empty", "--out .")
    assert list(tmp_path.iterdir()) == []


def test_a_planner_that_cannot_be_set_up_leaves_no_out_directory(tmp_path: Path) -> None:
    """--planner llm without a model was refused after --out's directory had been made."""
    out = tmp_path / "results"
    result = invoke(
        "--planner", "llm", "--llm-base-url", "http://127.0.0.1:1/v1", "--out", str(out)
    )
    assert_clean_error(result, "no model given")
    assert not out.exists()


def test_unwritable_out_is_one_line_and_exit_2(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    assert_clean_error(invoke("--trials", "1", "--out", str(blocker / "results")), "--out")


def test_an_out_directory_holding_a_file_named_store_is_refused_before_the_warm_up(
    tmp_path: Path,
) -> None:
    """Refused after the warm-up, as 'store directory ... is not a directory: pass a directory'."""
    (tmp_path / "store").write_text("not a store")
    result = invoke("--trials", "1", "--out", str(tmp_path))
    assert_clean_error(result, f"--out {tmp_path} holds a file named store", "--out ./experiment-2")
    assert "warming up" not in result.stderr


def test_an_out_directory_holding_an_earlier_experiment_is_refused(results: Path) -> None:
    """Its results were replaced while its store kept the earlier runs beside the new ones."""
    before = (results / "results.json").read_bytes()
    assert_clean_error(invoke("--trials", "1", "--out", str(results)), "earlier experiment")
    assert (results / "results.json").read_bytes() == before


def test_an_out_directory_holding_an_unfinished_experiment_says_so(tmp_path: Path) -> None:
    """Stopped (Ctrl-C) after some trials: its store holds runs, and there are no results."""
    SQLiteStore(tmp_path / "store").close()
    assert_clean_error(
        invoke("--trials", "1", "--out", str(tmp_path)),
        "experiment that did not finish (no results.json)",
        "--out ./experiment-2",
    )


def test_missing_matplotlib_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now fails
    result = invoke("--trials", "1", "--out", str(tmp_path))
    assert_clean_error(result, "matplotlib", "pip install 'reprolam[experiment]'")
    assert not (tmp_path / "results.json").exists()


# -- the ground truth itself ----------------------------------------------------------------------


def test_the_shared_injector_strikes_where_the_engines_fault_policy_does() -> None:
    """Same draws as ``--fault``: the failed steps match a run with ``Policy(faults=...)``."""
    faults = {"train_model": 0.5, "preprocess_data": 0.3}
    ledger = Ledger(faults)
    counted = ledger.workflow(BREAST_CANCER)
    struck = 0
    for seed in range(6):
        expected = Engine(MemoryStore()).run(
            BREAST_CANCER, planner=SimulatedPlanner(), seed=seed, policy=Policy(faults=faults)
        )
        with ledger.epoch("r-lam", seed, "run", seed) as calls:
            got = Engine(MemoryStore()).run(counted, planner=SimulatedPlanner(), seed=seed)
        shape = [(s.kind, s.action, s.status, s.error and s.error.message) for s in got.steps]
        assert shape == [
            (s.kind, s.action, s.status, s.error and s.error.message) for s in expected.steps
        ]
        assert [c.action for c in calls] == [s.action for s in got.steps if s.kind == "action"]
        struck += sum(c.injected for c in calls)
    assert struck == ledger.injections > 0


def test_watch_code_sees_a_call_the_ledger_cannot() -> None:
    raw = {spec.name: spec.fn for spec in BREAST_CANCER.actions}
    with watch_code(raw) as seen:
        raw["load_dataset"]()  # the unwrapped function: no ledger in the way
    assert seen["load_dataset"] == 1


def test_a_structured_log_record_would_count_as_visible() -> None:
    """The visibility rule is not rigged against logs: a record with fields passes."""
    fault = Call("naive-lam", 0, "run", "train_model", 0, {}, 1, 0.0, injected=True)
    fault.error_type, fault.error_message = "InjectedFault", "fault injected into train_model"
    try:
        raise InjectedFault(fault.error_message)
    except InjectedFault:
        exc_info = sys.exc_info()
    structured = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), exc_info)
    structured.action = "train_model"
    prose = logging.LogRecord(
        "x",
        logging.WARNING,
        __file__,
        1,
        "%s failed: %s",
        ("train_model", fault.error_message),
        None,
    )
    assert log_visible(fault, [structured])
    assert not log_visible(fault, [prose])
    assert not text_mentions(fault, [prose.getMessage()])  # no error type in it
    assert text_mentions(fault, [f"train_model failed: InjectedFault: {fault.error_message}"])


def test_a_traceback_says_its_failed_call_failed() -> None:
    """The script's traceback mentions the failure (action, type and message on one line),
    yet its outputs field, 'the record says it failed', was not credited: no 'fail' in it."""
    fault = Call("script", 0, "run", "train_model", 0, {}, 1, 0.0, injected=True)
    fault.error_type = "InjectedFault"
    fault.error_message = "fault injected into train_model (execution 0, rate 0.5)"
    try:
        raise InjectedFault(fault.error_message)
    except InjectedFault as exc:
        lines = "".join(traceback.format_exception(exc)).splitlines()
    assert text_mentions(fault, lines)
    assert text_fields(fault, lines, False)["outputs"]
    assert not text_fields(fault, ["train_model: C=1.0"], False)["outputs"]  # says nothing
