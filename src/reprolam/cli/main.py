"""The ``reprolam`` command: a thin layer over ``reprolam.api``.

Heavy libraries (numpy, pandas, scikit-learn, rich) are imported inside commands, so
``reprolam --help`` starts fast. Errors become one line and a non-zero exit here, at the edge.
"""

from __future__ import annotations

import functools
import importlib
import json
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from reprolam.errors import ReprolamError
from reprolam.planning.choose import PLANNER_NAMES

F = TypeVar("F", bound=Callable[..., Any])

EXIT_PROBLEM = 1  # the command ran and found a problem (failed run, divergence, audit finding)
EXIT_BAD_INPUT = 2  # the command could not do what was asked (bad input, unknown id, store error)


class Ctx:
    def __init__(self, store: str | None, artifacts: str | None) -> None:
        self.store = store
        self.artifacts = artifacts

    def open(self) -> Any:
        from reprolam.trace.open import open_store

        return open_store(self.store, artifacts=self.artifacts)


def json_option(fn: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")(fn)


def reports_errors(fn: F) -> F:
    """Turn reprolam errors into one clear line on stderr and exit code 2 (no traceback)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ReprolamError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_BAD_INPUT)

    return wrapper  # type: ignore[return-value]


def llm_options(fn: F) -> F:
    """Where the llm planner finds its model (flags, else the environment)."""
    fn = click.option(
        "--llm-base-url",
        envvar="REPROLAM_LLM_BASE_URL",
        metavar="URL",
        help="OpenAI-compatible endpoint (OpenRouter, OpenAI, Ollama, vLLM, llama.cpp).",
    )(fn)
    return click.option("--model", envvar="REPROLAM_LLM_MODEL", help="LLM model name.")(fn)


def execution_options(fn: F) -> F:
    """Failure handling and execution: shared by every command that executes actions."""
    options = [
        click.option(
            "--fault",
            "faults",
            multiple=True,
            metavar="ACTION:RATE",
            help="Inject failures into ACTION with probability RATE (seeded, recorded).",
        ),
        click.option(
            "--retries", type=click.IntRange(min=0), default=0, help="Explicit retries per failure."
        ),
        click.option("--max-failures", type=click.IntRange(min=1), default=3, show_default=True),
        click.option(
            "--timeout",
            type=click.FloatRange(min=0, min_open=True),
            help="Per-action timeout in seconds (needs --executor process).",
        ),
        click.option(
            "--executor",
            type=click.Choice(["local", "process"]),
            default="local",
            show_default=True,
            help="Run actions in this process, or in a worker process that a timeout can stop.",
        ),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def execution_settings(
    faults: tuple[str, ...], retries: int, max_failures: int, timeout: float | None, executor: str
) -> tuple[Any, Any]:
    """(Policy, Executor) from the execution options."""
    from reprolam.engine.executors import LocalExecutor
    from reprolam.engine.faults import parse_fault
    from reprolam.engine.policy import Policy

    policy = Policy(
        max_failures=max_failures,
        retries=retries,
        action_timeout=timeout,
        faults=dict(parse_fault(text) for text in faults),
    )
    if executor == "process":
        from reprolam.engine.process import ProcessExecutor

        return policy, ProcessExecutor()
    return policy, LocalExecutor()


def emit_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=True, default=str))


def respond(as_json: bool, payload: Any, show: Callable[[], object], *, ok: bool = True) -> None:
    """Print JSON or the human view; exit 1 when the command found a problem."""
    if as_json:
        emit_json(payload)
    else:
        show()
    if not ok:
        sys.exit(EXIT_PROBLEM)


# Commands that live in their own modules, imported only when used (or listed by --help).
LAZY_COMMANDS: dict[str, str] = {
    "replay": "reprolam.cli.history_cmd:replay",
    "reproduce": "reprolam.cli.history_cmd:reproduce",
    "fork": "reprolam.cli.history_cmd:fork",
    "diff": "reprolam.cli.history_cmd:diff",
    "resume": "reprolam.cli.history_cmd:resume",
    "export": "reprolam.cli.export_cmd:export",
    "store": "reprolam.cli.store_cmd:store",
    "audit": "reprolam.cli.audit_cmd:audit",
    "experiment": "reprolam.cli.experiment_cmd:experiment",
}


class LazyGroup(click.Group):
    """A group that imports a command's module only when that command is needed."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *LAZY_COMMANDS])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = LAZY_COMMANDS.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        module, _, attr = target.partition(":")
        command = getattr(importlib.import_module(module), attr)
        assert isinstance(command, click.Command)
        return command


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--store",
    envvar="REPROLAM_STORE",
    metavar="PATH_OR_DSN",
    help="Trace store: a directory (SQLite trace.db + artifacts/), a postgresql:// DSN "
    "(with --artifacts), or memory:. Default: $REPROLAM_STORE or ./.reprolam",
)
@click.option(
    "--artifacts",
    envvar="REPROLAM_ARTIFACTS",
    metavar="PATH",
    help="Artifact directory: required with PostgreSQL; for SQLite, instead of <store>/artifacts.",
)
@click.version_option(package_name="reprolam")
@click.pass_context
def cli(ctx: click.Context, store: str | None, artifacts: str | None) -> None:
    """reprolam: LLM-driven scientific workflows that stay reproducible.

    Every step is policy-checked, seeded, executed and recorded in a persistent trace
    with content-addressed artifacts.

    \b
    Example:
      reprolam run                      # the bundled breast-cancer workflow, offline
      reprolam runs                     # list recorded runs
      reprolam show 0196                # a run's trace, by id prefix
    """
    ctx.obj = Ctx(store, artifacts)


