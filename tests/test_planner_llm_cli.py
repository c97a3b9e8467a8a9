"""The LLM options on every command that plans: run, fork, resume, experiment."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from fake_llm import FakeLLM
from llm_standins import Driver, standins
from reprolam.cli.main import cli
from reprolam.trace import SQLiteStore
from reprolam.trace.records import StepKind

KEY = "sk-test-cli-0123456789"
TESTS = Path(__file__).parent


@pytest.fixture(autouse=True)
def clean_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "REPROLAM_LLM_BASE_URL",
        "REPROLAM_LLM_MODEL",
        "OPENROUTER_API_KEY",
        "OPENAI_API_KEY",
        "REPROLAM_STORE",
    ):
        monkeypatch.delenv(name, raising=False)


def invoke(store: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--store", str(store), *args], catch_exceptions=False)


def flat(text: str) -> str:
    return " ".join(text.split())


def test_run_sends_the_temperature_max_tokens_and_tool_mode_given(tmp_path: Path) -> None:
    with FakeLLM(responder=Driver()) as server:
        ran = invoke(
            tmp_path,
            "run",
            "--llm-base-url",
            server.base_url,
            "--model",
            "qwen2.5",
            "--temperature",
            "0.3",
            "--max-tokens",
            "200",
            "--tool-mode",
            "text",
            "--prompt-budget",
            "2000",
            "--json",
        )
    assert ran.exit_code == 0, ran.output
    for request in server.received:
        body = request.body
        assert (body["temperature"], body["max_tokens"]) == (0.3, 200)
        assert "tools" not in body
    planner = json.loads(ran.stdout)["run"]["planner"]
    assert (planner["temperature"], planner["max_tokens"], planner["tool_mode"]) == (
        0.3,
        200,
        "text",
    )
    assert planner["prompt_budget"] == 2000  # for a model with a short context: recorded


def test_bad_llm_options_are_one_line_and_exit_2(tmp_path: Path) -> None:
    for args, problem in (
        (["--tool-mode", "json"], "'json' is not one of 'native', 'text', 'auto'"),
        (["--temperature", "5"], "5.0 is not in the range 0<=x<=2"),
        (["--max-tokens", "0"], "0 is not in the range x>=1"),
        (["--prompt-budget", "10"], "10 is not in the range x>=1000"),
    ):
        result = invoke(tmp_path, "run", *args)
        assert result.exit_code == 2
        assert problem in result.output


def test_llm_options_typed_with_an_offline_planner_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`run --planner rules --model x` ran the rules planner and said nothing of --model."""
    for planner, args, named in (
        ("rules", ["--model", "x"], "--model sets up an LLM, but the rules planner"),
        ("script", ["--model", "x", "--temperature", "0.3"], "--model and --temperature set"),
        ("simulated", ["--llm-base-url", "http://localhost:1/v1"], "--llm-base-url sets"),
    ):
        result = invoke(tmp_path, "run", "--planner", planner, *args)
        assert result.exit_code == 2, result.output
        assert result.stderr.count("\n") == 1, result.stderr
        assert named in result.stderr
        assert "or choose --planner llm" in result.stderr
    assert not (tmp_path / "trace.db").exists()  # nothing ran
    monkeypatch.setenv("REPROLAM_LLM_MODEL", "x")  # a setting from the environment is no typo
    assert invoke(tmp_path, "run", "--planner", "rules").exit_code == 0


def test_llm_options_for_a_run_planned_offline_are_refused_without_planner(
    tmp_path: Path,
) -> None:
    """fork, resume and sweep plan with the run's own kind: `fork RUN --model x` of a rules
    run forked with the rules planner and said nothing of --model."""
    ran = invoke(tmp_path, "run", f"{TESTS}/sweep_flow.py", "--planner", "script", "--json")
    run_id = json.loads(ran.stdout)["run"]["id"]
    for command, fix in (
        (["fork", run_id, "--at", "fit", "--model", "x"], ", or choose --planner llm"),
        (["sweep", run_id, "--at", "fit", "--grid", "fit.C=1", "--model", "x"], " (a sweep"),
    ):
        result = invoke(tmp_path, *command)
        assert result.exit_code == 2, result.output
        assert "--model sets up an LLM, but run " in result.stderr
        assert "was planned by the script planner, which calls none" in result.stderr
        assert f"drop it{fix}" in result.stderr
    assert len(json.loads(invoke(tmp_path, "runs", "--json").stdout)) == 1  # nothing ran
    swept = invoke(tmp_path, "sweep", run_id, "--at", "fit", "--grid", "fit.C=1", "--json")
    sweep_id = json.loads(swept.stdout)["sweep"]
    for command in (["fork", sweep_id, "--at", "fit"], ["sweep", sweep_id, "--at", "fit"]):
        result = invoke(tmp_path, *command, "--model", "x")  # the verb's own error, not 'no run'
        assert f"{sweep_id} is a sweep, not a run" in result.stderr, result.stderr
    forked = invoke(tmp_path, "fork", run_id, "--at", "fit", "--planner", "rules")
    assert forked.exit_code == 0, forked.output


