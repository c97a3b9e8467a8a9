"""A metric against a parameter, drawn as SVG on the server (no JavaScript plotting library).

Every piece of text goes through ``escape``; the markup is built here from numbers and
escaped strings only, so it is safe to embed in a page.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from xml.sax.saxutils import escape, quoteattr

W, H = 560, 320
LEFT, RIGHT, TOP, BOTTOM = 70, 20, 20, 50


def _numeric(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if lo == hi:
        return [lo]
    return [lo + (hi - lo) * i / (n - 1) for i in range(n)]


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def scatter_svg(points: Sequence[tuple[object, object, str]], *, x_label: str, y_label: str) -> str:
    """``(x, y, run_id)`` points; x may be categorical (strings are spread evenly)."""
    ys = [(_numeric(y), x, run) for x, y, run in points]
    kept = [(x, y, run) for y, x, run in ys if y is not None]
    if not kept:
        return ""
    numeric_x = all(_numeric(x) is not None for x, _, _ in kept)
    log_x = False
    if numeric_x:
        xs = [float(x) for x, _, _ in kept]  # type: ignore[arg-type]
        labels = None
        # A sweep over orders of magnitude (C = 0.01 .. 100) reads on a log axis.
        log_x = min(xs) > 0 and max(xs) / min(xs) >= 100
        if log_x:
            xs = [math.log10(x) for x in xs]
            x_label = f"{x_label} (log)"
    else:
        categories = sorted({str(x) for x, _, _ in kept})
        xs = [float(categories.index(str(x))) for x, _, _ in kept]
        labels = categories
    yv = [float(y) for _, y, _ in kept]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(yv), max(yv)
    if x0 == x1:
        x0, x1 = x0 - 1, x1 + 1
    if y0 == y1:
        pad = abs(y0) * 0.05 or 1.0
        y0, y1 = y0 - pad, y1 + pad
    x_pad, y_pad = (x1 - x0) * 0.06, (y1 - y0) * 0.08  # points off the frame
    x0, x1, y0, y1 = x0 - x_pad, x1 + x_pad, y0 - y_pad, y1 + y_pad

    def px(x: float) -> float:
        return LEFT + (x - x0) / (x1 - x0) * (W - LEFT - RIGHT)

    def py(y: float) -> float:
        return H - BOTTOM - (y - y0) / (y1 - y0) * (H - TOP - BOTTOM)

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="plot" width="{W}" height="{H}" '
        f'viewBox="0 0 {W} {H}" role="img">',
        f"<title>{escape(y_label)} against {escape(x_label)}</title>",
        f'<rect x="{LEFT}" y="{TOP}" width="{W - LEFT - RIGHT}" height="{H - TOP - BOTTOM}" '
        'fill="#fafafa" stroke="#bbbbbb"/>',
    ]
    for t in _ticks(y0 + y_pad, y1 - y_pad):
        out.append(
            f'<text x="{LEFT - 6}" y="{py(t) + 4:.1f}" font-size="11" text-anchor="end">'
            f"{escape(_fmt(t))}</text>"
        )
    if labels is None:
        for t in _ticks(x0 + x_pad, x1 - x_pad):
            shown = 10**t if log_x else t
            out.append(
                f'<text x="{px(t):.1f}" y="{H - BOTTOM + 16}" font-size="11" '
                f'text-anchor="middle">{escape(_fmt(shown))}</text>'
            )
    else:
        for i, label in enumerate(labels):
            out.append(
                f'<text x="{px(float(i)):.1f}" y="{H - BOTTOM + 16}" font-size="11" '
                f'text-anchor="middle">{escape(label[:20])}</text>'
            )
    out.append(
        f'<text x="{(LEFT + W - RIGHT) / 2:.0f}" y="{H - 10}" font-size="12" '
        f'text-anchor="middle">{escape(x_label)}</text>'
    )
    out.append(
        f'<text x="14" y="{(TOP + H - BOTTOM) / 2:.0f}" font-size="12" text-anchor="middle" '
        f'transform="rotate(-90 14 {(TOP + H - BOTTOM) / 2:.0f})">{escape(y_label)}</text>'
    )
    for x, y, (_, _, run) in zip(xs, yv, kept, strict=True):
        out.append(
            f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="5" fill="#1565c0" '
            f'fill-opacity="0.75" data-run={quoteattr(run)}>'
            f"<title>{escape(run)}: {escape(_fmt(y))}</title></circle>"
        )
    out.append("</svg>")
    return "\n".join(out)
