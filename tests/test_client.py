"""The client API: one object bound to a store, the same verbs as module-level functions,
plug-in planners and executors rebuilt from a run's record, errors spoken at the edge."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import reprolam
from reprolam import ConfigError, Policy, Proposal, RunState, action, workflow
from reprolam.errors import ReprolamError, render_markup

SRC = Path(__file__).resolve().parents[1] / "src"


def test_the_readme_script_through_a_client(tmp_path: Path) -> None:
    store = tmp_path / "store"
    with reprolam.open(store) as rl:
        run = rl.run("breast-cancer", seed=0)
        assert run.succeeded
        assert run.status is reprolam.RunStatus.SUCCEEDED
        assert run.metrics is not None
        assert run.outputs["metrics"] == run.metrics
        fork = run.fork(at="train_model", set={"train_model.C": 0.01})
        assert fork.run.parent_id == run.id
        assert fork.run.overrides == {"train_model": {"C": 0.01}}
        reproduction = rl.reproduce(run.id)
        assert reproduction.bitwise, reproduction.summary()
        assert rl.audit(fork.id).clean
        diff = rl.diff(run.id, fork.id)
        assert "accuracy" in diff.metrics or diff.steps  # C changed: something differs
        svg = rl.export(run, format="svg")
        assert isinstance(svg, str)
        assert svg.lstrip().startswith("<svg")
        listed = [r.id for r in rl.runs()]
        assert {run.id, fork.id, reproduction.reproduction.id} <= set(listed)  # type: ignore[union-attr]
        assert rl.show(run.id[:13]).run.id == run.id
        assert rl.replay(run).verified


def test_the_same_with_module_level_functions_and_store_path(tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    run = reprolam.run("breast-cancer", store=store, seed=0)
    fork = reprolam.fork(run.id, store=store, at=3, set={"train_model": {"C": 0.5}})
    assert fork.run.fork_index == 3
    assert fork.succeeded
    reproduction = reprolam.reproduce(run.id, store=store)
    assert reproduction.bitwise
    assert reproduction.reproduction is not None
    assert reprolam.audit(fork.id, store=store).clean
    assert reprolam.diff(run.id, fork.id, store=store).shared_steps == 3
    assert reprolam.replay(fork.id, store=store).verified
    out = tmp_path / "run.prov.json"
    assert reprolam.export(run.id, store=store, format="prov-json", output=out) == out
    assert json.loads(out.read_text())
    newest = [r.id for r in reprolam.runs(store=store, limit=3)]
    assert newest == [reproduction.reproduction.id, fork.id, run.id]
    assert reprolam.show(run.id, store=store).metrics == run.metrics
    # a client works as store= too, and is left open
    with reprolam.open(store) as rl:
        again = reprolam.fork(run.id, store=rl, at="train_model", reuse=True)
        assert rl.show(again.id).run.id == again.id


def test_a_result_not_from_a_client_says_how_to_get_one(tmp_path: Path) -> None:
    from reprolam.engine.engine import Engine
    from reprolam.planning.rules import RulesPlanner
    from reprolam.workflows.registry import load_workflow

    with reprolam.open(tmp_path / "s") as rl:
        result = Engine(rl.store).run(load_workflow(), planner=RulesPlanner())
    with pytest.raises(ConfigError, match=r"reprolam\.open\(store\)"):
        result.fork(at=1)


def test_overrides_in_every_spelling_and_bad_keys(tmp_path: Path) -> None:
    from reprolam.client import parse_overrides

    merged = parse_overrides({"a.p": 1}, {"a": {"q": 2}}, ["b.r=0.5"])
    assert merged["a"] == {"p": 1, "q": 2}
    typed = merged["b"]["r"]  # text: read as the param's type wants when validated
    assert (typed.text, typed.parsed) == ("0.5", 0.5)
    with pytest.raises(ConfigError, match="names no param"):
        parse_overrides({"train_model": 0.1})
    with reprolam.open("memory:") as rl, pytest.raises(ConfigError, match="no setting 'retry'"):
        rl.run(policy={"retry": 2})


# -- errors at the edge ---------------------------------------------------------------------------


def test_error_markup_reads_as_python_and_as_flags() -> None:
    from reprolam.cli.main import error_line

    error = ReprolamError("no model", option="model", hint="pass {model} or {base_url=http://x}")
    assert str(error) == "no model: pass model or base_url='http://x'"
    assert error_line(error) == "error: no model: pass --model or --llm-base-url http://x"
    assert render_markup("{trusted=True} {overrides=a.b=1}") == "trusted=True overrides='a.b=1'"


# Flags of other programs: LLM error hints must name the server's (how to start it right),
# and code capture passes git its own.
SERVER_FLAGS = {"--enable-auto-tool-choice", "--tool-call-parser", "--jinja"}
GIT_FLAGS = {"--no-ext-diff", "--no-textconv"}


def test_no_library_string_names_a_cli_flag() -> None:
    """Only cli/ speaks in flags; the library writes {option} markup (docstrings aside)."""
    flag = re.compile(r"(?<![\w-])--[a-z][a-z-]+")
    offenders = []
    for path in (SRC / "reprolam").rglob("*.py"):
        if "cli" in path.relative_to(SRC / "reprolam").parts:
            continue
        tree = ast.parse(path.read_text())
        docstrings = {
            id(node.value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
        }
        offenders += [
            f"{path.name}:{node.lineno}: {node.value!r}"
            for node in ast.walk(tree)
            if isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
            and set(flag.findall(node.value)) - SERVER_FLAGS - GIT_FLAGS
        ]
    assert not offenders, "\n".join(offenders)


def test_timeout_without_a_stopping_executor_is_explained_in_python_terms() -> None:
    with reprolam.open("memory:") as rl, pytest.raises(ConfigError) as info:
        rl.run(policy=Policy(action_timeout=5))
    assert "executor='process'" in str(info.value)
    assert "--" not in str(info.value)
    assert info.value.option == "executor"


# -- planners as plug-ins -------------------------------------------------------------------------


PLANNER_MODULE = '''
from reprolam import Done, Proposal


class Backwards:
    """Runs a script's actions, from a recorded setting, to show it is rebuilt."""

    name = "backwards"
    instant = True

    def __init__(self, first="draw"):
        self.first = first

    def propose(self, state):
        if state.has(*state.workflow.outputs):
            return Done("done")
        for spec in state.workflow.actions:
            if state.has(*spec.inputs) and not state.has(*spec.outputs):
                return Proposal(spec.name, rationale=f"{self.first} first")
        return Done("stuck")

    def config(self):
        return {"name": self.name, "first": self.first}
