"""``reprolam run``: plan, execute and record a run of a workflow."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from reprolam.cli.interrupt import reports_interruption
from reprolam.cli.main import Ctx, cli_text, json_option, reports_errors, respond
from reprolam.cli.options import Execution, execution_options, llm_options, planner_option
from reprolam.cli.process import json_kept_apart, owns_process, settle

if TYPE_CHECKING:
    from reprolam.planning.choose import PlannerChoice


@click.command()
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

    if no_copy and not inputs:  # nothing to copy or not: the flag would be silently ignored
        raise click.UsageError(
            "--no-copy records --input files by digest and path instead of copying them, and "
            "no --input is given: add --input NAME=PATH, or drop --no-copy"
        )
    progress = render.RunProgress(enabled=not as_json, cache_notes=reuse)
    reasons: list[str] = []

    def announce(choice: PlannerChoice) -> None:
        reasons.append(cli_text(choice.why))
        progress.announce(f"[bold]{workflow}[/] seed={seed}  planner: {reasons[0]}")

    settle_imports()
    with obj.open(create=True) as rl, reports_interruption(rl), json_kept_apart(as_json):
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
    """Import the engine (with numpy), then end start-up (``process.settle``):
    everything loaded so far is frozen, so full collections while the actions run do not
    rescan those long-lived objects, and none ran while they loaded. Only when this process
    is the command: a program that calls ``cli`` keeps its collector as it was."""
    if not owns_process():
        return
    import reprolam.engine.engine  # noqa: F401  (imported for its side effect: loaded)

    settle()


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
        name = name.strip()
        if name in parsed:  # two files for one input: neither may be silently dropped
            raise click.BadParameter(
                f"input {name!r} is given twice ({parsed[name].path} and {path}): pass one "
                f"{name}=PATH",
                param_hint="--input",
            )
        parsed[name] = InputData(Path(path), copy=copy)
    return parsed