@cli.command()
@click.argument("workflow", required=False, default="breast-cancer")
@click.option(
    "--planner",
    type=click.Choice(PLANNER_NAMES),
    default="auto",
    show_default=True,
    help="Who chooses the next action. auto: an LLM if one is configured, else rules.",
)
@llm_options
@click.option("--seed", type=int, default=0, show_default=True, help="Run seed (always recorded).")
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="ACTION.PARAM=VALUE",
    help="Force a param, e.g. --set train_model.C=0.1 (repeatable).",
)
@execution_options
@json_option
@click.pass_obj
@reports_errors
def run(
    obj: Ctx,
    workflow: str,
    planner: str,
    model: str | None,
    llm_base_url: str | None,
    seed: int,
    overrides: tuple[str, ...],
    faults: tuple[str, ...],
    retries: int,
    max_failures: int,
    timeout: float | None,
    executor: str,
    as_json: bool,
) -> None:
    """Plan, execute and record a run of WORKFLOW (default: breast-cancer).

    \b
    Example:
      reprolam run --seed 1 --set train_model.C=0.1
      reprolam run mypkg.flows:workflow --planner script
      reprolam run --fault train_model:0.5 --retries 1
    """
    from reprolam import api
    from reprolam.cli import render
    from reprolam.engine.engine import Engine
    from reprolam.planning.choose import choose_planner
    from reprolam.workflows.registry import load_workflow

    flow = load_workflow(workflow)
    choice = choose_planner(planner, model=model, base_url=llm_base_url)
    parsed = api.parse_overrides(overrides)
    policy, runner = execution_settings(faults, retries, max_failures, timeout, executor)
    with obj.open() as store:
        header = f"[bold]{flow.name}[/] seed={seed}  planner: {choice.reason}"
        progress = render.RunProgress(enabled=not as_json, header=header)
        result = Engine(store, executor=runner).run(
            flow,
            planner=choice.planner,
            seed=seed,
            policy=policy,
            overrides=parsed,
            on_step=progress.step,
        )
        metrics = api.final_metrics(store, result.run)
    close = getattr(runner, "close", None)
    if close is not None:
        close()
    respond(
        as_json,
        {
            "run": result.run.to_dict(),
            "steps": len(result.steps),
            "metrics": metrics,
            "planner_reason": choice.reason,
        },
        lambda: progress.finish(result.run, len(result.steps), metrics),
        ok=result.succeeded,
    )


@cli.command()
@click.option("--limit", type=int, default=50, show_default=True, help="Show at most N runs.")
@json_option
@click.pass_obj
@reports_errors
def runs(obj: Ctx, limit: int, as_json: bool) -> None:
    """List recorded runs, newest first.

    \b
    Example:
      reprolam runs --limit 5 --json
    """
    from reprolam.api import final_metrics
    from reprolam.cli import render

    with obj.open() as store:
        records = store.list_runs(limit=limit)
        rows = [(r, final_metrics(store, r), len(store.own_steps(r.id))) for r in records]
    respond(
        as_json,
        [{**r.to_dict(), "metrics": m, "own_steps": n} for r, m, n in rows],
        lambda: render.runs_table(rows),
    )


@cli.command()
@click.argument("run_ref", metavar="RUN")
@json_option
@click.pass_obj
@reports_errors
def show(obj: Ctx, run_ref: str, as_json: bool) -> None:
    """Show RUN's trace: every step with params, artifacts, seed, timing and status.

    RUN is a full run id or a unique prefix.

    \b
    Example:
      reprolam show 0196a3 --json
    """
    from reprolam import api
    from reprolam.cli import render

    with obj.open() as store:
        view = api.show(run_ref, store=store)
    respond(as_json, view.to_dict(), lambda: render.run_view(view))


@cli.command()
@json_option
@reports_errors
def workflows(as_json: bool) -> None:
    """List installed workflows.

    \b
    Example:
      reprolam workflows --json
    """
    from reprolam.cli import render
    from reprolam.workflows.registry import available_workflows, load_workflow

    flows = [load_workflow(name) for name in sorted(available_workflows())]
    respond(
        as_json,
        [
            {
                "name": f.name,
                "actions": list(f.actions.names),
                "outputs": list(f.outputs),
                "goal": f.goal,
            }
            for f in flows
        ],
        lambda: render.workflows_table(flows),
    )


@cli.command()
@click.argument("workflow", required=False, default="breast-cancer")
@click.option("--tools", is_flag=True, help="Print the OpenAI tool definitions (JSON).")
@json_option
@reports_errors
def actions(workflow: str, tools: bool, as_json: bool) -> None:
    """List WORKFLOW's actions with inputs, outputs, params and determinism class.

    \b
    Example:
      reprolam actions breast-cancer --tools
    """
    from reprolam.cli import render
    from reprolam.workflows.registry import load_workflow

    flow = load_workflow(workflow)
    if tools:
        emit_json(flow.actions.tool_definitions())
    elif as_json:
        emit_json([spec.describe() for spec in flow.actions])
    else:
        render.actions_table(flow)


def main() -> None:
    cli(prog_name="reprolam")
