"""The CLI contract: the bundled workflow end to end, and one clear line for every bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from reprolam.cli.main import cli
from reprolam.results import finite_json

BREAST_CANCER_ACTIONS = [
    "load_dataset",
    "analyze_data",
    "preprocess_data",
    "train_model",
    "evaluate_model",
]


def invoke(store: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--store", str(store), *args], catch_exceptions=False)


def run_json(store: Path, *args: str) -> dict[str, Any]:
    result = invoke(store, "run", "--json", *args)
    assert result.exit_code == 0, result.output
    payload: dict[str, Any] = json.loads(result.stdout)
    return payload


def show_json(store: Path, run_id: str) -> dict[str, Any]:
    result = invoke(store, "show", run_id, "--json")
    assert result.exit_code == 0, result.output
    payload: dict[str, Any] = json.loads(result.stdout)
    return payload


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    store = tmp_path_factory.mktemp("store")
    return store, run_json(store)["run"]["id"]


def test_run_records_five_steps_with_everything_show_needs(recorded: tuple[Path, str]) -> None:
    store, run_id = recorded
    view = show_json(store, run_id)
    steps = view["steps"]
    assert [s["action"] for s in steps] == BREAST_CANCER_ACTIONS
    for step in steps:
        assert step["status"] == "succeeded"
        assert step["duration"] > 0
        assert step["fingerprint"]
        assert step["hash"]
        assert all(len(h) == 64 for h in step["outputs"].values())
    assert steps[3]["params"] == {"C": 1.0, "max_iter": 1000}
    assert steps[3]["seed"] is not None
    assert set(steps[4]["inputs"]) == {"model", "X_processed", "y", "split"}
    assert 0.9 < view["metrics"]["accuracy"] <= 1.0
    assert view["run"]["seed"] == 0
    assert view["run"]["planner"]["name"] == "rules"


def test_run_prints_progress_run_id_and_accuracy(tmp_path: Path) -> None:
    result = invoke(tmp_path, "run")
    assert result.exit_code == 0, result.output
    assert "planner: auto: no LLM endpoint configured" in result.output
    assert "train_model" in result.output
    assert "succeeded (5 steps)" in result.output
    assert "accuracy=0.9" in result.output


def test_runs_lists_and_show_accepts_a_prefix(recorded: tuple[Path, str]) -> None:
    store, run_id = recorded
    listed = json.loads(invoke(store, "runs", "--json").stdout)
    assert run_id in [r["id"] for r in listed]
    table = invoke(store, "runs").output  # 80 columns: ids are shortened, prefixes work
    assert run_id[:18] in table
    assert "succeeded" in table
    assert "breast-cancer" in table
    assert show_json(store, run_id[:20])["run"]["id"] == run_id
    human = invoke(store, "show", run_id).output
    for name in BREAST_CANCER_ACTIONS:
        assert name in human
    assert "metrics: accuracy=" in human


def test_seed_controls_the_split_and_outputs(tmp_path: Path) -> None:
    a = run_json(tmp_path, "--seed", "0")
    b = run_json(tmp_path, "--seed", "0")
    c = run_json(tmp_path, "--seed", "1")
    steps = {
        k: show_json(tmp_path, r["run"]["id"])["steps"]
        for k, r in zip("abc", (a, b, c), strict=True)
    }
    assert [s["outputs"] for s in steps["a"]] == [s["outputs"] for s in steps["b"]]
    # load and analyze do not depend on the seed; the split and everything after it do.
    assert steps["a"][0]["outputs"] == steps["c"][0]["outputs"]
    assert steps["a"][2]["outputs"]["split"] != steps["c"][2]["outputs"]["split"]
    assert steps["a"][3]["outputs"] != steps["c"][3]["outputs"]


def test_set_override_is_applied_and_recorded(tmp_path: Path) -> None:
    payload = run_json(tmp_path, "--set", "train_model.C=0.01")
    view = show_json(tmp_path, payload["run"]["id"])
    assert view["steps"][3]["params"]["C"] == 0.01
    assert view["run"]["overrides"] == {"train_model": {"C": 0.01}}


def test_output_hashes_are_identical_across_fresh_processes(tmp_path: Path) -> None:
    hashes = []
    for i in range(2):
        store = tmp_path / f"s{i}"
        env = {**os.environ, "PYTHONHASHSEED": str(i + 11)}
        run = subprocess.run(
            [sys.executable, "-m", "reprolam", "--store", str(store), "run", "--json"],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        run_id = json.loads(run.stdout)["run"]["id"]
        shown = subprocess.run(
            [sys.executable, "-m", "reprolam", "--store", str(store), "show", run_id, "--json"],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        hashes.append([s["outputs"] for s in json.loads(shown.stdout)["steps"]])
    assert hashes[0] == hashes[1]


def test_workflows_and_actions_listings() -> None:
    runner = CliRunner()
    flows = json.loads(runner.invoke(cli, ["workflows", "--json"]).stdout)
    assert flows[0]["name"] == "breast-cancer"
    assert flows[0]["actions"] == BREAST_CANCER_ACTIONS
    described = json.loads(runner.invoke(cli, ["actions", "--json"]).stdout)
    train = next(a for a in described if a["name"] == "train_model")
    assert train["params"]["C"]["exclusiveMinimum"] == 0
    assert train["determinism"] == "seeded"
    tools = json.loads(runner.invoke(cli, ["actions", "breast-cancer", "--tools"]).stdout)
    assert [t["function"]["name"] for t in tools] == BREAST_CANCER_ACTIONS


def test_a_broken_installed_workflow_is_named_and_hides_none_of_the_others(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An entry point naming a module that no longer imports made `reprolam workflows`
    one error line, exit 2: no workflow was listed, not even the bundled one."""
    from reprolam.workflows import registry

    installed = {**registry.available_workflows(), "broken": "qa5_no_such_module:flow"}
    monkeypatch.setattr(registry, "available_workflows", lambda: installed)
    result = CliRunner().invoke(cli, ["workflows", "--json"])
    assert result.exit_code == 0, result.output
    assert [f["name"] for f in json.loads(result.stdout)] == ["breast-cancer"]
    assert "warning: workflow 'broken' (qa5_no_such_module:flow) is not listed" in result.stderr
    assert "No module named 'qa5_no_such_module'" in result.stderr


