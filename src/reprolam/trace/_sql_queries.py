"""Runs lists, annotations and the metric index, shared by both SQL backends.

Only the placeholder and a few expressions differ (``queries.Dialect``). A page costs four
indexed queries whatever the store's size: the page of ids (on the creation-order index,
or the tag/metric indexes), the count, then the records, step counts, metrics and tags of
those ids only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from reprolam.trace import _rows
from reprolam.trace.field_kinds import LATEST, shown
from reprolam.trace.queries import (
    Annotation,
    Dialect,
    RunPage,
    RunQuery,
    RunRow,
    build_run_query,
    check_annotation,
)
from reprolam.trace.records import FINISHED, RunRecord

_TAG_INSERT = (
    "INSERT INTO annotations (run_id, kind, value, created_at) VALUES ({p}, {p}, {p}, {p}) "
    "ON CONFLICT DO NOTHING"
)
_METRIC_UPSERT = (
    "INSERT INTO run_metrics (run_id, name, value) VALUES ({p}, {p}, {p}) "
    "ON CONFLICT (run_id, name) DO UPDATE SET value = excluded.value"
)
# A run's index goes when its record changes (it ended, or was resumed): indexed again.
METRICS_DELETE = "DELETE FROM run_metrics WHERE run_id = {p}"
_FINISHED = ", ".join(sorted(f"'{status.value}'" for status in FINISHED))
NO_METRICS = ""  # the run_metrics name that marks a run indexed without numeric metrics


class SqlRunQueries:
    """Mixed into a SQL ``TraceStore`` having ``_all``, ``_write``, ``_runs_by_id``, ``DIALECT``."""

    DIALECT: ClassVar[Dialect]
    location: str

    def _all(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        raise NotImplementedError

    def _write(self, statements: Sequence[tuple[str, Sequence[tuple[Any, ...]]]]) -> None:
        """Run ``(sql, rows)`` pairs (executemany) in one transaction."""
        raise NotImplementedError

    def _runs_by_id(self, ids: Sequence[str]) -> dict[str, RunRecord]:
        raise NotImplementedError

    def _step_counts(self, ids: Sequence[str], bases: dict[str, int]) -> dict[str, int]:
        raise NotImplementedError  # SqlSnapshots

    def _in(self, ids: Sequence[str]) -> str:
        return ", ".join([self.DIALECT.param] * len(ids))

    def query_runs(self, query: RunQuery) -> RunPage:
        page_sql, page_params, count_sql, count_params = build_run_query(query, self.DIALECT)
        ids = [run_id for (run_id,) in self._all(page_sql, tuple(page_params))]
        ((total,),) = self._all(count_sql, tuple(count_params))
        if not ids:
            return RunPage([], int(total), query)
        runs = self._runs_by_id(ids)
        marks = self._in(ids)
        inherited = {r.id: r.fork_index or 0 for r in runs.values() if r.parent_id}
        counts = self._step_counts(ids, inherited)
        metrics: dict[str, dict[str, float]] = {}
        for run_id, name, value in self._all(
            f"SELECT run_id, name, value FROM run_metrics WHERE run_id IN ({marks}) "
            "ORDER BY run_id, name",
            tuple(ids),
        ):
            held = metrics.setdefault(run_id, {})  # present, even empty: the run is indexed
            if type(value) in (int, float):  # (text or a blob: edited, left out; audit says so)
                held[name] = float(value)
        tags: dict[str, list[str]] = {}
        for run_id, value in self._all(
            f"SELECT run_id, value FROM annotations WHERE kind = 'tag' AND run_id IN ({marks}) "
            "ORDER BY run_id, created_at, value",
            tuple(ids),
        ):
            tags.setdefault(run_id, []).append(_text(value))
        rows = []
        for run_id in ids:
            rows.append(
                RunRow(
                    runs[run_id],
                    counts[run_id],
                    metrics.get(run_id, {}),
                    tags.get(run_id, []),
                    indexed=run_id in metrics,
                )
            )
        return RunPage(rows, int(total), query)

    def add_annotations(self, annotations: Sequence[Annotation]) -> None:
        rows = [
            (a.run_id, a.kind, check_annotation(a.kind, a.value), float(a.created_at))
            for a in annotations
        ]
        known = set(self._runs_by_id(sorted({r[0] for r in rows}))) if rows else set()
        for row in rows:
            if row[0] not in known:
                raise _rows.no_run_error(row[0], self.location)
        self._write([(_TAG_INSERT.format(p=self.DIALECT.param), rows)])

    def annotations(self, run_id: str) -> list[Annotation]:
        p = self.DIALECT.param
        found = self._all(
            f"SELECT run_id, kind, value, created_at FROM annotations WHERE run_id = {p} "
            "ORDER BY created_at, kind, value",
            (run_id,),
        )
        return [_annotation(*row) for row in found]

    def put_metrics(self, run_id: str, metrics: Mapping[str, float]) -> None:
        if not self._runs_by_id([run_id]):
            raise _rows.no_run_error(run_id, self.location)
        p = self.DIALECT.param
        rows: list[tuple[Any, ...]] = [(run_id, n, float(v)) for n, v in metrics.items()]
        self._write(
            [
                (METRICS_DELETE.format(p=p), [(run_id,)]),
                (_METRIC_UPSERT.format(p=p), rows or [(run_id, NO_METRICS, None)]),
            ]
        )

    def runs_without_metrics(self, *, limit: int) -> list[str]:
        p = self.DIALECT.param
        found = self._all(
            f"SELECT id FROM runs WHERE status IN ({_FINISHED}) AND NOT EXISTS "
            "(SELECT 1 FROM run_metrics m WHERE m.run_id = runs.id) "
            f"ORDER BY {self.DIALECT.created} DESC, id DESC LIMIT {p}",
            (max(limit, 0),),
        )
        return [run_id for (run_id,) in found]


def _annotation(run_id: str, kind: Any, value: Any, created_at: Any) -> Annotation:
    """An annotation row as a record; a value of another kind than reprolam writes (edited
    outside it: annotations are not hashed, anyone with the store may write them) is shown
    as what it is rather than breaking the page or list that shows it."""
    if type(created_at) not in (int, float) or not 0 <= created_at < LATEST:
        created_at = 0.0
    return Annotation(run_id, _text(kind), _text(value), float(created_at))


def _text(value: Any) -> str:
    return value if type(value) is str else f"({shown(value)})"