def test_llm_settings_given_to_the_library_with_an_offline_planner_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`reprolam.run(planner="rules", llm=LLMSettings(model="x"))` ran the rules planner and
    said nothing of the model, where the CLI refuses `--planner rules --model x`."""
    import reprolam
    from reprolam import ConfigError, LLMSettings

    store = str(tmp_path)
    given = LLMSettings(model="x")
    with pytest.raises(ConfigError, match=r"model='x'\) sets up an LLM, but the rules planner"):
        reprolam.run(f"{TESTS}/sweep_flow.py", store=store, planner="rules", llm=given)
    run_id = reprolam.run(f"{TESTS}/sweep_flow.py", store=store, planner="script").id
    with pytest.raises(ConfigError, match="planned by the script planner, which calls none"):
        reprolam.fork(run_id, store=store, at="fit", llm=given)
    with pytest.raises(ConfigError, match=r"\(a sweep plans as its run did\)"):
        reprolam.sweep(run_id, store=store, at="fit", grid={"fit.C": [1]}, llm=given)
    assert len(reprolam.runs(store=store)) == 1  # nothing more ran
    monkeypatch.setenv("REPROLAM_LLM_MODEL", "x")  # the CLI leaves the environment's alone
    for command in (
        ["run", f"{TESTS}/sweep_flow.py", "--planner", "rules"],
        ["fork", run_id, "--at", "fit"],
        ["sweep", run_id, "--at", "fit", "--grid", "fit.C=1"],
    ):
        result = invoke(tmp_path, *command)
        assert result.exit_code == 0, result.output


def test_a_key_alone_is_not_consent_to_spend(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    result = invoke(tmp_path, "run")
    assert result.exit_code == 0, result.output
    out = flat(result.output)
    assert "OPENAI_API_KEY set but no base URL given" in out
    assert "not consent to spend money" in out
    assert "--llm-base-url" in out  # the CLI names its own flag
    assert "using the offline rules planner" in out
    assert KEY not in out


def test_fork_and_resume_take_the_llm_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    standin = standins()["openai-reasoning"]
    with standin.server() as server:
        ran = invoke(tmp_path, "run", "--planner", "rules", "--json")
        parent = json.loads(ran.stdout)["run"]["id"]
        forked = invoke(
            tmp_path,
            "fork",
            parent,
            "--at",
            "train_model",
            "--planner",
            "llm",
            "--llm-base-url",
            server.base_url,
            "--model",
            standin.model,
            "--max-tokens",
            "3000",
            "--json",
        )
    assert forked.exit_code == 0, forked.output
    with SQLiteStore(tmp_path) as trace:
        runs = trace.list_runs()
        child = next(r for r in runs if r.id != parent)
        steps = trace.steps(child.id)
    assert child.planner["max_tokens"] == 3000
    new = [s.action for s in steps if s.index >= 3 and s.kind is StepKind.ACTION]
    assert new == ["train_model", "evaluate_model"]
    assert len(server.received) == 2
    assert all(r.body["max_completion_tokens"] == 3000 for r in server.received)
    for command in ("resume", "fork", "experiment", "run", "sweep"):
        shown = invoke(tmp_path, command, "--help")
        for flag in ("--model", "--llm-base-url", "--temperature", "--max-tokens", "--tool-mode"):
            assert flag in shown.output, (command, flag)


def test_a_fork_of_an_llm_run_keeps_its_sampling_unless_given_again(tmp_path: Path) -> None:
    with FakeLLM(responder=Driver()) as server:
        url = ["--llm-base-url", server.base_url]
        ran = invoke(
            tmp_path, "run", *url, "--model", "m", "--temperature", "0.3", "--tool-mode", "text"
        )
        assert ran.exit_code == 0, ran.output
        with SQLiteStore(tmp_path) as trace:
            (parent,) = trace.list_runs()
        before = len(server.received)
        kept = invoke(tmp_path, "fork", parent.id, "--at", "train_model", *url)
        assert kept.exit_code == 0, kept.output
        inherited = server.received[before:]
        middle = len(server.received)
        changed = invoke(
            tmp_path, "fork", parent.id, "--at", "train_model", *url, "--temperature", "0.7"
        )
        assert changed.exit_code == 0, changed.output
        given = server.received[middle:]
    assert inherited
    assert given
    assert all(r.body["temperature"] == 0.3 and "tools" not in r.body for r in inherited)
    assert all(r.body["temperature"] == 0.7 and "tools" not in r.body for r in given)
    assert all(r.body["model"] == "m" for r in [*inherited, *given])


def test_a_sweep_of_an_llm_run_takes_the_llm_options(tmp_path: Path) -> None:
    """Each point is a fresh planner of the parent's kind, at the endpoint given now (a sweep
    of an LLM run could only be pointed at its server through environment variables)."""
    with FakeLLM(responder=Driver()) as server:
        url = ["--llm-base-url", server.base_url]
        ran = invoke(tmp_path, "run", *url, "--model", "m", "--json")
        assert ran.exit_code == 0, ran.output
        parent = json.loads(ran.stdout)["run"]["id"]
        before = len(server.received)
        swept = invoke(
            tmp_path, "sweep", parent, "--at", "train_model", "--grid", "train_model.C=0.5,2",
            *url, "--temperature", "0.4", "--json",
        )  # fmt: skip
        assert swept.exit_code == 0, swept.output
        calls = server.received[before:]
    points = json.loads(swept.stdout)["points"]
    assert [p["values"]["train_model.C"] for p in points] == [0.5, 2]
    assert len(calls) >= 2
    assert all(r.body["temperature"] == 0.4 and r.body["model"] == "m" for r in calls)
