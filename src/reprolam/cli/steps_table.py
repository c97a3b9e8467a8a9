"""``reprolam show``'s trace table: one line per step, laid out here, printed as one ``Text``.

rich's ``Table`` measures and renders every cell as a renderable of its own (about 1 ms per
step: a 1,000-step run took a second to show). A trace is a grid of short, single-line
values, so its columns are sized here once, each value is cut to its column (an ellipsis
marks the cut; ``--json`` has every value whole) and the whole table goes to the terminal
as one styled ``Text``: a few microseconds per step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.cells import cell_len, set_cell_size
from rich.text import Span, Text

from reprolam.hashing import canonical_json, short
from reprolam.trace.links import step_label
from reprolam.trace.records import StepKind, StepStatus

if TYPE_CHECKING:
    from reprolam.client import RunView

Fragment = tuple[str, str]  # (text, rich style; "" for none)
Line = tuple[Fragment, ...]
Cell = tuple[Line, ...]  # one line per value (a step's params, its inputs, ...)

GAP = "  "  # between columns, as rich's SIMPLE_HEAD box with its default padding
ELLIPSIS = "…"


@dataclass(frozen=True, slots=True)
class Column:
    """A column: its header, alignment, and how far it may shrink when the line is too long.

    ``give`` orders the shrinking: columns with a lower ``give`` are cut first (down to
    ``min_width``) before the next ones are touched; None never shrinks.
    """

    header: str
    right: bool = False
    min_width: int = 1
    max_width: int | None = None
    give: int | None = None


def _width(line: Line) -> int:
    text = line[0][0] if len(line) == 1 else "".join(text for text, _ in line)
    return len(text) if text.isascii() else cell_len(text)


def plain(*values: str) -> Cell:
    """A cell of unstyled values, one per line."""
    return tuple(((value, ""),) for value in values)


def fit_widths(columns: Sequence[Column], natural: Sequence[int], width: int) -> list[int]:
    """Each column's width so the line fits ``width``: capped columns first, then the columns
    that give the most, cut in ``give`` order, each never below its minimum."""
    widths = [
        max(c.min_width, min(n, c.max_width) if c.max_width is not None else n)
        for c, n in zip(columns, natural, strict=True)
    ]
    excess = sum(widths) + len(GAP) * (len(columns) - 1) - width
    for give in sorted({c.give for c in columns if c.give is not None}):
        if excess <= 0:
            break
        group = [i for i, c in enumerate(columns) if c.give == give]
        # Take from the widest of the group first, so the cut columns end up alike.
        while excess > 0:
            room = [i for i in group if widths[i] > columns[i].min_width]
            if not room:
                break
            widest = max(room, key=lambda i: widths[i])
            widths[widest] -= 1
            excess -= 1
    return widths


def _fitted(line: Line, width: int, right: bool) -> tuple[list[Fragment], bool]:
    """The line padded or cut to ``width`` cells; and whether it was cut."""
    used = _width(line)
    if used <= width:
        pad = (" " * (width - used), "")
        return ([pad, *line] if right else [*line, pad]), False
    out: list[Fragment] = []
    room = width - 1  # for the ellipsis
    for text, style in line:
        size = len(text) if text.isascii() else cell_len(text)
        if size <= room:
            out.append((text, style))
            room -= size
            continue
        if room > 0:
            cut = text[:room] if text.isascii() else set_cell_size(text, room)
            out.append((cut, style))
        break
    out.append((ELLIPSIS, "dim"))
    return out, True


def render_table(
    columns: Sequence[Column], rows: Sequence[Sequence[Cell]], width: int
) -> tuple[Text, bool]:
    """The table as one ``Text`` (bold headers, a rule, then each row, as many lines as its
    tallest cell, all within ``width`` cells when the columns' minimums allow it), and
    whether a value was cut."""
    headers: list[Cell] = [(((c.header, "bold"),),) for c in columns]
    natural = [_width(h[0]) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            for line in cell:
                natural[i] = max(natural[i], _width(line))
    widths = fit_widths(columns, natural, width)
    blank: Line = ()
    # One string and a list of spans: ``Text.append`` per fragment costs more than the rest.
    parts: list[str] = []
    spans: list[Span] = []
    offset = 0
    cut_any = False
    rule = "─" * min(width, sum(widths) + len(GAP) * (len(widths) - 1))
    for index, row in enumerate([headers, *rows]):
        for k in range(max(len(cell) for cell in row)):
            fragments: list[Fragment] = []
            for i, cell in enumerate(row):
                if i:
                    fragments.append((GAP, ""))
                fitted, cut = _fitted(
                    cell[k] if k < len(cell) else blank, widths[i], columns[i].right
                )
                fragments.extend(fitted)
                cut_any = cut_any or cut
            joined = "".join(t for t, _ in fragments).rstrip()
            end = offset + len(joined)
            for fragment, style in fragments:
                if style and offset < end:
                    spans.append(Span(offset, min(offset + len(fragment), end), style))
                offset += len(fragment)
            parts.append(joined)
            offset = end + 1  # the newline
        if index == 0:
            parts.append(rule)
            offset += len(rule) + 1
    text = Text("\n".join(parts), no_wrap=True, overflow="ellipsis", end="\n", spans=spans)
    return text, cut_any


def steps_cells(view: RunView, *, wide: bool, width: int, hash_chars: int) -> list[list[Cell]]:
    """One row of cells per step, for the columns ``step_columns`` chose at this width."""
    marks = {
        StepStatus.SUCCEEDED: ("✓", "green"),
        StepStatus.FAILED: ("✗ failed", "red"),
        StepStatus.REJECTED: ("⊘ rejected", "yellow"),
        StepStatus.STARTED: ("… started", "magenta"),
    }
    inherited_note = " (inherited)" if wide else " (inh.)"
    narrow = width < NARROW
    rows: list[list[Cell]] = []
    for step in view.steps:
        label = step_label(step)  # hand-built steps (ManualRun, rlam) carry the user's name
        index: Line = ((str(step.index), ""),)
        if label:
            index += ((" " + label, "bold"),)
        action: Line = ((step.action, ""),)
        if step.kind is StepKind.REJECTION:
            action += ((" (proposal)", "dim"),)
        status: Line = (marks[step.status],)
        if view.inherited(step):
            status += ((inherited_note, "dim"),)
        if step.recovers is not None:
            status += ((f" (recovers {step.recovers})", "cyan"),)
        params = [f"{k}={canonical_json(v)}" for k, v in step.params.items()]
        row: list[Cell] = [(index,), (action,), (status,), plain(*params) or plain("-")]
        if wide:
            row.append(_artifacts(step.inputs, hash_chars))
        if not narrow:
            row.append(_artifacts(step.outputs, hash_chars))
        if width >= SEED_WIDTH:
            row.append(plain("-" if step.seed is None else str(step.seed)))
        duration = step.duration
        row.append(plain("-" if duration is None else f"{duration * 1000:.1f} ms"))
        rows.append(row)
    return rows


WIDE = 120  # the same thresholds as render.py's tables
NARROW = 70
SEED_WIDTH = 100


def step_columns(*, wide: bool, width: int, marked: bool) -> list[Column]:
    """The columns that fit ``width``: inputs, then seeds, then outputs are dropped first."""
    columns = [
        Column("#", right=True, min_width=2, give=4),
        Column("action", max_width=24 if wide else 15, min_width=6, give=2),
        # Room for "(recovers 12)" / "(inherited)": cut only when nothing else can give.
        Column("status", min_width=12 if marked else 1, give=3),
        Column("params", min_width=12, give=1),
    ]
    if wide:
        columns.append(Column("inputs", min_width=8, give=1))
    if width >= NARROW:
        columns.append(Column("outputs", min_width=8, max_width=None if wide else 18, give=1))
    if width >= SEED_WIDTH:
        columns.append(Column("seed", max_width=12, min_width=4, give=2))
    columns.append(Column("time", right=True, min_width=9))
    return columns


def _artifacts(named: dict[str, str], chars: int) -> Cell:
    return plain(*(f"{name}={short(key, chars)}" for name, key in named.items())) or plain("-")
