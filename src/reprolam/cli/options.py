"""Options shared by the commands that execute actions (run, fork, reproduce, resume, sweep):
the planner, the LLM endpoint and sampling, failure handling and the executor."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def planner_option(*, default: str | None, help: str) -> Callable[[F], F]:
    return click.option(
        "--planner",
        default=default,
        show_default=default is not None,
        metavar="auto|rules|script|llm|simulated|NAME",
        help=help,
    )


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
        llm_timeout: float | None,
        prompt_budget: int | None,
        **kwargs: Any,
    ) -> Any:
        from reprolam.planning.choose import LLMSettings

        if _refuse_llm_options_without_llm(kwargs.get("planner")):
            return fn(*args, llm=None, **kwargs)  # the environment's settings, left alone
        llm = LLMSettings(
            model=model,
            # None: the environment's, which the library finds and names itself
            base_url=llm_base_url if _not_from_environment("llm_base_url") else None,
            temperature=temperature,
            max_tokens=max_tokens,
            tool_mode=tool_mode,
            timeout=llm_timeout,
            prompt_budget=prompt_budget,
        )
        return fn(*args, llm=llm, **kwargs)

    options = [
        click.option(
            "--prompt-budget",
            type=click.IntRange(min=1000),
            metavar="CHARS",
            help="Characters of LLM messages past which the oldest step results are cut "
            "short (default 48000, about 12k tokens; less for a model with a short context).",
        ),
        click.option(
            "--llm-timeout",
            envvar="REPROLAM_LLM_TIMEOUT",
            callback=lambda _ctx, _param, value: _seconds(value),
            metavar="SECONDS",
            help="Seconds one LLM call may take (default 60; a local model on a CPU may "
            "need more).",
        ),
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


LLM_OPTIONS = (
    *("model", "llm_base_url", "temperature", "max_tokens", "tool_mode", "llm_timeout"),
    "prompt_budget",
)


def _refuse_llm_options_without_llm(planner: Any) -> bool:
    """An LLM option typed with a planner that calls no LLM would be silently ignored (and
    a reader of the command would believe the model was used): refuse it, naming the fix.
    The same settings from the environment (REPROLAM_LLM_MODEL, ...) are left alone: True
    when the planner calls no LLM, so none is handed on."""
    from reprolam.planning.choose import OFFLINE_PLANNERS

    if planner in OFFLINE_PLANNERS:
        _refuse_typed_llm_options(
            f"the {planner} planner calls none", fix=", or choose --planner llm"
        )
        return True
    return False


def refuse_llm_options_for_recorded(
    rl: Any, run_ref: str, planner: str | None, llm: Any, *, choosable: bool = True
) -> Any:
    """Without --planner, fork, resume and sweep plan with the run's own kind: an LLM option
    typed for a run planned offline (rules, script, simulated) would be ignored. The LLM
    settings to hand on: ``llm``, or None for such a run (the environment's are left alone).
    ``choosable``: the command has a --planner (sweep has not)."""
    if planner is not None or llm is None:
        return llm
    from reprolam.errors import ReprolamError
    from reprolam.planning.choose import OFFLINE_PLANNERS

    try:
        run = rl.store.get_run(rl.store.resolve_run_id(run_ref))
    except ReprolamError:  # no such run (a sweep id, a typo): the verb says so, better
        return llm
    name = run.planner.get("name")
    if name not in OFFLINE_PLANNERS:
        return llm
    _refuse_typed_llm_options(
        f"run {run.id} was planned by the {name} planner, which calls none (and plans "
        "the new steps too)",
        fix=", or choose --planner llm" if choosable else " (a sweep plans as its run did)",
    )
    return None


def _not_from_environment(option: str) -> bool:
    """Whether ``option`` was typed (or left out), not read from the environment:
    the library then names its source right (the base URL given, or REPROLAM_LLM_BASE_URL)."""
    source = click.get_current_context().get_parameter_source(option)
    return source is not click.core.ParameterSource.ENVIRONMENT


def _typed_llm_options() -> list[str]:
    ctx = click.get_current_context()
    return [
        f"--{name.replace('_', '-')}"
        for name in LLM_OPTIONS
        if ctx.get_parameter_source(name) is click.core.ParameterSource.COMMANDLINE
    ]


def _refuse_typed_llm_options(why: str, *, fix: str) -> None:
    typed = _typed_llm_options()
    if typed:
        one = len(typed) == 1
        raise click.UsageError(
            f"{' and '.join(typed)} set{'s' if one else ''} up an LLM, but {why}, so "
            f"{'it' if one else 'they'} would be ignored: drop {'it' if one else 'them'}"
            f"{fix}"
        )


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
        from reprolam.engine.faults import parse_faults

        changes: dict[str, Any] = {
            "retries": self.retries,
            "max_failures": self.max_failures,
            "action_timeout": self.timeout,
            "effects": self.effects,
        }
        if self.faults:
            changes["faults"] = parse_faults(self.faults)
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
