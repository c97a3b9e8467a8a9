"""A slow local model: the command line can give the LLM longer, and a timeout says so.

A 7B model on a laptop's CPU can take over a minute to answer a long prompt. The planner's
``timeout`` (60 s) could only be changed from Python, and a run that timed out ended with
"check that the server is up and the base URL" -- the server was up, only slow.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from fake_llm import FakeLLM, call, slow
from reprolam.cli.main import cli
from reprolam.planning import llm as llm_module

FLOW = """
from reprolam import action, workflow

@action(outputs=["metrics"])
def measure(*, x: float = 1.0) -> dict:
    return {"x": x}

flow = workflow("slow-model", [measure], outputs=["metrics"], metrics="metrics")
"""


@pytest.fixture(autouse=True)
def clean_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("REPROLAM_LLM_BASE_URL", "REPROLAM_LLM_MODEL", "REPROLAM_LLM_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(llm_module, "wait", lambda seconds: None)  # no backoff sleeps


def invoke(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    flow = tmp_path / "flows.py"
    flow.write_text(FLOW)
    return CliRunner().invoke(
        cli,
        ["--store", str(tmp_path / "store"), "run", f"{flow}:flow", "--model", "m", *args],
        env=env,
    )


def test_a_timeout_names_the_limit_and_how_to_raise_it(tmp_path: Path) -> None:
    with FakeLLM([slow(3.0, call("measure")) for _ in range(3)]) as server:
        ran = invoke(tmp_path, "--llm-base-url", server.base_url, "--llm-timeout", "0.3")
    assert ran.exit_code == 1, ran.output
    text = " ".join(ran.output.split())
    assert "did not answer within 0.3 s" in text
    assert "REPROLAM_LLM_TIMEOUT" in text
    assert "check that the server is up" not in text  # it was up: only slow


def test_the_timeout_given_is_recorded_and_a_patient_run_succeeds(tmp_path: Path) -> None:
    with FakeLLM([slow(0.4, call("measure"))]) as server:
        ran = invoke(
            tmp_path,
            "--llm-base-url",
            server.base_url,
            "--json",
            env={"REPROLAM_LLM_TIMEOUT": "5"},
        )
    assert ran.exit_code == 0, ran.output
    assert json.loads(ran.stdout)["run"]["planner"]["timeout"] == 5.0


@pytest.mark.parametrize("value", ["0", "-1", "soon", "nan"])
def test_a_bad_timeout_is_one_error_line(tmp_path: Path, value: str) -> None:
    ran = invoke(tmp_path, "--llm-base-url", "http://127.0.0.1:9/v1", "--llm-timeout", value)
    assert ran.exit_code == 2
    assert ran.stderr.startswith("error: ")
    assert "--llm-timeout" in ran.stderr
    assert "Traceback" not in ran.output


def test_the_readme_import_of_the_llm_planner_works_and_stays_lazy() -> None:
    code = (
        "import sys, reprolam.planning\n"
        "assert 'reprolam.planning.llm' not in sys.modules\n"
        "from reprolam.planning import LLMPlanner\n"
        "assert LLMPlanner.__module__ == 'reprolam.planning.llm'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_a_done_call_without_a_reason_says_so(tmp_path: Path) -> None:
    with FakeLLM([call("done", "{}")]) as server:  # unreadable arguments: a rejection
        ran = invoke(tmp_path, "--llm-base-url", server.base_url)
    assert ran.exit_code == 1, ran.output
    text = " ".join(ran.output.split())
    assert "the model ended the run before metrics existed: it gave no reason" in text
