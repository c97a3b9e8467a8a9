"""``replay``, ``reproduce``, ``fork`` and ``diff``: what happened, shown again."""

from __future__ import annotations

from typing import Any

import click

from reprolam.cli.interrupt import reports_interruption
from reprolam.cli.main import (
    Ctx,
    flag_style,
    json_option,
    reports_errors,
    respond,
    warn_unverified,
)
from reprolam.cli.options import (
    Execution,
    execution_options,
    llm_options,
    planner_option,
    refuse_llm_options_for_recorded,
)
from reprolam.cli.process import json_kept_apart


@click.command()
@click.argument("run_ref", metavar="RUN")
@click.option("--step", type=int, help="Replay only step K and return its outputs.")
@click.option(
    "--workflow",
    metavar="REF",
    help="Import this workflow file first (no action runs), so that a trusted pickle of a "
    "class it defines loads.",
)
@json_option
@click.pass_obj
@reports_errors
def replay(obj: Ctx, run_ref: str, step: int | None, workflow: str | None, as_json: bool) -> None:
    """Rebuild RUN's outputs from the store, verifying every hash, executing nothing.

    No action, planner or LLM is called. Exit 1 if any step or artifact fails verification.

    \b
    Example:
      reprolam replay 01a1fd10
      reprolam replay 01a1fd10 --step 3 --json
      reprolam --trust-pickle replay 01a1fd10 --workflow flows.py
    """
    from reprolam.cli import render

    with obj.open() as rl:
        result = rl.replay(run_ref, step=step, workflow=workflow)
    payload = result.to_dict(flag_style)
    if payload["error"] is not None:
        payload["error"] = render.recorded_error(payload["error"])
    respond(as_json, payload, lambda: render.replay_result(result), ok=result.verified)


@click.command()
@click.argument("run_ref", metavar="RUN")
@click.option(
    "--rtol",
    type=click.FloatRange(min=0, min_open=True),
    help="Accept float outputs equal within this relative tolerance (reported as such).",
)
@click.option(
    "--workflow", metavar="REF", help="Load the workflow from here instead of where RUN got it."
)
@execution_options
@json_option
@click.pass_obj
@reports_errors
def reproduce(
    obj: Ctx,
    run_ref: str,
    rtol: float | None,
    workflow: str | None,
    execution: Execution,
    as_json: bool,
) -> None:
    """Re-execute RUN with its recorded params, seeds and decisions, and compare every output.

    Planner decisions come from the trace: no LLM is called. The attempt is recorded as a
    run that verifies RUN. Exit 1 on the first divergence (or a damaged record).

    \b
    Example:
      reprolam reproduce 01a1fd10
      reprolam reproduce 01a1fd10 --rtol 1e-9 --json
    """
    from reprolam.cli import render

    progress = render.RunProgress(enabled=not as_json, header="re-executing from the record")
    with obj.open() as rl, reports_interruption(rl), json_kept_apart(as_json):
        result = rl.reproduce(
            run_ref,
            rtol=rtol,
            workflow=workflow,
            policy=execution.policy_changes(),
            executor=execution.executor,
            on_step=progress.step,
            on_input_change=lambda change: click.echo(f"warning: {change}", err=True),
        )
    respond(
        as_json, result.to_dict(), lambda: render.reproduce_result(result), ok=result.reproduced
    )


