"""The README's provider table, each line run against the matching stand-in.

The "start the server" column configures the stand-in (vLLM's and llama.cpp's flags decide
whether it calls tools); the "run reprolam" column is run as written, with the base URL
pointed at the stand-in (and a test key for the hosted providers).
"""

from __future__ import annotations

import json
import re
import shlex
import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from llm_standins import StandIn, llama_cpp, standins, vllm
from reprolam.cli.main import cli
from reprolam.trace import SQLiteStore
from reprolam.trace.records import RunStatus, StepKind

README = Path(__file__).resolve().parents[1] / "README.md"
ACTIONS = ["load_dataset", "analyze_data", "preprocess_data", "train_model", "evaluate_model"]


def provider_rows() -> dict[str, tuple[str, str]]:
    """provider -> (start the server, run reprolam), from the README's table."""
    text = README.read_text()
    table = text.split("<!-- provider-table -->", 1)[1].split("<!-- /provider-table -->", 1)[0]
    rows: dict[str, tuple[str, str]] = {}
    for line in table.strip().splitlines()[2:]:
        provider, server, command = (cell.strip() for cell in line.strip("|").split("|"))
        rows[provider] = (" ".join(re.findall(r"`([^`]*)`", server)), command.strip("`"))
    return rows


ROWS = provider_rows()


def standin_for(provider: str, server: str) -> StandIn:
    flags = shlex.split(server.replace("&&", " "))
    found = standins()
    if provider == "vLLM":
        return StandIn("vllm", "", vllm(flags), found["vllm"].driver)
    if provider == "llama.cpp":
        # with --jinja llama.cpp calls tools natively; without, it refuses them
        return StandIn("llama.cpp", "", llama_cpp(flags), found["vllm"].driver)
    return {
        "Ollama": found["ollama"],
        "OpenRouter": found["openrouter"],
        "OpenAI": found["openai-reasoning"],
    }[provider]


def test_the_table_covers_the_servers_scientists_use() -> None:
    assert list(ROWS) == ["Ollama", "vLLM", "llama.cpp", "OpenRouter", "OpenAI"]
    assert "--enable-auto-tool-choice --tool-call-parser" in ROWS["vLLM"][0]
    assert "--jinja" in ROWS["llama.cpp"][0]


@pytest.mark.parametrize("provider", list(ROWS))
def test_each_readme_line_runs_against_its_stand_in(
    provider: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("REPROLAM_LLM_BASE_URL", "REPROLAM_LLM_MODEL", "OPENROUTER_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    server_line, command = ROWS[provider]
    exported = re.findall(r"export (\w+)=", server_line)
    if exported:
        # a hosted provider's key; the stand-in lives on 127.0.0.1, whose key variable is
        # OPENAI_API_KEY (an OpenRouter key only ever goes to openrouter.ai)
        monkeypatch.setenv(exported[0], "sk-test-readme")
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-readme")
    args = shlex.split(command)
    assert args[:2] == ["reprolam", "run"]
    standin = standin_for(provider, server_line)
    with standin.server() as server:
        url = args.index("--llm-base-url") + 1
        args[url] = server.base_url
        store = tmp_path / "store"
        ran = CliRunner().invoke(cli, ["--store", str(store), *args[1:]], catch_exceptions=False)
        assert ran.exit_code == 0, ran.output
        assert "auto: LLM configured" in ran.output  # the default planner, with a base URL
        calls = len(server.received)
        with SQLiteStore(store) as trace:
            (run,) = trace.list_runs()
            steps = trace.steps(run.id)
        assert run.status is RunStatus.SUCCEEDED
        assert [s.action for s in steps if s.kind is StepKind.ACTION] == ACTIONS
        assert run.planner["model"] == args[args.index("--model") + 1]

        def no_network(*args: object) -> None:
            raise AssertionError(f"network connection attempted: {args}")

        with monkeypatch.context() as patch:
            patch.setattr(socket.socket, "connect", no_network)
            again = CliRunner().invoke(
                cli, ["--store", str(store), "reproduce", run.id, "--json"], catch_exceptions=False
            )
        assert again.exit_code == 0, again.output
        assert json.loads(again.stdout)
        assert len(server.received) == calls


def example_lines() -> list[str]:
    """The ``reprolam run --llm-base-url ...`` examples of the README's LLM section."""
    section = README.read_text().split("## LLM planner", 1)[1].split("\n## ", 1)[0]
    table_end = section.index("<!-- /provider-table -->")
    return re.findall(r"^(reprolam run --llm-base-url .+)$", section[table_end:], re.MULTILINE)


@pytest.mark.parametrize("command", example_lines())
def test_each_readme_example_runs(command: str, tmp_path: Path) -> None:
    args = shlex.split(command)
    url = args[args.index("--llm-base-url") + 1]
    # llama.cpp on :8080 started without --jinja (why one would pick text mode), Ollama on :11434
    standin = standins()["llama.cpp" if ":8080" in url else "ollama"]
    with standin.server() as server:
        args[args.index(url)] = server.base_url
        ran = CliRunner().invoke(cli, ["--store", str(tmp_path), *args[1:]], catch_exceptions=False)
    assert ran.exit_code == 0, ran.output
    assert "succeeded" in ran.output
    if "--tool-mode" in args:
        assert all("tools" not in r.body for r in server.received)
    if "--temperature" in args:
        wanted = float(args[args.index("--temperature") + 1])
        assert all(r.body["temperature"] == wanted for r in server.received)


def test_the_readme_has_the_examples() -> None:
    assert len(example_lines()) == 2
