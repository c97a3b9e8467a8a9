"""``reprolam sweep``: one fork per point of a grid or random space, run concurrently."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from reprolam.cli.main import Ctx, json_option, reports_errors
from reprolam.cli.main import respond as respond_with
from reprolam.cli.options import (
    Execution,
    execution_options,
    llm_options,
    refuse_llm_options_for_recorded,
)
from reprolam.cli.process import json_kept_apart

if TYPE_CHECKING:
    from collections.abc import Sequence

    from reprolam.history.sweep import SweepPoint, SweepResult
    from reprolam.planning.choose import LLMSettings


@click.command()
@click.argument("run_ref", metavar="RUN")
@click.option("--at", "at", required=True, metavar="STEP", help="Step index or action name.")
@click.option(
    "--grid",
    multiple=True,
    metavar="ACTION.PARAM=V1,V2,...",
    help="Sweep a param over these values; several --grid sweep every combination.",
)
@click.option(
    "--random",
    "random_points",
    type=click.IntRange(min=1),
    metavar="N",
    help="Draw N random points from the --space params instead of a grid.",
)
@click.option(
    "--space",
    multiple=True,
    metavar="ACTION.PARAM=LOW:HIGH[:log]",
    help="A param's range for --random (integers if both bounds are; :log for log-uniform).",
)
@click.option(
    "--optuna",
    "optuna_trials",
    type=click.IntRange(min=1),
    metavar="N",
    help="Run N trials of an Optuna TPE study over the --space params, optimizing the "
    "headline metric (needs reprolam[optuna]).",
)
@click.option(
    "--maximize/--minimize",
    "maximize",
    default=None,
    help="Direction of --optuna and of the best point [default: minimize a loss or error, "
    "else maximize].",
)
@click.option(
    "--seed",
    "sweep_seed",
    type=int,
    default=0,
    show_default=True,
    help="Seed of the --random draws and of the --optuna sampler (recorded with every point).",
)
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="ACTION.PARAM=VALUE",
    help="Force a param in every point, e.g. --set train_model.max_iter=500 (repeatable).",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Points run at the same time.",
)
@click.option(
    "--reuse",
    is_flag=True,
    help="Take the recorded outputs of any step in the store with the same action, code, "
    "params, inputs and seed instead of executing (recorded as reused).",
)
@click.option("--metric", metavar="NAME", help="Headline metric [default: the first one].")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), help="Write a CSV here.")
@click.option(
    "--plot",
    "plot_path",
    type=click.Path(dir_okay=False),
    help="Write a PNG of the headline metric against each swept param (needs matplotlib).",
)
@click.option("--workflow", metavar="REF", help="Load the workflow from here (see reproduce).")
@llm_options
@execution_options
@json_option
@click.pass_obj
@reports_errors
def sweep(
    obj: Ctx,
    run_ref: str,
    at: str,
    grid: tuple[str, ...],
    random_points: int | None,
    space: tuple[str, ...],
    optuna_trials: int | None,
    maximize: bool | None,
    sweep_seed: int,
    overrides: tuple[str, ...],
    jobs: int,
    reuse: bool,
    metric: str | None,
    csv_path: str | None,
    plot_path: str | None,
    workflow: str | None,
    llm: LLMSettings,
    execution: Execution,
    as_json: bool,
) -> None:
    """Fork RUN at STEP once per point of a grid or a random space, JOBS points at a time.

    Every point is a normal fork (see `reprolam fork`), grouped under one sweep id; a
    summary table of the headline metric ends it.

    \b
    Example:
      reprolam sweep 01a1fd10 --at train_model --grid train_model.C=0.01,0.1,1,10 --jobs 2
      reprolam sweep 01a1fd10 --at train_model --random 8 \\
          --space train_model.C=0.001:100:log --space train_model.max_iter=100:2000
      reprolam sweep 01a1fd10 --at train_model --optuna 20 --space train_model.C=0.001:100:log \\
          --metric accuracy --maximize --jobs 2
      reprolam sweep 01a1fd10 --at train_model --grid train_model.C=0.1,1 --executor dask \\
          --workers 2 --jobs 2 --reuse --csv sweep.csv --plot sweep.png
    """
    if plot_path is not None:
        _check_matplotlib()
    for option, path in (("csv", csv_path), ("plot", plot_path)):
        _check_writable(option, path)  # before the sweep runs, not after

    finished: list[SweepPoint] = []

    def progress(point: SweepPoint) -> None:
        finished.append(point)
        if not as_json:
            _point_line(point)

    with obj.open() as rl, _reports_interruption(finished), json_kept_apart(as_json):
        llm = refuse_llm_options_for_recorded(rl, run_ref, None, llm, choosable=False)
        result = rl.sweep(
            run_ref,
            at=at,
            grid=list(grid),
            space=list(space),
            random=random_points,
            optuna=optuna_trials,
            direction=None if maximize is None else "maximize" if maximize else "minimize",
            seed=sweep_seed,
            set=overrides,
            jobs=jobs,
            reuse=reuse,
            metric=metric,
            workflow=workflow,
            policy=execution.policy_changes(),
            executor=execution.executor,
            on_point=progress,
            llm=llm,
        )
    written: dict[str, str] = {}
    if csv_path is not None:
        Path(csv_path).write_text(result.to_csv(), encoding="utf-8")
        written["csv"] = csv_path
    if plot_path is not None:
        from reprolam.history.sweep_plot import plot_sweep

        plot_sweep(result, plot_path)
        written["plot"] = plot_path
    respond_with(
        as_json,
        _as_flags({**result.to_dict(), "written": written}, result),
        lambda: _summary(result, written),
        ok=result.succeeded,
    )


@contextmanager
def _reports_interruption(finished: list[SweepPoint]) -> Iterator[None]:
    """Ctrl-C: one line saying what the sweep kept (click would only say "aborted")."""
    try:
        yield
    except KeyboardInterrupt:
        from reprolam._interrupts import hold_interrupts
        from reprolam.cli.main import EXIT_INTERRUPTED

        hold_interrupts()  # a second Ctrl-C: this line is still said (reports_errors releases)
        runs = [p.run.id for p in finished if p.run is not None]
        kept = f"{len(runs)} finished point{'s' * (len(runs) != 1)} kept as runs"
        listed = f" ({', '.join(r[:18] for r in runs[:5])}{', ...' if len(runs) > 5 else ''})"
        click.echo(
            f"error: interrupted: the sweep stopped; {kept}{listed if runs else ''}; a point "
            "that was running is recorded as interrupted (`reprolam runs` lists them all; "
            "`reprolam resume RUN` continues one); to finish the sweep, run the same command "
            "again with --reuse: what finished is reused, not executed again",
            err=True,
        )
        sys.exit(EXIT_INTERRUPTED)


def _check_writable(option: str, path: str | None) -> None:
    """Refuse a --csv or --plot path that is empty, or whose directory is missing or not
    writable (an empty one failed after the sweep ran: --csv with a traceback, as the
    current directory, --plot writing a hidden '.png')."""
    if path is None:
        return
    from reprolam.errors import ConfigError

    if not path.strip():
        raise ConfigError(
            f"{{{option}}} {path!r} is empty: name the file to write",
            option=option,
            value=path,
            hint=f"e.g. {{{option}=sweep.{'csv' if option == 'csv' else 'png'}}}",
        )
    parent = Path(path).expanduser().absolute().parent
    why = (
        "does not exist"
        if not parent.exists()
        else "is not a directory"
        if not parent.is_dir()
        else "is not writable"
        if not os.access(parent, os.W_OK | os.X_OK)
        else None
    )
    if why is not None:
        raise ConfigError(
            f"{{{option}={path}}}: cannot write there: {parent} {why}",
            option=option,
            value=path,
            hint=f"create the directory first or choose another {{{option}=PATH}}",
        )


def _check_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise click.UsageError(
            "--plot needs matplotlib: pip install 'reprolam[experiment]'"
        ) from None


def _why_no_metric(result: SweepResult, metric: str | None) -> None:
    """A metric column of dashes says why: no headline metrics declared, or another name."""
    from reprolam.cli.render import console

    finished = [p for p in result.points if p.run is not None and p.run.status.value == "succeeded"]
    if not finished:
        return
    names = sorted({k for p in finished for k in (p.metrics or {})})
    if not names:
        flow = finished[0].run.workflow if finished[0].run is not None else "?"
        console.print(
            f"no metric to compare: workflow {flow!r} declares no headline metrics; name the "
            "output that holds them (a dict of numbers): workflow(..., metrics='OUTPUT')",
            soft_wrap=True,
        )
    elif metric is not None and metric not in names:
        console.print(
            f"no metric {metric!r} in the points' headline metrics ({', '.join(names)}): "
            "pass one of them to --metric",
            soft_wrap=True,
        )


def _point_error(point: SweepPoint) -> str | None:
    """Why a point could not run, with options named by their flags (the library's text
    names them as Python does: ``reuse=True``)."""
    from reprolam.cli.main import flag_style

    return point.failure.render(flag_style) if point.failure is not None else point.error


def _as_flags(payload: dict[str, Any], result: SweepResult) -> dict[str, Any]:
    """``--json``'s points (and best point) with their errors in the CLI's words."""
    errors = {p.number: _point_error(p) for p in result.points}
    for row in [*payload["points"], payload.get("best") or {}]:
        if row.get("error"):
            row["error"] = errors[row["point"]]
    return payload


def _values(values: dict[str, Any]) -> str:
    """The swept values, as markup-safe text."""
    from rich.markup import escape

    return escape(" ".join(f"{k}={_short(v)}" for k, v in values.items()))


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _point_line(point: SweepPoint) -> None:
    from reprolam.cli.render import NARROW_ID, console

    run = point.run.id[:NARROW_ID] if point.run else "-"
    status = point.run.status.value if point.run else "error"
    console.print(
        f"point {point.number}: {_values(point.values)} -> {run} {status} "
        f"({point.executed} ran, {point.reused} reused)",
        soft_wrap=True,
    )


def _summary(result: SweepResult, written: dict[str, str]) -> None:
    """The points as a table that fits the terminal: point numbers, the swept values, the
    metric and the run ids are never cut (their headers may fold); run ids are shortened only
    as far as they stay distinct."""
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    from reprolam.cli.render import SHORT_ID, WIDE, _fit_console, console, short_ids

    _fit_console()
    wide = console.width >= WIDE
    metric = result.headline()
    ids = [p.run.id for p in result.points if p.run]
    shown_ids = dict(zip(ids, short_ids(ids, 36 if wide else SHORT_ID), strict=True))
    console.print(f"sweep [bold]{result.id}[/] of {result.parent} at step {result.at}")
    rows = [_row(p, result.targets, metric, shown_ids) for p in result.points]
    names = [t.rpartition(".")[2] for t in result.targets]
    headers = names if len(set(names)) == len(names) else list(result.targets)
    headers = ["#", *headers, metric or "metric", "run", "status", "ran", "reused"]
    shown = [True] * len(headers)
    shown[-3] = any(row[-3] != "succeeded" for row in rows)  # else the totals line says it
    shown[-2] = shown[-1] = wide
    table = Table(box=box.SIMPLE_HEAD)
    foldable = range(1, len(result.targets) + 2)  # the swept values and the metric
    for column, header in enumerate(headers):
        if not shown[column]:
            continue
        if column in foldable:  # the header folds; the values stay whole
            longest = max((len(row[column]) for row in rows), default=1)
            numbers = column == len(result.targets) + 1
            table.add_column(
                header,
                overflow="fold",
                min_width=max(longest, 3),
                justify="right" if numbers else "left",
            )
        else:
            table.add_column(header, no_wrap=True)
    for row in rows:
        table.add_row(*(cell for cell, keep in zip(row, shown, strict=True) if keep))
    console.print(table)
    best = result.best()
    if best is not None and best.run is not None:
        score = _short((best.metrics or {}).get(metric or ""))
        console.print(
            f"best: point {best.number} ({_values(best.values)}) {metric}={score}, "
            f"run {best.run.id}"
        )
    for p in result.points:
        if p.error:
            console.print(f"point {p.number}: [red]error[/] {escape(_point_error(p) or '')}")
    _why_no_metric(result, metric)
    if len(result.environments) > 1:
        console.print(
            f"[yellow]warning[/]: the workers ran {len(result.environments)} different "
            "environments (Python or package versions differ): results may not be comparable; "
            "see each step's placement in `reprolam show`"
        )
    steps = result.executed + result.reused
    if steps and result.executed == 0:
        console.print(f"every step was reused ({result.reused} steps): nothing executed")
    else:
        plural = "s" * (result.executed != 1)
        console.print(f"{result.executed} step{plural} executed, {result.reused} reused")
    for kind, path in written.items():
        console.print(f"{kind}: {path}")


def _row(
    point: SweepPoint, targets: Sequence[str], metric: str | None, ids: dict[str, str]
) -> list[str]:
    value = (point.metrics or {}).get(metric or "")
    run = "-" if point.run is None else ids[point.run.id]
    return [
        str(point.number),
        *(_short(point.values.get(t)) for t in targets),
        "-" if value is None else _short(value),
        run,
        point.run.status.value if point.run else "error",
        str(point.executed),
        str(point.reused),
    ]