@click.command()
@click.argument("run_ref", metavar="RUN")
@click.option("--at", "at", required=True, metavar="STEP", help="Step index or action name.")
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="ACTION.PARAM=VALUE",
    help="Force a param in the fork, e.g. --set train_model.C=0.1 (repeatable).",
)
@planner_option(default=None, help="Planner for the new steps (default: the parent's kind).")
@llm_options
@click.option(
    "--replay-decisions",
    is_flag=True,
    help="Replay the parent's recorded decisions after the fork point while they stay valid.",
)
@click.option(
    "--reuse",
    is_flag=True,
    help="Take the recorded outputs of any step in the store with the same action, code, "
    "params, inputs and seed instead of executing (recorded as reused).",
)
@click.option("--workflow", metavar="REF", help="Load the workflow from here (see reproduce).")
@execution_options
@json_option
@click.pass_obj
@reports_errors
def fork(
    obj: Ctx,
    run_ref: str,
    at: str,
    overrides: tuple[str, ...],
    planner: str | None,
    llm: Any,
    replay_decisions: bool,
    reuse: bool,
    workflow: str | None,
    execution: Execution,
    as_json: bool,
) -> None:
    """Fork RUN at STEP: inherit the steps before it by reference, run from it with overrides.

    \b
    Example:
      reprolam fork 01a1fd10 --at train_model --set train_model.C=0.01
      reprolam fork 01a1fd10 --at 3 --replay-decisions --reuse
    """
    from reprolam.cli import render

    progress = render.RunProgress(enabled=not as_json, header=f"forking {run_ref} at {at}")
    with obj.open() as rl, reports_interruption(rl), json_kept_apart(as_json):
        llm = refuse_llm_options_for_recorded(rl, run_ref, planner, llm)
        result = rl.fork(
            run_ref,
            at=at,
            set=overrides,
            planner=planner,
            llm=llm,
            replay_decisions=replay_decisions,
            reuse=reuse,
            workflow=workflow,
            policy=execution.policy_changes(),
            executor=execution.executor,
            on_step=progress.step,
        )
    metrics = result.metrics
    own = [s for s in result.steps if s.run_id == result.run.id]
    respond(
        as_json,
        {
            "run": result.run.to_dict(),
            "inherited": len(result.steps) - len(own),
            "executed": len(own),
            "cache": [s.proposal.get("cache") for s in own],
            "metrics": metrics,
        },
        lambda: render.fork_result(result.run, result.steps, metrics),
        ok=result.succeeded,
    )


@click.command()
@click.argument("run_a", metavar="RUN_A")
@click.argument("run_b", metavar="RUN_B")
@json_option
@click.pass_obj
@reports_errors
def diff(obj: Ctx, run_a: str, run_b: str, as_json: bool) -> None:
    """Compare two runs step by step: shared history, params, artifacts, seeds, env, metrics.

    \b
    Example:
      reprolam diff 01a1fd10 01a1fd22
    """
    from reprolam.cli import render

    with obj.open() as rl:
        result = rl.diff(run_a, run_b)
    warn_unverified(result.unverified)
    respond(as_json, result.to_dict(), lambda: render.run_diff(result), ok=not result.unverified)


@click.command()
@click.argument("run_ref", metavar="RUN")
@click.option(
    "--force",
    is_flag=True,
    help="Re-run an interrupted step even if its action has external side effects.",
)
@click.option("--workflow", metavar="REF", help="Load the workflow from here (see reproduce).")
@planner_option(default=None, help="Planner for the rest of the run (default: the run's own).")
@llm_options
@execution_options
@json_option
@click.pass_obj
@reports_errors
def resume(
    obj: Ctx,
    run_ref: str,
    force: bool,
    workflow: str | None,
    planner: str | None,
    llm: Any,
    execution: Execution,
    as_json: bool,
) -> None:
    """Continue an interrupted RUN from its last committed step.

    Finished steps are not re-executed; the step that was running is re-run with its
    recorded params, inputs and seed (refused for actions with external side effects unless
    --force).

    \b
    Example:
      reprolam resume 01a1fd10
    """
    from reprolam.cli import render

    progress = render.RunProgress(enabled=not as_json, header=f"resuming {run_ref}")
    with obj.open() as rl, reports_interruption(rl, run_ref), json_kept_apart(as_json):
        llm = refuse_llm_options_for_recorded(rl, run_ref, planner, llm)
        result = rl.resume(
            run_ref,
            force=force,
            workflow=workflow,
            planner=planner,
            llm=llm,
            policy=execution.policy_changes(),
            executor=execution.executor,
            on_step=progress.step,
        )
    respond(
        as_json,
        {"run": result.run.to_dict(), "steps": len(result.steps), "metrics": result.metrics},
        lambda: progress.finish(result.run, len(result.steps), result.metrics),
        ok=result.succeeded,
    )