def test_user_workflow_from_a_file(tmp_path: Path) -> None:
    flow = tmp_path / "flows.py"
    flow.write_text(
        "from reprolam import action, workflow\n"
        "@action(outputs=['greeting'])\n"
        "def greet(*, name: str = 'world') -> str:\n"
        "    return f'hello {name}'\n"
        "flow = workflow('hello', [greet], outputs=['greeting'])\n"
    )
    result = invoke(tmp_path / "store", "run", f"{flow}:flow", "--set", "greet.name=lab", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["run"]["workflow"] == "hello"


# -- bad input: one line, non-zero exit, no traceback, nothing lost ----------------------------


def assert_clean_error(result: Result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["run", "no-such-flow"], ["unknown workflow 'no-such-flow'", "breast-cancer"]),
        (["run", "--set", "nope.C=1"], ["unknown action 'nope'"]),
        (
            ["run", "--set", "train_model.gamma=1"],
            ["train_model has no param gamma", "C, max_iter"],
        ),
        (["run", "--set", "train_model.C=-1"], ["train_model.C=-1", "greater than 0"]),
        (["run", "--set", "train_model"], ["expected ACTION.PARAM=VALUE"]),
        (["show", "ffffffff-0000"], ["no run with id or prefix 'ffffffff-0000'"]),
        (["actions", "no-such-flow"], ["unknown workflow"]),
    ],
)
def test_bad_input_is_one_clear_line_and_loses_nothing(
    recorded: tuple[Path, str], args: list[str], fragments: list[str]
) -> None:
    store, run_id = recorded
    before = invoke(store, "runs", "--json").stdout
    assert_clean_error(invoke(store, *args), *fragments)
    assert invoke(store, "runs", "--json").stdout == before
    assert run_id in before


