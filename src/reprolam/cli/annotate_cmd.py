"""``tag``, ``note`` and ``compare``: naming runs, writing about them, seeing them side by side.

Tags and notes are kept beside the trace: they never change a run's record or hashes.
"""

from __future__ import annotations

import sys

import click

from reprolam.cli.main import (
    EXIT_PROBLEM,
    Ctx,
    json_option,
    reports_errors,
    respond,
    warn_unverified,
)


@click.command()
@click.argument("run_ref", metavar="RUN")
@click.argument("names", metavar="NAME...", nargs=-1, required=True)
@json_option
@click.pass_obj
@reports_errors
def tag(obj: Ctx, run_ref: str, names: tuple[str, ...], as_json: bool) -> None:
    """Tag RUN with one or more NAMEs (kept beside the trace; no hash changes).

    \b
    Example:
      reprolam tag 01a1fd10 baseline paper-fig-3
      reprolam runs --tag baseline
    """
    from reprolam.cli import render

    with obj.open() as rl:
        annotations = rl.tag(run_ref, *names)
    respond(
        as_json,
        [a.to_dict() for a in annotations],
        lambda: render.annotation_list(annotations),
    )


@click.command()
@click.argument("run_ref", metavar="RUN")
@click.argument("text")
@json_option
@click.pass_obj
@reports_errors
def note(obj: Ctx, run_ref: str, text: str, as_json: bool) -> None:
    """Attach a note (free text) to RUN, kept beside the trace.

    \b
    Example:
      reprolam note 01a1fd10 "C=0.01 underfits; see fork 01a1fd4c"
    """
    from reprolam.cli import render

    with obj.open() as rl:
        annotations = rl.note(run_ref, text)
    respond(
        as_json,
        [a.to_dict() for a in annotations],
        lambda: render.annotation_list(annotations),
    )


@click.command()
@click.argument("run_refs", metavar="RUN...", nargs=-1, required=True)
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV (one row per run).")
@json_option
@click.pass_obj
@reports_errors
def compare(obj: Ctx, run_refs: tuple[str, ...], as_csv: bool, as_json: bool) -> None:
    """Compare RUNs side by side: seed, planner, every param and headline metric.

    Columns whose values differ between the runs are marked. A sweep id stands for every
    point of that sweep.

    \b
    Example:
      reprolam compare 01a1fd10 01a1fd4c 01a1fd5e
      reprolam compare SWEEP_ID --csv > sweep.csv   # the id `reprolam sweep` printed
      reprolam compare $(reprolam runs --tag sweep --json | jq -r '.[].id') --csv > sweep.csv
    """
    from reprolam.cli import render

    if as_csv and as_json:
        raise click.UsageError("choose one of --csv and --json")
    with obj.open() as rl:
        comparison = rl.compare(*run_refs)
    warn_unverified(comparison.unverified)
    if as_csv:
        click.echo(comparison.to_csv(), nl=False)
        if comparison.unverified:
            sys.exit(EXIT_PROBLEM)
        return
    respond(
        as_json,
        comparison.to_dict(),
        lambda: render.comparison(comparison),
        ok=not comparison.unverified,
    )
