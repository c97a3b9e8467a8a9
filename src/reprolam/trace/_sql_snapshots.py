"""Run-state snapshots (``trace.snapshot``) and step ranges, shared by both SQL backends."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

from reprolam.trace.queries import Dialect
from reprolam.trace.snapshot import StateSnapshot

SNAPSHOT_UPSERT = (
    "INSERT INTO run_snapshots (run_id, steps, head, state) VALUES ({p}, {p}, {p}, {p}) "
    "ON CONFLICT (run_id, steps) DO UPDATE SET head = excluded.head, state = excluded.state"
)


def snapshot_rows(snapshots: Sequence[StateSnapshot]) -> list[tuple[Any, ...]]:
    return [(s.run_id, s.steps, s.head, s.to_json()) for s in snapshots]


class SqlSnapshots:
    """Mixed into a SQL ``TraceStore`` having ``_all``, ``_write`` and ``DIALECT``."""

    DIALECT: ClassVar[Dialect]

    def _all(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        raise NotImplementedError

    def _write(self, statements: Sequence[tuple[str, Sequence[tuple[Any, ...]]]]) -> None:
        raise NotImplementedError

    def put_snapshots(self, snapshots: Sequence[StateSnapshot]) -> None:
        rows = snapshot_rows(snapshots)
        if rows:
            self._write([(SNAPSHOT_UPSERT.format(p=self.DIALECT.param), rows)])

    def snapshot_at(self, run_id: str, *, at_most: int | None = None) -> StateSnapshot | None:
        p = self.DIALECT.param
        limit = 2**62 if at_most is None else at_most
        rows = self._all(
            f"SELECT steps, head, state FROM run_snapshots WHERE run_id = {p} AND steps <= {p} "
            "ORDER BY steps DESC LIMIT 1",
            (run_id, limit),
        )
        return StateSnapshot.from_row(run_id, *rows[0]) if rows else None

    def snapshots(self, run_id: str) -> list[StateSnapshot]:
        p = self.DIALECT.param
        rows = self._all(
            f"SELECT steps, head, state FROM run_snapshots WHERE run_id = {p} ORDER BY steps",
            (run_id,),
        )
        return [StateSnapshot.from_row(run_id, *row) for row in rows]

    def _step_counts(self, ids: Sequence[str], bases: dict[str, int]) -> dict[str, int]:
        """Whole-trace step counts of these runs (``bases``: a fork's inherited prefix): the
        last own step's index + 1, read on the key (one index seek per run, whatever the
        run's length). Not from run-state snapshots: derived data an edit could make say
        500 steps for a run of 5, which a list would show as they are."""
        p = self.DIALECT.param
        last = " UNION ALL ".join(
            f"SELECT {p}, max(idx) FROM steps WHERE run_id = {p}" for _ in ids
        )
        params = tuple(v for run_id in ids for v in (run_id, run_id))
        ends = {run_id: self._end(run_id, top) for run_id, top in self._all(last, params)}
        return {run_id: max(bases.get(run_id, 0), ends.get(run_id, -1) + 1) for run_id in ids}

    def _end(self, run_id: str, top: Any) -> int:
        """The last step index of a run, from ``max(idx)``; an index edited to text or a blob
        (SQLite sorts them after every number) is passed over: the last numeric one counts
        (the record itself reads as damaged)."""
        if top is None or type(top) is int:
            return -1 if top is None else top
        if type(top) is float and math.isfinite(top):
            return int(top)
        p = self.DIALECT.param
        (found,) = self._all(
            f"SELECT max(idx) FROM steps WHERE run_id = {p} AND idx <= {p}", (run_id, 2**62)
        )
        return int(found[0]) if type(found[0]) in (int, float) else -1
