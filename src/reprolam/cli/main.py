"""The ``reprolam`` command: a thin layer over ``reprolam.api``.

Heavy libraries (numpy, pandas, scikit-learn, rich) are imported inside commands, so
``reprolam --help`` starts fast. Errors become one line and a non-zero exit here, at the edge.
"""

from __future__ import annotations

import functools
import importlib
import math
import sys
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from reprolam.cli.process import finished, own_process, owns_process, settle
from reprolam.errors import ReprolamError, ReprolamWarning

if TYPE_CHECKING:
    from reprolam.planning.choose import PlannerChoice

F = TypeVar("F", bound=Callable[..., Any])

EXIT_PROBLEM = 1  # the command ran and found a problem (failed run, divergence, audit finding)
EXIT_BAD_INPUT = 2  # the command could not do what was asked (bad input, unknown id, store error)


# Library errors name options by their Python names ({name=value} markup, see
# reprolam.errors); these are the flags that set them where the two names differ.
FLAGS = {
    "overrides": "--set",
    "faults": "--fault",
    "inputs": "--input",
    "action_timeout": "--timeout",
    "base_url": "--llm-base-url",
    "trusted": "--trust-pickle",
    "as_json": "--json",
}


def flag_style(name: str, value: str | None) -> str:
    """``{base_url=http://x}`` -> ``--llm-base-url http://x``; ``{force=True}`` -> ``--force``."""
    flag = FLAGS.get(name, "--" + name.replace("_", "-"))
    if value is None or value == "True":
        return flag
    return f"{flag} {value}"


class Ctx:
    """What the global options chose: where the store is, and whether it is trusted."""

    def __init__(self, store: str | None, artifacts: str | None, trusted: bool) -> None:
        self.store = store
        self.artifacts = artifacts
        self.trusted = trusted

    def open(self) -> Any:
        """A ``reprolam.Client`` over the chosen store."""
        from reprolam.client import open as open_client

        return open_client(self.store, artifacts=self.artifacts, trusted=self.trusted)


