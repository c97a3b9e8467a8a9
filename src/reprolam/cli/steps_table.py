"""``reprolam show``'s trace table: one line per step, laid out here, printed as styled lines.

rich's ``Table`` measures and renders every cell as a renderable of its own (about 1 ms per
step: a 1,000-step run took a second to show). A trace is a grid of short, single-line
values, so its columns are sized here once, each value is cut to its column (an ellipsis
marks the cut; ``--json`` has every value whole) and the lines go to the terminal as they
are (``StyledLines``): a few microseconds per step.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.cells import cell_len, set_cell_size
from rich.console import Console, ConsoleOptions, ConsoleRenderable
from rich.segment import Segment
from rich.style import Style
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
) -> tuple[ConsoleRenderable, bool]:
    """The table, printable (bold headers, a rule, then each row, as many lines as its
    tallest cell, all within ``width`` cells when the columns' minimums allow it), and
    whether a value was cut."""
    headers: list[Cell] = [(((c.header, "bold"),),) for c in columns]
    natural = [_width(h[0]) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            for line in cell:
                natural[i] = max(natural[i], _width(line))
    widths = fit_widths(columns, natural, width)
    rights = [c.right for c in columns]
    blank: Line = ()
    lines: list[list[Fragment]] = []
    cut_any = False
    rule = "─" * min(width, sum(widths) + len(GAP) * (len(widths) - 1))
    for index, row in enumerate([headers, *rows]):
        for k in range(max(len(cell) for cell in row)):
            fragments: list[Fragment] = []
            for i, cell in enumerate(row):
                if i:
                    fragments.append((GAP, ""))
                fitted, cut = _fitted(cell[k] if k < len(cell) else blank, widths[i], rights[i])
                fragments += fitted
                cut_any = cut_any or cut
            lines.append(_rstripped(fragments))
        if index == 0:
            lines.append([(rule, "")])
    if all(text.isprintable() for line in lines for text, _ in line):
        return StyledLines(lines), cut_any
    return _as_text(lines), cut_any  # control characters or tabs: rich's Text handles them


def _rstripped(fragments: list[Fragment]) -> list[Fragment]:
    """The line without trailing whitespace (as ``str.rstrip`` of its text)."""
    while fragments:
        text, style = fragments[-1]
        stripped = text.rstrip()
        if stripped:
            if stripped is not text:
                fragments[-1] = (stripped, style)
            break
        fragments.pop()
    return fragments


class StyledLines:
    """Lines of styled fragments, printed as they are: what a ``Text`` of the same lines and
    spans prints, without rich splitting it into a ``Text`` per line and re-joining them
    (most of ``reprolam show``'s time for a long run). Printable characters only."""

    def __init__(self, lines: list[list[Fragment]]) -> None:
        self.lines = lines

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterator[Segment]:
        styles: dict[str, Style] = {}
        newline = Segment("\n")
        for line in self.lines:
            plain: list[str] = []  # unstyled fragments go out as one segment, as rich does
            for text, style in line:
                if not style:
                    plain.append(text)
                    continue
                if plain:
                    yield Segment("".join(plain))
                    plain = []
                found = styles.get(style)
                if found is None:
                    found = styles[style] = console.get_style(style)
                yield Segment(text, found)
            if plain:
                yield Segment("".join(plain))
            yield newline


def _as_text(lines: list[list[Fragment]]) -> Text:
    """The lines as one ``Text`` with a span per styled fragment."""
    parts: list[str] = []
    spans: list[Span] = []
    offset = 0
    for line in lines:
        for text, style in line:
            if style:
                spans.append(Span(offset, offset + len(text), style))
            offset += len(text)
            parts.append(text)
        parts.append("\n")
        offset += 1
    return Text("".join(parts[:-1]), no_wrap=True, overflow="ellipsis", end="\n", spans=spans)


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
        if step.reused:
            row.append(plain("reused"))  # its outputs were taken from the store, not computed
        else:
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
