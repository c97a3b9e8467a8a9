"""Jupyter display: results as HTML tables, a trace as SVG.

The result classes have thin ``_repr_html_`` / ``_repr_svg_`` methods that call these
functions, so a notebook cell ending in ``rl.run(...)``, ``rl.diff(...)``, ``rl.audit(...)``
or a comparison shows a table instead of a dataclass repr. Every value is escaped: a
param or an error message holding markup shows as text.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from reprolam.brief import number_words, visible
from reprolam.hashing import canonical_json, short

if TYPE_CHECKING:
    import os

    from reprolam.client import Client, RunView
    from reprolam.engine.loop import RunResult
    from reprolam.history.audit import AuditReport
    from reprolam.history.comparison import RunComparison
    from reprolam.history.diff import RunDiff
    from reprolam.history.reproduce import ReproduceResult
    from reprolam.history.sweep import SweepResult
    from reprolam.trace.contract import TraceStore
    from reprolam.trace.records import RunRecord, StepRecord

_STYLE = "border-collapse:collapse;font-family:monospace;font-size:12px"
_CELL = "border:1px solid #ddd;padding:2px 6px;text-align:left;vertical-align:top"
_HI = "background:#fff4c2;"
MAX_CELL = 1000  # characters of one value shown; the record keeps it whole
_COLORS = {"succeeded": "#2e7d32", "failed": "#c62828", "rejected": "#ef6c00"}


def esc(value: Any) -> str:
    """HTML-escaped text with control characters (ANSI escapes) written out visibly, cut at
    ``MAX_CELL`` characters."""
    text = value if isinstance(value, str) else _brief(value)
    if len(text) > MAX_CELL:  # a 5 MB param was a 5 MB cell output, saved in the notebook
        text = text[: MAX_CELL - 1] + "…"
    text = visible(text)
    return html.escape(text, quote=True)


def _brief(value: Any) -> str:
    if isinstance(value, float):  # as `reprolam show` words it: a loss of 1e-07 is not 0.0000
        return number_words(value)
    if isinstance(value, str) and len(value) == 64:
        return short(value)
    if value is None:
        return "-"
    try:
        return canonical_json(value)
    except (TypeError, ValueError):
        return repr(value)


def table(
    header: Sequence[str], rows: Iterable[Sequence[Any]], *, highlight: Iterable[str] = ()
) -> str:
    marked = set(highlight)
    head = "".join(
        f'<th style="{_CELL};{_HI if h in marked else ""}">{esc(h)}</th>' for h in header
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td style="{_CELL};{_HI if h in marked else ""}">{esc(v)}</td>'
            for h, v in zip(header, row, strict=False)
        )
        + "</tr>"
        for row in rows
    )
    return f'<table style="{_STYLE}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _status(value: str) -> str:
    color = _COLORS.get(value, "#00838f")
    return f'<span style="color:{color};font-weight:bold">{esc(value)}</span>'


def _run_header(run: RunRecord, n_steps: int) -> str:
    parts = [
        f"<b>run</b> <code>{esc(run.id)}</code> {_status(run.status.value)}",
        f"{esc(run.workflow)}, seed {esc(run.seed)}, planner {esc(run.planner.get('name', '?'))},"
        f" {n_steps} steps",
    ]
    if run.parent_id:
        parts.append(f"fork of <code>{esc(run.parent_id)}</code> at step {run.fork_index}")
    if run.error:
        parts.append(f'<span style="color:#c62828">{esc(run.error)}</span>')
    return "<div>" + "<br>".join(parts) + "</div>"


def _steps_table(steps: Sequence[StepRecord]) -> str:
    return table(
        ["#", "action", "status", "params", "outputs", "seed", "ms"],
        (
            [
                s.index,
                s.action,
                s.status.value,
                s.params,
                " ".join(f"{n}={short(d)}" for n, d in s.outputs.items()),
                s.seed,
                _took(s),
            ]
            for s in steps
        ),
    )


def _took(step: StepRecord) -> str:
    """The ms column as ``reprolam show`` words it: 'reused' for outputs taken from a
    recorded step (``--reuse``), else the duration."""
    if step.reused:
        return "reused"
    return "-" if step.duration is None else f"{step.duration * 1000:.1f}"


def run_result_html(result: RunResult) -> str:
    from reprolam.codecs import describe

    outputs = table(
        ["output", "value"], ([name, describe(v)] for name, v in result.outputs.items())
    )
    return _run_header(result.run, len(result.steps)) + _steps_table(result.steps) + outputs


def run_view_html(view: RunView) -> str:
    metrics = table(["metric", "value"], (view.metrics or {}).items()) if view.metrics else ""
    return _run_header(view.run, len(view.steps)) + _steps_table(view.steps) + metrics


def diff_html(diff: RunDiff) -> str:
    rows = (
        [
            s.index,
            s.action_a,
            s.action_b,
            "; ".join(f"{k}: {_brief(a)} -> {_brief(b)}" for k, (a, b) in s.changes.items()),
        ]
        for s in diff.steps
        if not s.shared
    )
    metrics = table(["metric", "a", "b"], ([k, a, b] for k, (a, b) in diff.metrics.items()))
    return (
        f"<div><b>a</b> <code>{esc(diff.a.id)}</code><br><b>b</b> <code>{esc(diff.b.id)}</code>"
        f"<br>{esc(diff.relation)}; shared history: {diff.shared_steps} steps</div>"
        + table(["#", "a", "b", "differences"], rows)
        + (metrics if diff.metrics else "")
        + _unverified_html(diff.unverified)
    )


def audit_html(report: AuditReport) -> str:
    checks = table(
        ["check", "result", "what was checked and found"],
        (
            [name, "ok" if c["ok"] else f"{c['problems']} problem(s)", c["summary"]]
            for name, c in report.checks().items()
        ),
    )
    verdict = "audit clean" if report.clean else f"{len(report.problems)} problem(s)"
    problems = "".join(f"<li>{esc(p.kind)}: {esc(p.message)}</li>" for p in report.problems)
    return (
        f"<div><b>audit of</b> <code>{esc(report.run.id)}</code>: {esc(verdict)}; "
        f"reproducibility {esc(report.reproducibility)}</div>"
        + checks
        + (f"<ul>{problems}</ul>" if problems else "")
    )


def reproduce_html(result: ReproduceResult) -> str:
    color = "#2e7d32" if result.reproduced else "#c62828"
    return f'<div style="color:{color}"><b>{esc(result.summary())}</b></div>'


def comparison_html(comparison: RunComparison) -> str:
    return table(
        ["run", *comparison.params, *comparison.metrics],
        comparison.rows(),
        highlight=comparison.differing,
    ) + _unverified_html(comparison.unverified)


def sweep_html(result: SweepResult) -> str:
    """A sweep as the CLI's summary: one row per point, its swept values and metrics."""
    metrics = sorted({k for p in result.points for k in (p.metrics or {})})
    rows = [
        [
            p.number,
            p.run.status.value if p.run is not None else "not run",
            *(_brief(p.values.get(t)) for t in result.targets),
            *(_brief((p.metrics or {}).get(m)) for m in metrics),
            p.run.id if p.run is not None else (p.error or ""),
        ]
        for p in result.points
    ]
    best, metric = result.best(), result.headline() or ""
    said = (
        f"best: point {best.number} ({metric}={_brief((best.metrics or {}).get(metric))})"
        if best is not None
        else "no point has a numeric headline metric"
    )
    return (
        f"<p><b>sweep {esc(result.id)}</b> of {esc(result.parent)} at step {result.at}: "
        f"{result.executed} steps executed, {result.reused} reused; {esc(said)}</p>"
        + table(["point", "status", *result.targets, *metrics, "run"], rows, highlight=metrics)
    )


def _unverified_html(unverified: dict[str, str]) -> str:
    """The CLI's ``warning:`` lines for runs whose records do not verify."""
    from reprolam.history.record_check import unverified_warning

    lines = (
        f"<p><b>warning:</b> {esc(unverified_warning(r, why))}</p>" for r, why in unverified.items()
    )
    return "".join(lines)


@dataclass(frozen=True, slots=True)
class TracePicture:
    """A run's trace as SVG; shows itself in Jupyter."""

    svg: str

    def _repr_svg_(self) -> str:
        return self.svg


def trace(store: TraceStore | Client | str | os.PathLike[str], run_ref: str) -> TracePicture:
    """A run's trace picture (full id or unique prefix), as ``export`` writes it in SVG.

    ``store`` is an open store, a client (``reprolam.open``), or a path or DSN, as the
    module-level verbs take it."""
    from reprolam.client import using
    from reprolam.provenance._model import build_run_graph
    from reprolam.provenance._svg import render_svg

    with using(store, create=False) as rl:
        graph = build_run_graph(rl.store, rl.store.resolve_run_id(run_ref))
    return TracePicture(render_svg(graph))