def json_option(fn: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")(fn)


def error_line(exc: ReprolamError) -> str:
    """The one line a library error becomes: options spelled as this CLI's flags."""
    return f"error: {exc.render(flag_style)}".replace("\n", " ")


def reports_errors(fn: F) -> F:
    """Turn reprolam errors into one clear line on stderr and exit code 2 (no traceback)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            with warnings.catch_warnings():
                warnings.showwarning = _show_warning
                return fn(*args, **kwargs)
        except ReprolamError as exc:
            click.echo(error_line(exc), err=True)
            sys.exit(EXIT_BAD_INPUT)

    return wrapper  # type: ignore[return-value]


def _show_warning(message: Any, category: Any, *args: Any, **kwargs: Any) -> None:
    """reprolam's own warnings as one ``warning:`` line with flags; others as Python shows them."""
    if isinstance(message, ReprolamWarning):
        click.echo(f"warning: {cli_text(message.what)}", err=True)
    else:
        _PYTHON_SHOWWARNING(message, category, *args, **kwargs)


_PYTHON_SHOWWARNING = warnings.showwarning


def llm_options(fn: F) -> F:
    """The llm planner's endpoint and sampling, collapsed into one ``llm: LLMSettings`` argument."""

    @functools.wraps(fn)
    def collapse(
        *args: Any,
        model: str | None,
        llm_base_url: str | None,
        temperature: float | None,
        max_tokens: int | None,
        tool_mode: str | None,
        **kwargs: Any,
    ) -> Any:
        from reprolam.planning.choose import LLMSettings

        llm = LLMSettings(
            model=model,
            base_url=llm_base_url,
            temperature=temperature,
            max_tokens=max_tokens,
            tool_mode=tool_mode,
        )
        return fn(*args, llm=llm, **kwargs)

    options = [
        click.option(
            "--tool-mode",
            type=click.Choice(["native", "text", "auto"]),
            help="LLM tool calls: native (tools sent), text (the model answers JSON), auto "
            "(native until the server refuses tools; the default).",
        ),
        click.option(
            "--max-tokens",
            type=click.IntRange(min=1),
            metavar="N",
            help="LLM reply length limit (default: the provider profile's, 1024 for most).",
        ),
        click.option(
            "--temperature",
            type=click.FloatRange(min=0, max=2),
            metavar="T",
            help="LLM sampling temperature (default 0; not sent to reasoning models).",
        ),
        click.option(
            "--llm-base-url",
            envvar="REPROLAM_LLM_BASE_URL",
            metavar="URL",
            help="OpenAI-compatible endpoint (OpenRouter, OpenAI, Ollama, vLLM, llama.cpp).",
        ),
        click.option("--model", envvar="REPROLAM_LLM_MODEL", help="LLM model name."),
    ]
    wrapped: Any = collapse
    for option in options:
        wrapped = option(wrapped)
    return wrapped  # type: ignore[no-any-return]


class Execution:
    """The execution options as given; ``None`` means "the default" (run) or "as recorded"."""

    def __init__(
        self,
        faults: tuple[str, ...],
        retries: int | None,
        max_failures: int | None,
        timeout: float | None,
        executor: str | None,
        effects: str | None = None,
        workers: int | None = None,
        scheduler: str | None = None,
    ) -> None:
        self.faults = faults
        self.retries = retries
        self.max_failures = max_failures
        self.timeout = timeout
        self.effects = effects
        # A name, or a config when --workers/--scheduler set the executor's settings.
        self.executor: str | dict[str, Any] | None = executor
        if workers is not None or scheduler is not None:
            name = executor or "dask"
            if name != "dask":
                raise click.UsageError(
                    f"--workers and --scheduler set up the dask executor, not {name!r}"
                )
            self.executor = {"name": name, "workers": workers, "scheduler": scheduler}

    def policy_changes(self) -> dict[str, Any]:
        """The policy fields these options set (to apply to a default or recorded policy)."""
        from reprolam.engine.faults import parse_fault

        changes: dict[str, Any] = {
            "retries": self.retries,
            "max_failures": self.max_failures,
            "action_timeout": self.timeout,
            "effects": self.effects,
        }
        if self.faults:
            changes["faults"] = dict(parse_fault(text) for text in self.faults)
        return {k: v for k, v in changes.items() if v is not None}


def _seconds(value: Any) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a number of seconds") from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise click.BadParameter(f"{value!r}: give a finite number of seconds above 0")
    return seconds


def execution_options(fn: F) -> F:
    """Failure handling and execution, collapsed into one ``execution: Execution`` argument.

    Shared by every command that executes actions: ``run`` applies them to the default
    policy; ``fork``, ``reproduce`` and ``resume`` to the one the run recorded.
    """

    @functools.wraps(fn)
    def collapse(
        *args: Any,
        faults: tuple[str, ...],
        retries: int | None,
        max_failures: int | None,
        timeout: float | None,
        executor: str | None,
        effects: str | None,
        workers: int | None,
        scheduler: str | None,
        **kwargs: Any,
    ) -> Any:
        execution = Execution(
            faults, retries, max_failures, timeout, executor, effects, workers, scheduler
        )
        return fn(*args, execution=execution, **kwargs)

    options = [
        click.option(
            "--fault",
            "faults",
            multiple=True,
            metavar="ACTION:RATE",
            help="Inject failures into ACTION with probability RATE (seeded, recorded).",
        ),
        click.option(
            "--retries",
            type=click.IntRange(min=0),
            help="Explicit retries per failure, each a recorded step [default: 0].",
        ),
        click.option(
            "--max-failures",
            type=click.IntRange(min=1),
            help="Stop the run after N failed steps [default: 3].",
        ),
        click.option(
            "--timeout",
            callback=lambda _ctx, _param, value: _seconds(value),
            metavar="SECONDS",
            help="Per-action timeout (needs an executor that can stop an action: process).",
        ),
        click.option(
            "--executor",
            metavar="NAME",
            help="Where actions run: local (this process), process (a worker a timeout can "
            "stop), dask (a Dask cluster), or an installed executor [default: local; as "
            "recorded for fork, resume, reproduce].",
        ),
        click.option(
            "--workers",
            type=click.IntRange(min=1),
            help="Dask: start a local cluster of N worker processes [default: 2].",
        ),
        click.option(
            "--scheduler",
            metavar="tcp://HOST:PORT",
            help="Dask: connect to this scheduler instead of starting a local cluster.",
        ),
        click.option(
            "--effects",
            type=click.Choice(["warn", "strict"]),
            help="Undeclared effects of actions (file writes, network, subprocesses, global "
            "RNG, clock in pure actions): warn records them, strict also fails the step "
            "[default: warn; as recorded for fork, resume, reproduce].",
        ),
    ]
    wrapped: Any = collapse
    for option in reversed(options):
        wrapped = option(wrapped)
    return wrapped  # type: ignore[no-any-return]


def emit_json(value: Any) -> None:
    import json  # here, not at start-up: --help needs no json

    click.echo(json.dumps(value, indent=2, sort_keys=True, default=str))


def respond(as_json: bool, payload: Any, show: Callable[[], object], *, ok: bool = True) -> None:
    """Print JSON or the human view; exit 1 when the command found a problem."""
    if as_json:
        emit_json(payload)
    else:
        show()
    if not ok:
        sys.exit(EXIT_PROBLEM)


# Commands that live in their own modules, imported only when used; --help lists them by
# their summaries (the first paragraph of their help, which a test keeps equal to it).
LAZY_COMMANDS: dict[str, tuple[str, str]] = {
    "replay": (
        "reprolam.cli.history_cmd:replay",
        "Rebuild RUN's outputs from the store, verifying every hash, executing nothing.",
    ),
    "reproduce": (
        "reprolam.cli.history_cmd:reproduce",
        "Re-execute RUN with its recorded params, seeds and decisions, and compare every output.",
    ),
    "fork": (
        "reprolam.cli.history_cmd:fork",
        "Fork RUN at STEP: inherit the steps before it by reference, run from it with overrides.",
    ),
    "diff": (
        "reprolam.cli.history_cmd:diff",
        "Compare two runs step by step: shared history, params, artifacts, seeds, env, metrics.",
    ),
    "resume": (
        "reprolam.cli.history_cmd:resume",
        "Continue an interrupted RUN from its last committed step.",
    ),
    "export": (
        "reprolam.cli.export_cmd:export",
        "Export RUN's provenance: every step, artifact, planner decision, failure and fork link.",
    ),
    "import": (
        "reprolam.cli.import_cmd:import_",
        "Import the run in CRATE (a directory or .zip from `reprolam export --format rocrate`).",
    ),
    "store": (
        "reprolam.cli.store_cmd:store",
        "Operate on whole trace stores: copy one into another, import a crate into one.",
    ),
    "audit": (
        "reprolam.cli.audit_cmd:audit",
        "Audit RUN: trace completeness, hash chain, artifacts, lineage, failures, reproductions.",
    ),
    "experiment": (
        "reprolam.cli.experiment_cmd:experiment",
        "Run Script, Naive LAM and R-LAM N times each on the breast-cancer workflow and compare.",
    ),
    "get": (
        "reprolam.cli.get_cmd:get",
        "Write RUN's artifact NAME (a workflow output, an input, or STEP.NAME) to a file.",
    ),
    "tag": (
        "reprolam.cli.annotate_cmd:tag",
        "Tag RUN with one or more NAMEs (kept beside the trace; no hash changes).",
    ),
    "note": (
        "reprolam.cli.annotate_cmd:note",
        "Attach a note (free text) to RUN, kept beside the trace.",
    ),
    "compare": (
        "reprolam.cli.annotate_cmd:compare",
        "Compare RUNs side by side: seed, planner, every param and headline metric.",
    ),
    "ui": (
        "reprolam.cli.ui_cmd:ui",
        "Serve a read-only web UI over the store: runs, traces, steps, comparisons, diffs.",
    ),
    "sweep": (
        "reprolam.cli.sweep_cmd:sweep",
        "Fork RUN at STEP once per point of a grid or a random space, JOBS points at a time.",
    ),
}


# Commands that end start-up themselves (settle_imports or process.settle) once they have
# imported what they need; the group ends it for every other command as it resolves it.
SETTLES_ITSELF = frozenset({"run", "runs", "show"})


class LazyGroup(click.Group):
    """A group that imports a command's module only when that command is needed, and reports
    usage errors as one ``error:`` line (exit 2) like every other bad input."""

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        run_main: Callable[..., Any] = super().main
        if not standalone_mode:
            return run_main(*args, standalone_mode=False, **kwargs)
        try:
            return run_main(*args, standalone_mode=False, **kwargs)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("error: aborted", err=True)
            sys.exit(EXIT_PROBLEM)
        except click.ClickException as exc:
            usage = exc.ctx.command_path if isinstance(exc, click.UsageError) and exc.ctx else ""
            see = f" (see '{usage} --help')" if usage else ""
            message = " ".join(exc.format_message().split())
            click.echo(f"error: {message}{see}", err=True)
            sys.exit(exc.exit_code)

    listing = False  # True while --help lists the commands: summaries need no imports

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *LAZY_COMMANDS])

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        self.listing = True
        try:
            super().format_commands(ctx, formatter)
        finally:
            self.listing = False

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        if name not in SETTLES_ITSELF:
            settle()  # start-up ends here for this command (reprolam.cli.process)
        return name, command, rest

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in LAZY_COMMANDS:
            return super().get_command(ctx, cmd_name)
        target, summary = LAZY_COMMANDS[cmd_name]
        if self.listing:  # a stand-in that click shortens exactly as it would the real help
            return click.Command(cmd_name, help=summary)
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
@click.option(
    "--trust-pickle",
    "trusted",
    is_flag=True,
    help="Load artifacts that need trust (pickles, non-scikit-learn model classes): only for "
    "stores whose contents you trust.",
)
@click.version_option(package_name="reprolam")
@click.pass_context
def cli(ctx: click.Context, store: str | None, artifacts: str | None, trusted: bool) -> None:
    """reprolam: LLM-driven scientific workflows that stay reproducible.

    Every step is policy-checked, seeded, executed and recorded in a persistent trace
    with content-addressed artifacts.

    \b
    Example:
      reprolam run                      # the bundled breast-cancer workflow, offline
      reprolam runs                     # list recorded runs
      reprolam show 0196                # a run's trace, by id prefix
    """
    ctx.obj = Ctx(store, artifacts, trusted)


