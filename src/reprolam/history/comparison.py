"""Several runs side by side: their params and headline metrics in one table.

Each run becomes one row: seed, planner, every executed action's params (``action.param``,
the last successful execution's value) and its headline metrics. Columns whose values differ
between the runs are the ones worth looking at; ``differing`` names them. Each run's record is
verified as replay verifies it; ``unverified`` names those that do not.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from reprolam.brief import value_words
from reprolam.errors import ConfigError
from reprolam.hashing import canonical_json
from reprolam.history.annotate import headline_metrics
from reprolam.history.record_check import unverified
from reprolam.trace.contract import TraceStore
from reprolam.trace.records import RunRecord, StepKind, StepStatus

MAX_RUNS = 200


@dataclass(frozen=True, slots=True)
class RunComparison:
    runs: list[RunRecord]
    params: list[str]  # column names: seed, planner, action.param, ...
    metrics: list[str]
    values: list[dict[str, Any]]  # per run: column -> value (params and metrics)
    # run id -> why its record does not verify (its row may not be what it recorded)
    unverified: dict[str, str] = field(default_factory=dict)

    @property
    def differing(self) -> set[str]:
        """Columns whose value is not the same in every run."""
        return {
            col
            for col in (*self.params, *self.metrics)
            if len({canonical_json(v.get(col)) for v in self.values}) > 1
        }

    def rows(self) -> list[list[Any]]:
        return [
            [run.id, *(v.get(c) for c in (*self.params, *self.metrics))]
            for run, v in zip(self.runs, self.values, strict=True)
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "runs": [r.id for r in self.runs],
            "params": self.params,
            "metrics": self.metrics,
            "differing": sorted(self.differing),
            "rows": [{"run": run.id, **v} for run, v in zip(self.runs, self.values, strict=True)],
            "unverified": self.unverified,
        }

    def to_csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["run", *self.params, *self.metrics])
        for row in self.rows():
            writer.writerow(
                [
                    ""
                    if v is None
                    else v
                    if isinstance(v, str | int | float)
                    else canonical_json(v)
                    for v in row
                ]
            )
        return out.getvalue()

    def __repr__(self) -> str:
        differing = ", ".join(sorted(self.differing)) or "nothing"
        return f"<RunComparison of {len(self.runs)} runs; differing: {differing}>"

    def __str__(self) -> str:
        """One line per run: ``run=<id> seed=0 ... metrics.accuracy=0.97``."""
        columns = ("run", *self.params, *self.metrics)
        return "\n".join(
            " ".join(f"{c}={value_words(v)}" for c, v in zip(columns, row, strict=True))
            for row in self.rows()
        )

    def _repr_html_(self) -> str:
        from reprolam.notebook import comparison_html

        return comparison_html(self)


def run_params(store: TraceStore, run: RunRecord) -> dict[str, Any]:
    """seed, planner and ``action.param`` -> value from the run's successful action steps."""
    values: dict[str, Any] = {"seed": run.seed, "planner": run.planner.get("name")}
    for step in store.steps(run.id):
        if step.kind is StepKind.ACTION and step.status is StepStatus.SUCCEEDED:
            for name, value in step.params.items():
                values[f"{step.action}.{name}"] = value
    return values


def compare_runs(store: TraceStore, run_refs: Sequence[str]) -> RunComparison:
    """Compare runs (full ids or unique prefixes), in the order given."""
    if not run_refs:
        raise ConfigError("nothing to compare: name at least one run")
    if len(run_refs) > MAX_RUNS:
        raise ConfigError(f"{len(run_refs)} runs is too many to compare: name at most {MAX_RUNS}")
    runs = [store.get_run(store.resolve_run_id(ref)) for ref in run_refs]
    params: dict[str, None] = {}
    metrics: dict[str, None] = {}
    values = []
    for run in runs:
        row = run_params(store, run)
        params.update(dict.fromkeys(row))
        found = headline_metrics(store, run) or {}
        metrics.update(dict.fromkeys(found))
        values.append({**row, **{f"metrics.{k}": v for k, v in found.items()}})
    columns = [f"metrics.{k}" for k in metrics]
    return RunComparison(runs, list(params), columns, values, unverified(store, runs))