def test_ambiguous_prefix(tmp_path: Path) -> None:
    first = run_json(tmp_path)["run"]["id"]
    second = run_json(tmp_path)["run"]["id"]
    common = first[: next(i for i, (x, y) in enumerate(zip(first, second, strict=True)) if x != y)]
    assert_clean_error(invoke(tmp_path, "show", common), "matches several runs", first)


def test_an_id_or_prefix_typed_in_capitals_is_found(recorded: tuple[Path, str]) -> None:
    store, run_id = recorded
    for ref in (run_id.upper(), run_id[:13].upper()):
        shown = invoke(store, "show", ref, "--json")
        assert shown.exit_code == 0, shown.output
        assert json.loads(shown.stdout)["run"]["id"] == run_id


def test_an_unknown_action_in_set_names_the_param_given(tmp_path: Path) -> None:
    result = invoke(tmp_path, "run", "--set", "nosuch.x=1")
    assert result.exit_code == 2
    assert "nosuch.x" in result.output


def test_unwritable_store_location(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    assert_clean_error(invoke(blocker / "store", "run"), str(blocker))


def test_corrupted_trace_db_is_reported_not_overwritten(tmp_path: Path) -> None:
    run_json(tmp_path)
    db = tmp_path / "trace.db"
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    garbage = b"this is not sqlite" * 100
    db.write_bytes(garbage)
    for args in (["runs"], ["run"]):
        assert_clean_error(invoke(tmp_path, *args), "trace.db")
    assert db.read_bytes() == garbage


def test_help_has_an_example_for_every_command() -> None:
    runner = CliRunner()
    for command in ["run", "runs", "show", "workflows", "actions"]:
        text = runner.invoke(cli, [command, "--help"]).output
        assert "Example:" in text, command


def test_help_lists_every_command_without_importing_numpy_or_pandas() -> None:
    """--help, and importing each lazy command's module, pull in none of the heavy libraries."""
    import subprocess
    import sys

    code = (
        "import importlib, sys\n"
        "from reprolam.cli.main import LAZY_COMMANDS, cli\n"
        "cli.main(['--help'], standalone_mode=False)\n"
        "for target, _ in LAZY_COMMANDS.values():\n"
        "    importlib.import_module(target.partition(':')[0])\n"
        "print(sorted(m for m in ('numpy', 'pandas', 'sklearn') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert "sweep" in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "[]"


NAN_FLOW = """
from reprolam import action, workflow


@action(outputs=["metrics"])
def evaluate(*, k: float = 1.0) -> dict:
    return {"loss": float("nan"), "k": k}


flow = workflow("nanflow", [evaluate], outputs=["metrics"])
"""


def _strict(text: str) -> Any:
    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} is not JSON (RFC 8259)")

    return json.loads(text, parse_constant=refuse)


def test_json_output_is_strict_json_with_nan_and_infinity_spelled_out(tmp_path: Path) -> None:
    """NaN metrics are common; ``--json`` is for machines, whose parsers refuse bare NaN."""
    flow = tmp_path / "nanflow.py"
    flow.write_text(NAN_FLOW)
    store = ["--store", str(tmp_path / "store")]
    runner = CliRunner()
    ran = runner.invoke(cli, [*store, "run", str(flow), "--set", "evaluate.k=1e999", "--json"])
    assert ran.exit_code == 0, ran.output
    run_id = _strict(ran.stdout)["run"]["id"]
    for command in (["runs"], ["show", run_id], ["compare", run_id, run_id]):
        shown = runner.invoke(cli, [*store, *command, "--json"])
        assert shown.exit_code == 0, shown.output
        _strict(shown.stdout)
    assert "Infinity" in ran.stdout
    assert '"NaN"' in runner.invoke(cli, [*store, "show", run_id, "--json"]).stdout
    target = tmp_path / "metrics.json"
    got = runner.invoke(cli, [*store, "get", run_id, "metrics", "-o", str(target)])
    assert got.exit_code == 0, got.output
    assert _strict(target.read_text()) == {"k": "Infinity", "loss": "NaN"}


MARKUP_FLOW = """
from reprolam import action, workflow


@action(outputs=["x"])
def first(*, tag: str = "[/x] and [bold]b[/bold]") -> str:
    return tag


@action(outputs=["metrics"])
def score(x: str, *, mode: str = "ok") -> dict:
    if mode == "fail":
        raise ValueError("bad value [/x] here [red]r[/red]")
    return {"label": x, "acc": 1.0}


flow = workflow("markup", [first, score], outputs=["metrics"], metrics="metrics")
"""


def test_text_that_reads_as_markup_is_printed_as_it_is(tmp_path: Path) -> None:
    """Errors, params and metrics are data: ``[/x]`` in them once crashed the CLI (rich
    markup), and ``[red]`` vanished from what it printed."""
    flow = tmp_path / "markup.py"
    flow.write_text(MARKUP_FLOW)
    store = ["--store", str(tmp_path / "store")]
    runner = CliRunner()
    failed = runner.invoke(cli, [*store, "run", str(flow), "--set", "score.mode=fail"])
    assert failed.exit_code == 1, failed.output
    assert failed.exception is None or isinstance(failed.exception, SystemExit)
    assert "bad value [/x] here [red]r[/red]" in " ".join(failed.output.split())
    ran = runner.invoke(cli, [*store, "run", str(flow), "--json"])
    run_id = json.loads(ran.stdout)["run"]["id"]
    for command in (["show", run_id], ["compare", run_id, run_id]):
        shown = runner.invoke(cli, [*store, *command])
        assert shown.exit_code == 0, shown.output
        assert "[/x] and [bold]b[/bold]" in shown.output, command
    assert runner.invoke(cli, [*store, "audit", run_id]).exit_code == 0


def test_a_step_index_past_a_database_integer_is_bad_input(recorded: tuple[Path, str]) -> None:
    store, run_id = recorded
    huge = str(10**20)
    for command in (["replay", run_id, "--step", huge], ["fork", run_id, "--at", huge]):
        result = CliRunner().invoke(cli, ["--store", str(store), *command])
        assert result.exit_code == 2, result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
        assert "steps" in result.output


SET_FLOW = """
from reprolam import action, workflow


@action(outputs=["metrics"])
def p(*, s: str = "x", f: float = 1.0, n: int = 0, b: bool = False) -> dict:
    return {"s": s, "f": f, "n": n, "b": b}


flow = workflow("setflow", [p], outputs=["metrics"])
"""


@pytest.mark.parametrize(
    ("typed", "recorded"),
    [
        ("p.s=1.0", {"s": "1.0"}),  # a str param takes text that also reads as JSON, as typed
        ("p.s=true", {"s": "true"}),
        ("p.s=null", {"s": "null"}),
        ('p.s="quoted"', {"s": "quoted"}),
        ("p.f=2", {"f": 2}),
        ("p.f=inf", {"f": float("inf")}),
        ("p.f=-Infinity", {"f": float("-inf")}),
        ("p.n=3", {"n": 3}),
        ("p.b=true", {"b": True}),
    ],
)
def test_set_values_are_read_as_the_param_wants(
    tmp_path: Path, typed: str, recorded: dict[str, Any]
) -> None:
    flow = tmp_path / "setflow.py"
    flow.write_text(SET_FLOW)
    result = CliRunner().invoke(
        cli, ["--store", str(tmp_path / "s"), "run", str(flow), "--set", typed, "--json"]
    )
    assert result.exit_code == 0, result.output
    run = json.loads(result.stdout)["run"]
    ((name, value),) = recorded.items()
    assert run["overrides"]["p"][name] == finite_json(value)  # --json spells infinity out


def test_a_negative_zero_keeps_its_sign_for_a_float_param(tmp_path: Path) -> None:
    flow = tmp_path / "setflow.py"
    flow.write_text(SET_FLOW)
    recorded = {}
    for typed in ("p.f=-0", "p.n=-0"):
        result = CliRunner().invoke(
            cli, ["--store", str(tmp_path / "s"), "run", str(flow), "--set", typed, "--json"]
        )
        assert result.exit_code == 0, result.output
        recorded.update(json.loads(result.stdout)["run"]["overrides"]["p"])
    # JSON reads -0 as the int 0: a float param ran and was recorded with 0.0
    assert repr(recorded["f"]) == "-0.0"
    assert repr(recorded["n"]) == "0"


def test_a_set_value_no_param_type_reads_is_refused_as_typed(tmp_path: Path) -> None:
    flow = tmp_path / "setflow.py"
    flow.write_text(SET_FLOW)
    result = CliRunner().invoke(
        cli, ["--store", str(tmp_path / "s"), "run", str(flow), "--set", "p.n=1.5"]
    )
    assert result.exit_code == 2
    assert "p.n=1.5" in result.output


CHATTY_FLOW = """
print("loading the chatty flow")
from reprolam import action, workflow


@action(outputs=["x"])
def make() -> int:
    return 1


flow = workflow("chatty", [make], outputs=["x"])
"""


def test_json_output_holds_only_json_when_the_workflow_file_prints_as_it_loads(
    tmp_path: Path,
) -> None:
    """A workflow file printing at import time put its line before the JSON on stdout."""
    flows = tmp_path / "chatty_flows.py"
    flows.write_text(CHATTY_FLOW)
    store = tmp_path / "store"
    ran = invoke(store, "run", f"{flows}:flow", "--json")
    assert ran.exit_code == 0, ran.output
    run_id = json.loads(ran.stdout)["run"]["id"]
    assert "loading the chatty flow" in ran.stderr
    for args in (["actions", f"{flows}:flow"], ["fork", run_id, "--at", "0"]):
        result = invoke(store, *args, "--json")
        assert result.exit_code == 0, result.output
        json.loads(result.stdout)
    plain = invoke(store, "actions", f"{flows}:flow")
    assert "loading the chatty flow" in plain.stdout  # without --json, stdout as before


def test_json_output_holds_only_json_when_a_process_worker_imports_a_printing_file(
    tmp_path: Path,
) -> None:
    """The process executor's worker imports the workflow file too: its line went to the
    command's stdout, before the JSON."""
    flows = tmp_path / "chatty_worker_flows.py"
    flows.write_text(CHATTY_FLOW)
    command = ["--store", str(tmp_path / "store"), "run", f"{flows}:flow", "--executor"]
    done = subprocess.run(
        [sys.executable, "-m", "reprolam", *command, "process", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["run"]["status"] == "succeeded"
    assert done.stderr.count("loading the chatty flow") == 2  # the command's, the worker's


@pytest.mark.parametrize("args", [[], ["store"]])
def test_a_group_without_its_command_shows_its_help_not_one_squashed_line(
    args: list[str],
) -> None:
    """`reprolam` alone printed its whole help as one 'error: Usage: ...' line."""
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2
    assert result.stderr.startswith("Usage: ")
    assert "\nCommands:\n" in result.stderr
    assert "error:" not in result.stderr


@pytest.mark.parametrize(
    ("args", "fix"),
    [
        (["run", "--store", "st"], "'reprolam --store PATH_OR_DSN run ...'"),
        (["replay", "x", "--artifacts", "a"], "'reprolam --artifacts PATH replay ...'"),
        (["store", "copy", "a", "b", "--artifacts", "x"], "--src-artifacts PATH and --dst-art"),
        (["show", "x", "--trust-pickle"], "'reprolam --trust-pickle show ...'"),
    ],
)
def test_a_global_option_after_the_command_says_where_it_goes(
    args: list[str], fix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`reprolam run --store st` said "No such option '--store'. (Did you mean '--seed'?)",
    never that the option exists and goes before the command; nothing is run or created."""
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, args)
    assert_clean_error(result, fix)
    assert not (tmp_path / "st").exists()
