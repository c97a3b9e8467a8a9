"""The ``reprolam`` command: a thin layer over ``reprolam.api``.

Every command lives in its own module, imported only when it runs (``LAZY_COMMANDS``); heavy
libraries (numpy, pandas, scikit-learn, rich) are imported inside commands, so
``reprolam --help`` starts fast. Errors become one line and a non-zero exit here, at the edge.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import os
import sys
import warnings
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import click

from reprolam.cli.process import finished, own_process, settle
from reprolam.errors import ReprolamError, ReprolamWarning

F = TypeVar("F", bound=Callable[..., Any])

EXIT_PROBLEM = 1  # the command ran and found a problem (failed run, divergence, audit finding)
EXIT_BAD_INPUT = 2  # the command could not do what was asked (bad input, unknown id, store error)
EXIT_INTERRUPTED = 130  # Ctrl-C: the shell's 128 + SIGINT, so scripts stop as for any tool


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
    "as_": "--as",
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

    def open(self, *, create: bool = False) -> Any:
        """A ``reprolam.Client`` over the chosen store. Only commands that record into a new
        store (``run``, ``import``) create it: a mistyped path is an error, not a new store."""
        from reprolam.client import open as open_client

        return open_client(
            self.store, artifacts=self.artifacts, trusted=self.trusted, create=create
        )


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
            with warnings.catch_warnings(), _stdout_for_json(kwargs.get("as_json") is True):
                warnings.showwarning = _show_warning
                return fn(*args, **kwargs)
        except ReprolamError as exc:
            click.echo(error_line(exc), err=True)
            sys.exit(EXIT_BAD_INPUT)
        except KeyboardInterrupt:  # commands that record runs say more (cli.interrupt)
            click.echo("error: interrupted (Ctrl-C)", err=True)
            sys.exit(EXIT_INTERRUPTED)
        finally:  # Ctrl-C held off while it was reported (imported only then: start-up)
            held = sys.modules.get("reprolam._interrupts")
            if held is not None:
                held.release_interrupts()

    return wrapper  # type: ignore[return-value]


_json_streams: list[Any] = []  # where --json output goes: stdout as the command found it


@contextlib.contextmanager
def _stdout_for_json(as_json: bool) -> Iterator[None]:
    """With --json, stdout holds the JSON alone: whatever else the command's code prints
    there (a workflow file printing as it is imported) goes to stderr instead."""
    if not as_json:
        yield
        return
    _json_streams.append(sys.stdout)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        _json_streams.pop()


def _show_warning(message: Any, category: Any, *args: Any, **kwargs: Any) -> None:
    """reprolam's own warnings as one ``warning:`` line with flags; others as Python shows them."""
    if isinstance(message, ReprolamWarning):
        click.echo(f"warning: {cli_text(message.what)}", err=True)
    else:
        _PYTHON_SHOWWARNING(message, category, *args, **kwargs)


_PYTHON_SHOWWARNING = warnings.showwarning


def cli_text(text: str) -> str:
    """Library text (a planner's reason, a hint) with its option markup as flags."""
    from reprolam.errors import render_markup

    return render_markup(text, flag_style)


def emit_json(value: Any) -> None:
    """``--json`` output: strict JSON (RFC 8259), which has no NaN or infinity: a
    non-finite float is written as the string ``"NaN"``, ``"Infinity"`` or ``"-Infinity"``
    (as protobuf's JSON mapping does)."""
    import json  # here, not at start-up: --help needs no json

    try:
        text = json.dumps(value, indent=2, sort_keys=True, default=str, allow_nan=False)
    except ValueError:  # a NaN or infinity somewhere: spelled out
        from reprolam.results import finite_json

        text = json.dumps(finite_json(value), indent=2, sort_keys=True, default=str)
    click.echo(text, file=_json_streams[-1] if _json_streams else None)


def warn_unverified(unverified: dict[str, str]) -> None:
    """One ``warning:`` line (stderr) per run a report was built from that does not verify."""
    from reprolam.history.record_check import unverified_warning

    for run_id, why in unverified.items():
        click.echo(f"warning: {unverified_warning(run_id, why)}", err=True)


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
    "run": (
        "reprolam.cli.run_cmd:run",
        "Plan, execute and record a run of WORKFLOW (default: breast-cancer).",
    ),
    "runs": ("reprolam.cli.runs_cmd:runs", "List recorded runs, newest first."),
    "show": (
        "reprolam.cli.runs_cmd:show",
        "Show RUN's trace: every step with params, artifacts, seed, timing and status.",
    ),
    "workflows": ("reprolam.cli.workflows_cmd:workflows", "List installed workflows."),
    "actions": (
        "reprolam.cli.workflows_cmd:actions",
        "List WORKFLOW's actions with inputs, outputs, params and determinism class.",
    ),
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


def help_width(max_width: int) -> int | None:
    """The width click gives help text, ``max(min(columns, max_width) - 2, 50)``, with the
    terminal's columns found as ``shutil.get_terminal_size`` finds them ($COLUMNS, else the
    terminal on stdout, else 80) without importing shutil (and its compression modules: 2-3
    ms of ``--help``). None when click's width is forced (``CliRunner``): click applies it."""
    from click import formatting

    if formatting.FORCED_WIDTH is not None:
        return None
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return max(min(columns or 80, max_width) - 2, 50)


GLOBAL_OPTIONS = {"--store": " PATH_OR_DSN", "--artifacts": " PATH", "--trust-pickle": ""}


def _misplaced_global(option: str, command_path: str) -> str:
    """What to say when a global option follows the command (``reprolam run --store x``)."""
    command = command_path.partition(" ")[2] or "COMMAND"
    if command == "store copy" and option != "--trust-pickle":  # its two stores are arguments
        return (
            f"store copy takes no {option}: it copies SRC into DST, given as arguments, with "
            "--src-artifacts PATH and --dst-artifacts PATH for their artifact directories"
        )
    return (
        f"{option} is a global option: put it before the command, as in "
        f"'reprolam {option}{GLOBAL_OPTIONS[option]} {command} ...'"
    )


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
            if type(exc).__name__ == "NoArgsIsHelpError":  # `reprolam`, `reprolam store`
                click.echo(exc.format_message(), err=True)  # the help, as click shows it
                sys.exit(exc.exit_code)
            usage = exc.ctx.command_path if isinstance(exc, click.UsageError) and exc.ctx else ""
            see = f" (see '{usage} --help')" if usage else ""
            message = " ".join(exc.format_message().split())
            if isinstance(exc, click.NoSuchOption) and exc.option_name in GLOBAL_OPTIONS:
                message, see = _misplaced_global(exc.option_name, usage), ""
            click.echo(f"error: {message}{see}", err=True)
            sys.exit(exc.exit_code)

    listing = False  # True while --help lists the commands: summaries need no imports

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        if "terminal_width" not in extra:  # subcommands inherit it from this context
            max_width = extra.get("max_content_width", self.context_settings["max_content_width"])
            extra["terminal_width"] = help_width(max_width)
        return super().make_context(info_name, args, parent, **extra)

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
    metavar="PATH",
    help="Artifact directory: required with PostgreSQL (default $REPROLAM_ARTIFACTS); for "
    "SQLite, instead of <store>/artifacts.",
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


def main() -> None:
    """The ``reprolam`` command: this process is the command's (``reprolam.cli.process``)."""
    own_process()
    try:
        cli(prog_name="reprolam")
    except SystemExit as exc:
        finished(exc.code)
        raise
    finished(None)
