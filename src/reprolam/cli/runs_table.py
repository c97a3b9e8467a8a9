"""``reprolam runs`` as a table that fits the terminal.

Columns are chosen by budget, most useful first, from their text widths: rich would
otherwise shrink columns that cannot shrink (a run id cut to ``01a2…``) or crop the table at
the terminal's edge, showing ``14`` for ``142``. A column is shown whole or not at all; only
the workflow name (and tags) may end in an ellipsis.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rich import box
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from reprolam.cli.render import (
    NARROW_ID,
    _fit_console,
    _headline_names,
    _run_status,
    _value,
    _when,
    console,
    short_ids,
)

if TYPE_CHECKING:
    from reprolam.trace.queries import RunRow

Rows = Sequence[tuple["RunRow", "dict[str, Any] | None"]]
MAX_METRIC_COLUMNS = 3
WORKFLOW_MIN = 16  # the workflow column gives way down to this many characters
TAGS_MAX = 24


class _Column:
    """One candidate column: its cells (markup), and its widths from their plain text (given,
    or read from the markup)."""

    def __init__(
        self,
        name: str,
        cells: list[str],
        plain: list[str] | None = None,
        *,
        shrinks_to: int = 0,
        **kw: Any,
    ) -> None:
        self.name, self.cells, self.options = name, cells, kw
        if plain is None:
            plain = [Text.from_markup(cell).plain for cell in cells]
        self.width = max([len(name), *(len(p) for p in plain)])
        self.least = min(self.width, shrinks_to) if shrinks_to else self.width  # if it shrinks


def _text(name: str, texts: list[str], **kw: Any) -> _Column:
    """A column of plain texts that are never cut."""
    return _Column(name, [escape(t) for t in texts], texts, no_wrap=True, **kw)


def runs_table(
    rows: Rows, *, metric: str | None = None, total: int = 0, filtered: bool = False
) -> None:
    """Runs with their headline metrics (each run's whole metrics output); ``filtered``:
    ``--tag`` or ``--metric`` chose them."""
    _fit_console()
    if not rows:
        console.print(
            "no runs match --tag / --metric: drop them to list every run"
            if filtered
            else "no runs in this store yet: start one with `reprolam run`"
        )
        return
    width = console.width
    runs = [row.run for row, _ in rows]
    metrics = _headline_names(rows, MAX_METRIC_COLUMNS, metric)
    named = _named_ids(runs)
    workflow = _Column(
        "workflow",
        [
            escape(run.workflow) + (f" [dim]{k}[/]" if (k := _kind(run, named)) else "")
            for run in runs
        ],
        shrinks_to=WORKFLOW_MIN,
        overflow="ellipsis",
    )
    status = _Column("status", [_run_status(r) for r in runs], no_wrap=True)
    metric_columns = [
        _text(name, [_value((values or {}).get(name)) for _, values in rows], justify="right")
        for name in metrics
    ]
    tag_texts = [" ".join(row.tags) for row, _ in rows]
    tags = _Column("tags", [escape(t) for t in tag_texts], tag_texts, shrinks_to=4)
    tags.options.update(overflow="ellipsis", max_width=TAGS_MAX)

    # the essentials, then the rest most useful first, each only if the table still fits
    chosen = [
        _text("run", short_ids([run.id for run in runs], NARROW_ID)),
        workflow,
        status,
    ]
    optional = [
        *metric_columns[:1],
        _text("steps", [str(row.steps) for row, _ in rows]),
        _text("created", [_when(run.created_at)[5:16] for run in runs]),
        *metric_columns[1:],
        *([tags] if any(tag_texts) else []),
        _text("seed", [str(run.seed) for run in runs]),
        _text("planner", [str(run.planner.get("name", "?")) for run in runs]),
    ]
    for candidate in optional:
        if _fits([*chosen, candidate], width):
            chosen.append(candidate)
    # then whole ids and dates, where there is room
    upgrades = {
        "run": _text("run", [run.id for run in runs]),
        "created": _text("created", [_when(run.created_at) for run in runs]),
    }
    for index, item in enumerate(chosen):
        whole = upgrades.get(item.name)
        if whole is not None and _fits([*chosen[:index], whole, *chosen[index + 1 :]], width):
            chosen[index] = whole
    order = ["run", "workflow", "status", "seed", "planner", "steps", "created", *metrics, "tags"]
    chosen.sort(key=lambda c: order.index(c.name))

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for item in chosen:
        table.add_column(item.name, min_width=item.least, **item.options)
    for i in range(len(rows)):
        table.add_row(*(item.cells[i] for item in chosen))
    console.print(table)
    if total > len(rows):
        console.print(f"[dim]{len(rows)} of {total} runs; --limit N shows more[/]")
    if chosen[0] is not upgrades["run"]:
        console.print("[dim]run ids shortened to fit; every command accepts a unique prefix[/]")


def _fits(columns: Sequence[_Column], width: int) -> bool:
    """Whether the columns fit at their least widths: SIMPLE_HEAD puts three characters
    between columns (padding, divider, padding) and three around them (as measured)."""
    return sum(c.least for c in columns) + 3 * (len(columns) - 1) + 3 <= width


def _named_ids(runs: Sequence[Any]) -> dict[str, str]:
    """Each run a listed run forks or reproduces, by the prefix the table shows for it: as
    long as the run column's, so that it tells runs of the same second apart (the first 8
    characters, shown before, are the same for every run created in the same minute)."""
    named = [i for run in runs for i in (run.parent_id, run.verifies) if i]
    ids = [*(run.id for run in runs), *named]
    return dict(zip(ids, short_ids(ids, NARROW_ID), strict=True))


def _kind(run: Any, named: dict[str, str]) -> str:
    if run.parent_id:
        return f"(fork of {named[run.parent_id]})"
    if run.verifies:
        return f"(reproduces {named[run.verifies]})"
    return ""
