"""A sweep's picture: the headline metric against each swept param (one panel per param).

matplotlib is optional (``reprolam[experiment]``) and imported only here, drawn on the Agg
canvas without pyplot so no global backend state changes in the caller's process.
"""

from __future__ import annotations

import os
from typing import Any

from reprolam.errors import ConfigError
from reprolam.history.sweep import SweepResult


def plot_sweep(result: SweepResult, path: str | os.PathLike[str]) -> None:
    """Write a PNG of ``result``'s headline metric against each swept param."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ConfigError(
            "plotting a sweep needs matplotlib: pip install 'reprolam[experiment]'"
        ) from None
    metric = result.headline()
    targets = result.targets
    figure = Figure(figsize=(4.2 * max(1, len(targets)), 3.4), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, max(1, len(targets)), squeeze=False)[0]
    for ax, target in zip(axes, targets, strict=False):
        points = plotted(result, target)
        xs = [x for x, _ in points]
        ys = [y for _, y in points]
        numeric = all(isinstance(x, int | float) and not isinstance(x, bool) for x in xs)
        if numeric:
            ax.scatter(xs, ys, color="#0072b2")
            positive = all(x > 0 for x in xs)
            if positive and xs and max(xs) / min(xs) >= 100:
                ax.set_xscale("log")
        else:
            labels = sorted({str(x) for x in xs})
            ax.scatter([labels.index(str(x)) for x in xs], ys, color="#0072b2")
            ax.set_xticks(range(len(labels)), labels)
            ax.margins(x=0.25)
        ax.set_xlabel(target)
        ax.set_ylabel(metric or "metric")
        ax.grid(alpha=0.3)
    figure.suptitle(f"sweep {result.id[:13]} of {result.parent[:13]}", fontsize=9)
    figure.savefig(path, dpi=100)


def plotted(result: SweepResult, target: str) -> list[tuple[Any, float]]:
    """The (swept value, headline metric) pairs drawn for ``target``: those of the points
    whose fork succeeded, as ``best()`` reads them (a fork that failed after its metrics
    step is no result)."""
    metric = result.headline() or ""
    points: list[tuple[Any, float]] = []
    for p in result.points:
        y = (p.metrics or {}).get(metric)
        failed = p.run is not None and not p.succeeded
        if isinstance(y, int | float) and target in p.values and not failed:
            points.append((p.values[target], float(y)))
    return points