'''

FLOW_MODULE = """
from reprolam import ActionContext, action, workflow


@action(outputs=["xs"], determinism="seeded")
def draw(*, n: int = 5, ctx: ActionContext) -> list[float]:
    return [ctx.random.random() for _ in range(n)]


@action(outputs=["total"])
def add(xs: list[float]) -> float:
    return sum(xs)


flow = workflow("plug", [draw, add], outputs=["total"])
"""


def _installed_planner(root: Path) -> dict[str, str]:
    """A package declaring planner `backwards` by entry point, importable via PYTHONPATH."""
    root.mkdir()
    (root / "myplanners.py").write_text(PLANNER_MODULE)
    (root / "plugflow.py").write_text(FLOW_MODULE)
    dist = root / "myplanners-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: myplanners\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[reprolam.planners]\nbackwards = myplanners:Backwards\n"
    )
    path = os.pathsep.join([str(root), str(SRC), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path}


def _cli(env: dict[str, str], *args: str) -> Any:
    done = subprocess.run(
        [sys.executable, "-m", "reprolam", *args, "--json"],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.slow
def test_an_entry_point_planner_is_rebuilt_by_fork_and_reproduce_in_fresh_processes(
    tmp_path: Path,
) -> None:
    env = _installed_planner(tmp_path / "site")
    store = str(tmp_path / "store")
    run = _cli(env, "--store", store, "run", "plugflow:flow", "--planner", "backwards")["run"]
    assert run["planner"] == {"name": "backwards", "first": "draw"}
    fork = _cli(env, "--store", store, "fork", run["id"], "--at", "1")["run"]
    assert fork["planner"] == run["planner"]  # rebuilt from the record, not passed again
    reproduced = _cli(env, "--store", store, "reproduce", run["id"])
    assert reproduced["bitwise"], reproduced["summary"]


def test_register_planner_then_fork_rebuilds_it_from_the_record(tmp_path: Path) -> None:
    @action(outputs=["x"])
    def one() -> int:
        return 1

    @action(outputs=["y"])
    def two(x: int) -> int:
        return x + 1

    built: list[dict[str, Any]] = []

    class Counting:
        name = "counting-test"
        instant = True

        def __init__(self, *, step: int = 1) -> None:
            self.step = step

        @classmethod
        def from_config(cls, config: dict[str, Any], **context: Any) -> Counting:
            built.append(dict(config))
            return cls(step=config["step"])

        def propose(self, state: RunState) -> Any:
            from reprolam import Done

            if state.has("y"):
                return Done("done")
            return Proposal("one" if not state.has("x") else "two")

        def config(self) -> dict[str, Any]:
            return {"name": self.name, "step": self.step}

    reprolam.register_planner("counting-test", Counting)
    flow = workflow("reg", [one, two], outputs=["y"])
    with reprolam.open(tmp_path / "s") as rl:
        run = rl.run(flow, planner=Counting(step=7))
        fork = rl.fork(run.id, at=1, workflow=flow)
    assert built == [{"name": "counting-test", "step": 7}]
    assert fork.run.planner == {"name": "counting-test", "step": 7}


def test_an_unknown_planner_names_the_known_ones() -> None:
    with reprolam.open("memory:") as rl, pytest.raises(ConfigError) as info:
        rl.run(planner="nope")
    assert "unknown planner 'nope'" in str(info.value)
    assert "rules" in str(info.value)
    assert "register_planner" in str(info.value)


# -- executors as plug-ins, recorded with the run -------------------------------------------------


SLOW_FLOW = """
from reprolam import action, workflow


@action(outputs=["a"])
def first() -> int:
    return 20


@action(outputs=["b"])
def second(a: int) -> int:
    return a + 22


flow = workflow("twosteps", [first, second], outputs=["b"])
"""


@pytest.mark.slow
def test_a_process_executor_run_is_reproduced_resumed_and_forked_as_recorded(
    tmp_path: Path,
) -> None:
    (tmp_path / "twosteps.py").write_text(textwrap.dedent(SLOW_FLOW))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(SRC)])}
    store = str(tmp_path / "store")
    run = _cli(env, "--store", store, "run", "twosteps:flow", "--executor", "process",
               "--timeout", "60")["run"]  # fmt: skip
    assert run["policy"]["executor"] == {"name": "process"}
    assert run["policy"]["action_timeout"] == 60
    reproduced = _cli(env, "--store", store, "reproduce", run["id"])
    assert reproduced["bitwise"], reproduced["summary"]
    fork = _cli(env, "--store", store, "fork", run["id"], "--at", "1")["run"]
    assert fork["policy"]["executor"] == {"name": "process"}
    assert fork["status"] == "succeeded"
    refused = subprocess.run(
        [sys.executable, "-m", "reprolam", "--store", store, "fork", run["id"], "--at", "1",
         "--executor", "local"],
        check=False, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert refused.returncode == 2  # the recorded 60 s timeout cannot stop a local action
    assert refused.stderr.strip().endswith("use --executor process"), refused.stderr
    # interrupt a process-executor run after its first step, then resume it in a new process
    sys.path.insert(0, str(tmp_path))
    try:
        from reprolam.workflows.registry import load_workflow

        flow = load_workflow(str(tmp_path / "twosteps.py") + ":flow")

        def stop(step: Any) -> None:
            if step.index == 0 and step.status.value == "succeeded":
                raise KeyboardInterrupt

        with reprolam.open(store) as rl, pytest.raises(KeyboardInterrupt):
            rl.run(flow, executor="process", policy={"action_timeout": 60}, on_step=stop)
    finally:
        sys.path.remove(str(tmp_path))
    interrupted = next(r for r in reprolam.runs(store=store) if r.status.value == "interrupted")
    resumed = _cli(env, "--store", store, "resume", interrupted.id)
    assert resumed["run"]["status"] == "succeeded"
    assert resumed["run"]["policy"]["executor"] == {"name": "process"}


def test_register_executor_and_unknown_names(tmp_path: Path) -> None:
    from reprolam.engine.executors import LocalExecutor

    events: list[str] = []

    class Tracing(LocalExecutor):
        name = "tracing-test"

        def start(self) -> None:
            events.append("start")

        def close(self) -> None:
            events.append("close")

    reprolam.register_executor("tracing-test", Tracing)
    with reprolam.open(tmp_path / "s") as rl:
        run = rl.run("breast-cancer", executor="tracing-test")
        assert run.run.policy["executor"] == {"name": "tracing-test"}
        rl.fork(run.id, at=4)  # the recorded executor is built again
        with pytest.raises(ConfigError, match="unknown executor 'nope'"):
            rl.run(executor="nope")
    assert events == ["start", "close", "start", "close"]


# -- end to end over every executor ---------------------------------------------------------------


def _executor_params() -> list[Any]:
    from reprolam.engine.executor_registry import BUILTIN_EXECUTORS

    return [pytest.param(name, marks=pytest.mark.slow) for name in sorted(BUILTIN_EXECUTORS)]


@pytest.mark.parametrize("executor", _executor_params())
def test_every_executor_runs_forks_and_reproduces_with_the_same_hashes(
    tmp_path: Path, executor: str
) -> None:
    """The bundled workflow on each built-in executor: same bytes as in-process, audit clean."""
    with reprolam.open(tmp_path / "store") as rl:
        baseline = rl.run("breast-cancer", executor="local")
        run = rl.run("breast-cancer", executor=executor)
        assert run.run.policy["executor"]["name"] == executor
        assert [s.outputs for s in run.steps] == [s.outputs for s in baseline.steps]
        fork = run.fork(at="train_model", set={"train_model.C": 0.5})
        assert fork.run.policy["executor"]["name"] == executor
        assert fork.succeeded
        assert rl.reproduce(fork.id).bitwise
        assert rl.audit(run.id).clean
        assert rl.audit(fork.id).clean


# Braces in library text that are not option markup (prompt text, SQL, examples) or name a
# Python-only parameter (ManualRun's name, ReprolamError's own fields).
NOT_CLI_OPTIONS = {"acc", "digest", "done", "name", "option", "p", "run"}


def test_every_option_markup_becomes_a_flag_the_cli_has() -> None:
    """{option} markup in library text is rendered as a flag by the CLI: that flag must exist
    (``{inputs}`` once rendered as ``--inputs`` when the flag is ``--input``)."""
    import click

    from reprolam.cli.main import cli, flag_style
    from reprolam.errors import OPTION_MARKUP

    used: dict[str, str] = {}
    for path in (SRC / "reprolam").rglob("*.py"):
        if "cli" in path.relative_to(SRC / "reprolam").parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                for match in OPTION_MARKUP.finditer(node.value):
                    used.setdefault(match[1], path.name)
    flags: set[str] = set()
    context = click.Context(cli)

    def collect(command: click.Command) -> None:
        for param in command.params:
            flags.update(getattr(param, "opts", ()), getattr(param, "secondary_opts", ()))
        if isinstance(command, click.Group):
            for name in command.list_commands(context):
                sub = command.get_command(context, name)
                assert sub is not None
                collect(sub)

    collect(cli)
    unknown = {
        f"{{{name}}} in {where} -> {flag_style(name, None)}"
        for name, where in used.items()
        if name not in NOT_CLI_OPTIONS and flag_style(name, None) not in flags
    }
    assert not unknown, sorted(unknown)
    assert "inputs" in used
    assert flag_style("inputs", None) == "--input"


def test_wrong_argument_types_are_clear_errors_not_records_or_tracebacks(tmp_path: Path) -> None:
    with reprolam.open(tmp_path) as rl:
        for seed in (1.5, "1", True):
            with pytest.raises(ConfigError, match="a seed is a whole number"):
                rl.run(seed=seed)
        assert rl.runs() == []  # nothing recorded (seed=1.5 was, as the run's seed)
        run = rl.run()
        with pytest.raises(ConfigError, match="pass each tag as its own argument"):
            rl.tag(run.id, ["x", "y"])  # type: ignore[arg-type]
        with pytest.raises(ConfigError, match="0 or more"):
            rl.runs(limit=-1)
        assert [a.value for a in rl.tag(run.id, "x", "y")] == ["x", "y"]


def test_a_closed_client_says_how_to_open_the_store_again_in_public_words(tmp_path: Path) -> None:
    # It said 'open it again with open_store()', a name reprolam.__all__ does not list, to
    # a notebook user whose `with reprolam.open(...)` cell had ended.
    store = str(tmp_path / "store")
    with reprolam.open(store) as rl:
        rl.run("breast-cancer")
    with pytest.raises(reprolam.StoreError) as refused:
        rl.runs()
    said = str(refused.value)
    assert "is closed (close() was called, or the with block that opened it ended)" in said
    assert said.endswith(f"open it again, reprolam.open({store!r})"), said
    assert "open_store" not in said


def test_a_run_results_verbs_are_typed_as_what_they_return(tmp_path: Path) -> None:
    # run.audit(), run.reproduce() and run.replay() were typed Any: a notebook's or a script's
    # type checker let `run.audit().clen` through.
    from reprolam.engine.loop import RunResult

    returns = {
        verb: getattr(RunResult, verb).__annotations__["return"]
        for verb in ("audit", "reproduce", "replay", "fork")
    }
    assert returns == {
        "audit": "AuditReport",
        "reproduce": "ReproduceResult",
        "replay": "ReplayResult",
        "fork": "RunResult",
    }
    with reprolam.open(tmp_path / "store") as rl:
        run = rl.run("breast-cancer")
        assert type(run.audit()).__name__ == returns["audit"]
        assert type(run.reproduce()).__name__ == returns["reproduce"]
        assert type(run.replay()).__name__ == returns["replay"]


@pytest.mark.parametrize(
    ("changes", "said"),
    [
        ({"retries": "2"}, "policy retries='2': give a whole number, 0 or more"),
        ({"retries": -1}, "policy retries=-1: give a whole number, 0 or more"),
        ({"max_failures": "3"}, "policy max_failures='3': give a whole number, 1 or more"),
        ({"max_steps": 2.5}, "policy max_steps=2.5: give a whole number, 1 or more"),
        ({"max_consecutive_rejections": None}, "policy max_consecutive_rejections=None: give"),
        ({"allow_external": "no"}, "policy allow_external='no': give True or False"),
        ({"faults": {"train_model": 2}}, "faults train_model:2: a fault rate is a number between"),
        ({"faults": {"train_model": "x"}}, "faults train_model:'x': a fault rate is a number"),
    ],
)
def test_a_policy_value_of_the_wrong_kind_is_refused_before_the_run_is_recorded(
    tmp_path: Path, changes: dict[str, Any], said: str
) -> None:
    # '2' failed the run with a TypeError at its first comparison, recorded as interrupted;
    # -1, 2.5, 'no' and a fault rate of 2 were recorded as the run's policy.
    with reprolam.open(tmp_path / "store") as rl:
        with pytest.raises(ConfigError) as refused:
            rl.run("breast-cancer", policy=changes)
        assert str(refused.value).startswith(said), str(refused.value)
        assert rl.runs() == []


def test_a_workflow_or_overrides_of_the_wrong_kind_are_clear_errors(tmp_path: Path) -> None:
    # rl.run(3) was "TypeError: argument of type 'int' is not iterable", rl.run(some_action)
    # the same; set="a.p=v" (one text, as the command line writes it) an AttributeError.
    flow_file = Path(__file__).parent / "sweep_flow.py"
    with reprolam.open(tmp_path / "store") as rl:
        for wrong, kind in ((3, "int"), (reprolam.spec_of, "function")):
            with pytest.raises(reprolam.WorkflowError, match=f" is a {kind}, not a workflow: "):
                rl.run(wrong)  # type: ignore[arg-type]
        with pytest.raises(ConfigError, match="overrides 5 are a int"):
            rl.run(flow_file.as_posix(), set=5)  # type: ignore[arg-type]
        assert rl.runs() == []
        run = rl.run(flow_file, set="fit.C=2")  # type: ignore[arg-type]
        assert run.succeeded
        assert rl.show(run.id).steps[1].params["C"] == 2.0


def test_a_result_of_a_module_level_verb_chains_its_next_verb(tmp_path: Path) -> None:
    # reprolam.run(..., store=PATH) returned a result bound to the client it had closed:
    # result.fork(...) (and .audit(), .replay(), .reproduce()) said the store was closed.
    flow = f"{Path(__file__).parent / 'sweep_flow.py'}:flow"
    store = tmp_path / "store"
    run = reprolam.run(flow, store=store)
    fork = run.fork(at="fit", set={"fit.C": 2.0})
    again = fork.fork(at="fit", set={"fit.C": 3.0})
    assert again.succeeded
    assert again.run.parent_id == fork.id
    assert run.audit().clean
    assert run.replay().verified
    assert run.reproduce().summary() == "reproduced: 3/3 steps bitwise identical"
    assert len(reprolam.runs(store=store)) == 4  # the run, two forks, the reproduction


@pytest.mark.parametrize(
    ("recorded", "flag", "override"),
    [
        ({"max_steps": 7.5}, None, {"max_steps": 8}),
        ({"allow_external": "no"}, None, {"allow_external": True}),
        ({"retries": -1}, ["--retries", "1"], {"retries": 1}),
    ],
)
def test_a_run_recorded_with_a_policy_refused_now_names_the_override(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    recorded: dict[str, Any],
    flag: list[str] | None,
    override: dict[str, Any],
) -> None:
    """Recorded before 00674be checked it: fork, reproduce and sweep said 'policy
    max_steps=7.5: give a whole number', as if the user had just given it, and named no
    override (the command line has none for most fields)."""
    from click.testing import CliRunner

    from reprolam.cli.main import cli
    from reprolam.engine import engine

    store = tmp_path / "store"
    with monkeypatch.context() as patched:
        patched.setattr(engine, "_check_budgets", lambda policy: None)  # as before 00674be
        parent = reprolam.run(f"{SRC.parent}/tests/sweep_flow.py", store=store, policy=recorded)
    name = next(iter(override))
    with pytest.raises(ConfigError) as refused:
        reprolam.fork(parent.id, store=store, at="fit")
    said = str(refused.value.render())
    assert f"run {parent.id} recorded the policy {name}=" in said
    assert f"override it {'with' if flag else 'from Python, policy='}" in said
    assert reprolam.fork(parent.id, store=store, at="fit", policy=override).succeeded
    reproduce = ["reproduce", parent.id]
    if flag is not None:  # a reproduction retries nothing: what the run recorded is no matter
        assert CliRunner().invoke(cli, ["--store", str(store), *reproduce]).exit_code == 0
    for command in (["fork", parent.id, "--at", "fit"], *([reproduce] if flag is None else [])):
        result = CliRunner().invoke(cli, ["--store", str(store), *command])
        assert result.exit_code == 2, result.output
        assert f"recorded the policy {name}=" in result.stderr
        if flag is None:
            assert "(the command line has no flag for it)" in result.stderr
        else:
            assert f"override it with {flag[0]} N" in result.stderr
            fixed = CliRunner().invoke(cli, ["--store", str(store), *command, *flag])
            assert fixed.exit_code == 0, fixed.output


SWEEP_FLOW = str(Path(__file__).parent / "sweep_flow.py")


def test_an_executor_that_is_no_executor_is_refused_naming_what_to_give(tmp_path: Path) -> None:
    """`run(executor=3)` failed with AttributeError: 'int' object has no attribute 'config'
    (a sweep recorded every point as not run, saying so)."""
    with reprolam.open(tmp_path / "store") as rl:
        parent = rl.run(SWEEP_FLOW, planner="script")
        for call in (
            lambda: rl.run(SWEEP_FLOW, executor=3),
            lambda: rl.fork(parent, at="fit", executor=3),
            lambda: rl.sweep(parent, at="fit", grid={"fit.C": [1.0]}, executor=3),
        ):
            with pytest.raises(ConfigError, match=r"executor 3 \(int\) is not an executor"):
                call()
        assert len(rl.runs()) == 1


def test_a_planner_that_is_no_planner_is_refused_naming_what_to_give(tmp_path: Path) -> None:
    """`run(planner=3)` failed with AttributeError: 'int' object has no attribute 'config'."""
    with reprolam.open(tmp_path / "store") as rl:
        parent = rl.run(SWEEP_FLOW, planner="script")
        for call in (
            lambda: rl.run(SWEEP_FLOW, planner=3),  # type: ignore[arg-type]
            lambda: rl.fork(parent, at="fit", planner=3),  # type: ignore[arg-type]
        ):
            with pytest.raises(ConfigError, match=r"planner 3 \(int\) is not a planner"):
                call()
        assert len(rl.runs()) == 1
