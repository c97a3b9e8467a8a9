"""One line per figure, next to its target and the baseline measured in the same run.

Each benchmark calls ``figure(...)``: the line is printed at once and kept, so ``run.py``
can print every figure again at the end as a table (``--markdown``: the rows of
BENCHMARKS.md's table, ready to paste).
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    name: str
    measured: str
    target: str
    baseline: str
    verdict: str
    reproduce: str
    issue21: bool  # one of issue 21's targets (listed first)


FIGURES: list[Figure] = []


def verdict(met: bool | None) -> str:
    return "reported" if met is None else "met" if met else "MISSED"


def figure(
    name: str,
    measured: str,
    *,
    target: str = "reported",
    baseline: str = "",
    met: bool | None = None,
    reproduce: str = "",
    issue21: bool = False,
    echo: bool = True,
) -> Figure:
    """Print one figure line (unless ``echo`` is off) and keep it for the summary."""
    fig = Figure(name, measured, target, baseline, verdict(met), reproduce, issue21)
    FIGURES.append(fig)
    tail = f"   baseline: {baseline}" if baseline else ""
    if echo:
        print(f"  {name}: {measured}   target {target}: {fig.verdict}{tail}")
    return fig


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms" if seconds >= 0.01 else f"{seconds * 1e3:.2f} ms"


def us(seconds: float) -> str:
    return f"{seconds * 1e6:.1f} µs"


def load() -> str:
    """The 1/5/15-minute load averages (what else was running while we measured)."""
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "unknown"
    return f"{one:.1f} / {five:.1f} / {fifteen:.1f}"


def summary(*, markdown: bool) -> str:
    """Every figure kept so far, issue 21's first."""
    ordered = [f for f in FIGURES if f.issue21] + [f for f in FIGURES if not f.issue21]
    if markdown:
        head = [
            "| figure | measured | target | baseline in the same run | verdict | reproduce |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        rows = [
            f"| {f.name} | {f.measured} | {f.target} | {f.baseline} | {f.verdict} | "
            + (f"`{f.reproduce}`" if f.reproduce else "")
            + " |"
            for f in ordered
        ]
        return "\n".join(head + rows)
    lines = []
    for f in ordered:
        lines.append(f"{f.verdict:<8}  {f.name}")
        lines.append(f"{'':10}measured {f.measured}; target {f.target}")
        if f.baseline:
            lines.append(f"{'':10}baseline (same run): {f.baseline}")
    return "\n".join(lines)