def planner_option(*, default: str | None, help: str) -> Callable[[F], F]:
    return click.option(
        "--planner",
        default=default,
        show_default=default is not None,
        metavar="auto|rules|script|llm|simulated|NAME",
        help=help,
    )


@cli.command()
@click.argument("workflow", required=False, default="breast-cancer")
@planner_option(
    default="auto",
    help="Who chooses the next action. auto: the LLM if a base URL is given "
    "(--llm-base-url / REPROLAM_LLM_BASE_URL), else rules.",
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
@click.option(
    "--input",
    "inputs",
    multiple=True,
    metavar="NAME=PATH",
    help="External data (a file or directory) for the workflow's input NAME (repeatable).",
)
@click.option(
    "--no-copy", is_flag=True, help="Record the inputs' digests and paths without copying them."
)
@click.option(
    "--reuse",
    is_flag=True,
    help="Take the recorded outputs of any step in the store with the same action, code, "
    "params, inputs and seed instead of executing (recorded as reused).",
)
@execution_options
@json_option
@click.pass_obj
@reports_errors
def run(
    obj: Ctx,
    workflow: str,
    inputs: tuple[str, ...],
    no_copy: bool,
    planner: str,
    llm: Any,
    seed: int,
    overrides: tuple[str, ...],
    reuse: bool,
    execution: Execution,
    as_json: bool,
) -> None:
    """Plan, execute and record a run of WORKFLOW (default: breast-cancer).

    \b
    Example:
      reprolam run --seed 1 --set train_model.C=0.1
      reprolam run mypkg.flows:workflow --planner script
      reprolam run --fault train_model:0.5 --retries 1
      reprolam run mypkg.flows:workflow --input table=data/raw.csv
    """
    from reprolam.cli import render

    progress = render.RunProgress(enabled=not as_json)
    reasons: list[str] = []

    def announce(choice: PlannerChoice) -> None:
        reasons.append(cli_text(choice.why))
        progress.announce(f"[bold]{workflow}[/] seed={seed}  planner: {reasons[0]}")

    settle_imports()
    with obj.open() as rl:
        result = rl.run(
            workflow,
            planner=planner,
            seed=seed,
            set=overrides,
            policy=execution.policy_changes(),
            executor=execution.executor,
            llm=llm,
            reuse=reuse,
            on_step=progress.step,
            on_plan=announce,
            inputs=parse_inputs(inputs, copy=not no_copy),
        )
    respond(
        as_json,
        {
            "run": result.run.to_dict(),
            "steps": len(result.steps),
            "metrics": result.metrics,
            "planner_reason": reasons[0] if reasons else None,
        },
        lambda: progress.finish(result.run, len(result.steps), result.metrics),
        ok=result.succeeded,
    )


def settle_imports() -> None:
    """Import the engine (with numpy and pandas), then end start-up (``process.settle``):
    everything loaded so far is frozen, so each full collection while the actions run does
    not rescan those ~100,000 long-lived objects (tens of ms a run). Only when this process
    is the command: a program that calls ``cli`` keeps its collector as it was."""
    if not owns_process():
        return
    import reprolam.engine.engine  # noqa: F401  (imported for its side effect: loaded)

    settle()


def cli_text(text: str) -> str:
    """Library text (a planner's reason, a hint) with its option markup as flags."""
    from reprolam.errors import render_markup

    return render_markup(text, flag_style)


@cli.command()
@click.option(
    "--limit",
    type=click.IntRange(1, 1000),
    default=50,
    show_default=True,
    help="Show at most N runs.",
)
@click.option("--tag", metavar="T", help="Only runs tagged T (see `reprolam tag`).")
@click.option(
    "--metric",
    metavar="NAME",
    help="Only runs with headline metric NAME, best (highest) first, shown as a column.",
)
@json_option
@click.pass_obj
@reports_errors
def runs(obj: Ctx, limit: int, tag: str | None, metric: str | None, as_json: bool) -> None:
    """List recorded runs, newest first.

    \b
    Example:
      reprolam runs --limit 5 --json
      reprolam runs --tag sweep --metric accuracy
    """
    from dataclasses import replace

    from reprolam.cli import render
    from reprolam.history.annotate import headline_metrics, index_metrics, index_page
    from reprolam.trace.queries import RunQuery

    settle()
    with obj.open() as rl:
        store = rl.store
        # Filtering or sorting by a metric needs every run indexed; a plain list, its page.
        if metric:
            index_metrics(store)
        query = RunQuery(tag=tag, metric=metric, order="metric" if metric else "created")
        page = index_page(store, store.query_runs(replace(query, limit=limit)))
        rows = [(row, headline_metrics(store, row.run)) for row in page.rows]
    respond(
        as_json,
        [{**row.to_dict(), "metrics": m, "own_steps": row.own_steps} for row, m in rows],
        lambda: render.runs_table(rows, metric=metric, total=page.total),
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
    from reprolam.cli import render

    settle()
    with obj.open() as rl:
        view = rl.show(run_ref)
    if as_json:  # the payload only when asked for: it costs as much as the table
        emit_json(view.to_dict())
    else:
        render.run_view(view)


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


def parse_inputs(items: tuple[str, ...], *, copy: bool) -> dict[str, Any]:
    """``('table=data.csv', ...)`` -> ``{'table': InputData(Path('data.csv'), copy)}``."""
    if not items:
        return {}  # without importing reprolam.files and its codecs
    from pathlib import Path

    from reprolam.engine.inputs import InputData

    parsed: dict[str, Any] = {}
    for text in items:
        name, sep, path = text.partition("=")
        if not sep or not name.strip() or not path:
            raise click.BadParameter(f"{text!r} is not NAME=PATH", param_hint="--input")
        parsed[name.strip()] = InputData(Path(path), copy=copy)
    return parsed


def main() -> None:
    """The ``reprolam`` command: this process is the command's (``reprolam.cli.process``)."""
    own_process()
    try:
        cli(prog_name="reprolam")
    except SystemExit as exc:
        finished(exc.code)
        raise
    finished(None)
