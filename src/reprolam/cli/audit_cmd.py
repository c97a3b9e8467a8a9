"""``audit``: check a recorded run, executing nothing, and print the paper's three metrics."""

from __future__ import annotations

import click

from reprolam.cli.main import Ctx, flag_style, json_option, reports_errors, respond


@click.command()
@click.argument("run_ref", metavar="RUN")
@json_option
@click.pass_obj
@reports_errors
def audit(obj: Ctx, run_ref: str, as_json: bool) -> None:
    """Audit RUN: trace completeness, hash chain, artifacts, lineage, failures, reproductions.

    Nothing is executed. Prints every problem with the run, step and artifact concerned,
    then the metrics: trace completeness, failure visibility and reproducibility status.
    Exit 1 if any check finds a problem.

    \b
    Example:
      reprolam audit 01a1fd10
      reprolam audit 01a1fd10 --json
    """
    from reprolam.cli import render

    with obj.open() as rl:
        report = rl.audit(run_ref)
    respond(
        as_json, report.to_dict(flag_style), lambda: render.audit_report(report), ok=report.clean
    )
