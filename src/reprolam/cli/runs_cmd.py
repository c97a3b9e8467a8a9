"""``reprolam runs`` and ``reprolam show``: the recorded runs, and one run's trace."""

from __future__ import annotations

import sys
from typing import Any

import click

from reprolam.cli.main import EXIT_PROBLEM, Ctx, emit_json, json_option, reports_errors
from reprolam.cli.process import settle


@click.command()
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
    help="Only runs with headline metric NAME, best first (lowest for a loss or an error, "
    "else highest), shown as a column.",
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

    from reprolam.cli.runs_table import runs_table
    from reprolam.history.annotate import headline_metrics, index_metrics, index_page
    from reprolam.history.sweep_optuna import default_direction
    from reprolam.trace.queries import RunQuery, leaves_runs_out

    settle()
    with obj.open() as rl:
        store = rl.store
        # Filtering or sorting by a metric needs every run indexed; a plain list, its page.
        if metric:
            index_metrics(store)
        # A store this process may only read keeps unindexed runs out of a metric's list.
        unindexed = leaves_runs_out(store, metric)
        query = RunQuery(
            tag=tag,
            metric=metric,
            order="metric" if metric else "created",
            # best first: the smallest loss, error, mse... as sweeps pick their best point
            descending=not metric or default_direction(metric) == "maximize",
        )
        page = index_page(store, store.query_runs(replace(query, limit=limit)))
        rows = [(row, headline_metrics(store, row.run)) for row in page.rows]
        if (tag or metric) and not rows and not _say_tags_there_are(store, tag):
            _say_metrics_there_are(store, metric, tag)
    if as_json:  # the payload only when asked for (dataclass copies of every row)
        emit_json([{**row.to_dict(), "metrics": m, "own_steps": row.own_steps} for row, m in rows])
    else:
        runs_table(rows, metric=metric, total=page.total, filtered=bool(tag or metric))
    # The list is filtered and ordered by the metrics index, its values read from the runs'
    # outputs: a row whose two disagree was placed by an edited index (audit says the same).
    edited = [(row.run.id, why) for row, m in rows if (why := _index_edited(row, m))]
    for run_id, why in edited:
        click.echo(f"warning: {why}; `reprolam audit {run_id}` checks it", err=True)
    if unindexed:
        click.echo(
            f"warning: some finished runs have no indexed metrics (this store is read-only to "
            f"this process), so --metric {metric} left them out: list runs once with write "
            "access to index them",
            err=True,
        )
    if edited or unindexed:
        sys.exit(EXIT_PROBLEM)


def _say_tags_there_are(store: Any, tag: str | None) -> bool:
    """No run is tagged ``tag`` (a typo, often): name the tags the newest 1000 runs have,
    so the fix is in sight. True when it said so."""
    from reprolam.trace.queries import RunQuery

    if not tag:
        return False
    tags: dict[str, None] = {}
    for row in store.query_runs(RunQuery(limit=1000)).rows:
        tags.update(dict.fromkeys(row.tags))
    if tag in tags:
        return False
    if not tags:
        click.echo(f"note: no run has a tag yet: `reprolam tag RUN {tag}` adds one", err=True)
        return True
    _note(f"no run is tagged {tag!r}", "their tags", "tag", sorted(tags))
    return True


def _note(what: str, theirs: str, option: str, known: list[str]) -> None:
    """One ``note:`` line on stderr: what matched nothing, and what there is instead."""
    import difflib

    like = difflib.get_close_matches(what.rsplit(" ", 1)[-1].strip("'"), known, n=1) or known
    click.echo(
        f"note: {what}; {theirs} are {', '.join(known)}: e.g. --{option} {like[0]}", err=True
    )


def _say_metrics_there_are(store: Any, metric: str | None, tag: str | None) -> None:
    """No run has ``metric`` (a typo, often): name the headline metrics the runs do have
    (those of the newest 50, tagged ``tag``), so the fix is in sight."""
    from reprolam.history.annotate import headline_metrics
    from reprolam.trace.queries import RunQuery

    if not metric:
        return
    names: dict[str, None] = {}
    for row in store.query_runs(RunQuery(tag=tag)).rows:
        names.update(dict.fromkeys(headline_metrics(store, row.run) or {}))
    if names and metric not in names:
        _note(f"no run has a headline metric {metric!r}", "theirs", "metric", sorted(names))


def _index_edited(row: Any, metrics: dict[str, Any] | None) -> str | None:
    from reprolam.history.index_check import index_disagreement
    from reprolam.trace.queries import numeric_metrics

    if not row.indexed or metrics is None:  # not indexed yet, or an unreadable output
        return None
    return index_disagreement(row.run.id, row.metrics, numeric_metrics(metrics))


@click.command()
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
