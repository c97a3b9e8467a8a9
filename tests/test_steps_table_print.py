"""``reprolam show``'s trace table prints its lines as they are (``StyledLines``), exactly
what rich prints for one ``Text`` of the same lines and spans, colours included."""

from __future__ import annotations

import io

import pytest
from rich.console import Console, ConsoleRenderable
from rich.text import Text

from reprolam.cli.steps_table import (
    Cell,
    Column,
    StyledLines,
    _as_text,
    plain,
    render_table,
)

COLUMNS = [
    Column("#", right=True, min_width=2, give=4),
    Column("action", max_width=15, min_width=6, give=2),
    Column("status", min_width=1, give=3),
    Column("params", min_width=12, give=1),
]


def row(index: int, action: str, status: Cell, *params: str) -> list[Cell]:
    return [plain(str(index)), plain(action), status, plain(*params) or plain("-")]


ROWS = [
    row(0, "load", ((("✓", "green"),),), "n=5", 'name="데이터 세트"'),
    row(1, "a-very-long-action-name", ((("✗ failed", "red"), (" (recovers 0)", "cyan")),)),
    row(
        2, "fit", ((("✓", "green"), (" (inh.)", "dim")),), "grid=[1,2,3]", "C=0.5", "x=" + "y" * 90
    ),
    row(3, "trailing", ((("… started", "magenta"), ("   ", "dim")),)),
]


def printed(renderable: ConsoleRenderable, *, width: int, color: bool) -> str:
    console = Console(
        file=io.StringIO(),
        width=width,
        force_terminal=color,
        color_system="truecolor" if color else None,
    )
    console.print(renderable, soft_wrap=True)
    out = console.file.getvalue()  # type: ignore[attr-defined]
    assert isinstance(out, str)
    return out


@pytest.mark.parametrize("width", [20, 40, 60, 80, 200])
@pytest.mark.parametrize("color", [False, True])
def test_styled_lines_print_as_the_text_of_the_same_lines(width: int, color: bool) -> None:
    table, cut = render_table(COLUMNS, ROWS, width)
    assert isinstance(table, StyledLines)
    assert cut  # the long action name is cut at any width (its column's maximum)
    expected = printed(_as_text(table.lines), width=width, color=color)
    assert printed(table, width=width, color=color) == expected
    if width == 200:
        assert '"데이터 세트"' in expected  # wide characters, whole when there is room
    if color:
        assert "\x1b[32m✓\x1b[0m" in expected
    for line in expected.splitlines():
        assert line == line.rstrip()


def test_a_table_with_control_characters_is_printed_through_rich_text() -> None:
    # rich's Text drops some control characters and expands tabs: such tables take it.
    rows = [row(0, "bell\x07", ((("✓", "green"),),), "tab=\tx")]
    table, _ = render_table(COLUMNS, rows, 80)
    assert isinstance(table, Text)
    out = printed(table, width=80, color=False)
    assert "\x07" not in out
    assert "\t" not in out
    assert "bell" in out
