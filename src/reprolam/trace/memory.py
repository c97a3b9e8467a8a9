"""An in-memory trace store: the contract with nothing durable behind it (tests, dry runs).

It keeps the same flat rows the SQLite store keeps (see ``_rows``), so it round-trips
records exactly like the durable backends do and hands out fresh records on every read:
nothing a caller mutates, before or after recording, can change stored history.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from reprolam.hashing import digest as hash_bytes
from reprolam.trace import _rows, queries
from reprolam.trace.contract import Producer, TraceStore, cached_pages
from reprolam.trace.queries import Annotation, RunPage, RunQuery, RunRow
from reprolam.trace.records import FINISHED, ArtifactRecord, RunRecord, StepRecord
from reprolam.trace.snapshot import StateSnapshot


class MemoryStore(TraceStore):
    """Dict-backed ``TraceStore``; thread-safe; gone when the process ends."""

    def __init__(self) -> None:
        self.location = "memory:"
        self._lock = threading.Lock()
        self._closed = False
        self._runs: dict[str, tuple[Any, ...]] = {}
        self._steps: dict[str, dict[int, tuple[Any, ...]]] = {}
        self._artifacts: dict[str, tuple[str, int, bytes]] = {}  # digest -> codec, size, bytes
        self._producers: dict[str, _rows.ProducerRow] = {}  # digest -> its first producer
        self._annotations: dict[str, list[Annotation]] = {}
        self._metrics: dict[str, dict[str, float]] = {}  # run id -> indexed metrics
        # cache key row values -> the succeeded action steps with them, sorted (find_cached_steps)
        self._cached: dict[tuple[Any, ...], list[tuple[str, int]]] = {}
        self._snapshots: dict[str, dict[int, tuple[str, str]]] = {}  # run -> steps -> head, state

    def __repr__(self) -> str:
        return f"MemoryStore({len(self._runs)} runs)"

    def _check_open(self) -> None:
        if self._closed:
            raise _rows.closed_error(self.location)

    # -- writes -------------------------------------------------------------------------------

    def create_run(self, run: RunRecord) -> None:
        row = _rows.run_to_row(run)
        with self._lock:
            self._check_open()
            if run.id in self._runs:
                raise _rows.run_exists_error(run.id, self.location)
            if run.parent_id is not None and run.parent_id not in self._runs:
                raise _rows.no_parent_error(run, self.location)
            self._runs[run.id] = row

    def record(
        self,
        *,
        steps: Sequence[StepRecord] = (),
        artifacts: Sequence[tuple[ArtifactRecord, bytes]] = (),
        run: RunRecord | None = None,
    ) -> None:
        # the engine's rows are rendered already (step_to_row's first case, inline: per step)
        step_rows = [
            row if (row := s.rendered) is not None else _rows.step_to_row(s) for s in steps
        ]
        run_row = _rows.run_to_row(run) if run is not None else None
        new_artifacts = {
            a.digest: (a.codec, a.size, _rows.artifact_bytes(a, data)) for a, data in artifacts
        }
        with self._lock:
            self._check_open()
            # Validate everything first, then apply: a failing call leaves nothing behind.
            if run_row is not None and run_row[0] not in self._runs:
                raise _rows.no_run_for_update_error(run_row[0], self.location)
            for step in steps:
                if step.run_id not in self._runs:
                    raise _rows.no_run_for_step_error(step, self.location)
            for d, stored in new_artifacts.items():
                self._artifacts.setdefault(d, stored)
            if new_artifacts:
                # the first step of the call that outputs an artifact, unless one is known:
                # kept as the row SQL keeps (a Producer is built when asked for)
                for d, row in _rows.producers(steps).items():
                    if d in new_artifacts:
                        self._producers.setdefault(d, row)
            for row in step_rows:
                self._steps.setdefault(row[0], {})[row[1]] = row
                if row[2] == "action" and row[4] == "succeeded":
                    held = self._cached.setdefault(_cache_key_of(row), [])
                    where = bisect.bisect_left(held, (row[0], row[1]))
                    if held[where : where + 1] != [(row[0], row[1])]:  # not a re-record
                        held.insert(where, (row[0], row[1]))
            if run_row is not None:
                self._runs[run_row[0]] = run_row
                self._metrics.pop(run_row[0], None)  # its record changed: indexed again

    # -- reads --------------------------------------------------------------------------------

    def get_run(self, run_id: str) -> RunRecord:
        with self._lock:
            self._check_open()
            row = self._runs.get(run_id)
        if row is None:
            raise _rows.no_run_error(run_id, self.location)
        return _rows.run_from_row(row)

    def find_run_ids(self, prefix: str, *, limit: int = 2) -> list[str]:
        with self._lock:
            self._check_open()
            ids = sorted(i for i in self._runs if i.startswith(prefix))
        return ids[: max(limit, 0)]

    def list_runs(
        self, *, limit: int | None = None, verifies: str | None = None
    ) -> list[RunRecord]:
        with self._lock:
            self._check_open()
            rows = sorted(self._runs.values(), key=lambda r: (r[3], r[0]), reverse=True)
        if verifies is not None:
            rows = [r for r in rows if r[16] == verifies]
        if limit is not None:
            rows = rows[: max(limit, 0)]
        return [_rows.run_from_row(r) for r in rows]

    def own_steps(self, run_id: str) -> list[StepRecord]:
        with self._lock:
            self._check_open()
            if run_id not in self._runs:
                raise _rows.no_run_error(run_id, self.location)
            rows = sorted(self._steps.get(run_id, {}).items())
        return _rows.steps_from_rows(row for _, row in rows)

    def own_steps_between(self, run_id: str, start: int, stop: int | None) -> list[StepRecord]:
        return _rows.steps_from_rows(self.own_step_rows(run_id, start, stop))

    def own_step_rows(self, run_id: str, start: int, stop: int | None) -> list[tuple[Any, ...]]:
        with self._lock:
            self._check_open()
            held = self._steps.get(run_id, {})
            if stop is not None and stop - start <= len(held):  # a page of a long run
                found = [row for i in range(start, stop) if (row := held.get(i)) is not None]
            else:
                found = [r for i, r in held.items() if i >= start and (stop is None or i < stop)]
        return sorted(found, key=lambda row: row[1])  # rows are immutable: handed out as kept

    def put_snapshots(self, snapshots: Sequence[StateSnapshot]) -> None:
        rows = [(s.run_id, s.steps, s.head, s.to_json()) for s in snapshots]
        with self._lock:
            self._check_open()
            for run_id, *_ in rows:
                if run_id not in self._runs:
                    raise _rows.no_run_for_update_error(run_id, self.location)
            for run_id, steps, head, state in rows:
                self._snapshots.setdefault(run_id, {})[steps] = (head, state)

    def snapshot_at(self, run_id: str, *, at_most: int | None = None) -> StateSnapshot | None:
        with self._lock:
            self._check_open()
            held = self._snapshots.get(run_id, {})
            fit = [n for n in held if at_most is None or n <= at_most]
            found = None if not fit else (max(fit), *held[max(fit)])
        return None if found is None else StateSnapshot.from_row(run_id, *found)

    def snapshots(self, run_id: str) -> list[StateSnapshot]:
        with self._lock:
            self._check_open()
            held = sorted(self._snapshots.get(run_id, {}).items())
        return [StateSnapshot.from_row(run_id, n, head, state) for n, (head, state) in held]

    def find_cached_steps(self, probe: StepRecord) -> Iterator[StepRecord]:
        key = _cache_key_of(_rows.step_to_row(probe))

        def page(after: tuple[str, int], limit: int) -> list[StepRecord]:
            with self._lock:
                self._check_open()
                held = self._cached.get(key, [])
                start = bisect.bisect_right(held, after)
                rows = [self._steps[run][index] for run, index in held[start : start + limit]]
            return [_rows.step_from_row(row) for row in rows]

        return cached_pages(page)

    def own_step(self, run_id: str, index: int) -> StepRecord:
        with self._lock:
            self._check_open()
            if run_id not in self._runs:
                raise _rows.no_run_error(run_id, self.location)
            row = self._steps.get(run_id, {}).get(index)
        if row is None:
            raise _rows.no_step_error(run_id, index, self.location)
        return _rows.step_from_row(row)

    def get_artifact(self, digest: str) -> tuple[ArtifactRecord, bytes]:
        with self._lock:
            self._check_open()
            stored = self._artifacts.get(digest)
        if stored is None:
            raise _rows.no_artifact_error(digest, self.location)
        codec, size, data = stored
        actual = hash_bytes(data)
        if actual != digest:
            raise _rows.corrupt_artifact_error(digest, "memory", actual)
        if len(data) != size:
            raise _rows.wrong_size_error(digest, size, len(data))
        return ArtifactRecord(digest, codec, size), data

    def get_artifact_record(self, digest: str) -> ArtifactRecord:
        with self._lock:
            self._check_open()
            stored = self._artifacts.get(digest)
        if stored is None:
            raise _rows.no_artifact_error(digest, self.location)
        return ArtifactRecord(digest, stored[0], stored[1])

    def has_artifact(self, digest: str) -> bool:
        with self._lock:
            self._check_open()
            return digest in self._artifacts

    def artifact_producer(self, digest: str) -> Producer | None:
        with self._lock:
            self._check_open()
            if digest not in self._artifacts:
                raise _rows.no_artifact_error(digest, self.location)
            found = self._producers.get(digest)
        return None if found is None else Producer(*found)

    # -- beside the trace ------------------------------------------------------------------------

    def query_runs(self, query: RunQuery) -> RunPage:
        with self._lock:
            self._check_open()
            runs = [_rows.run_from_row(r) for r in self._runs.values()]
            held = self._annotations.items()
            tags = {i: {a.value for a in v if a.kind == "tag"} for i, v in held}
            metrics = {i: dict(m) for i, m in self._metrics.items()}
            counts = {i: len(s) for i, s in self._steps.items()}
        by_verified: dict[str, set[str]] = {}
        for run in runs:
            if run.verifies and run.verdict:
                by_verified.setdefault(run.verifies, set()).add(run.verdict)
        found = [
            r
            for r in runs
            if queries.matches(
                query,
                r,
                tags.get(r.id, set()),
                metrics.get(r.id, {}),
                lambda i: by_verified.get(i, set()),
            )
        ]
        found.sort(
            key=lambda r: queries.sort_key(query, r, metrics.get(r.id, {})),
            reverse=query.descending,
        )
        page = found[query.offset : query.offset + query.limit]
        rows = [
            RunRow(
                r,
                ((r.fork_index or 0) if r.parent_id else 0) + counts.get(r.id, 0),
                metrics.get(r.id, {}),
                sorted(tags.get(r.id, set()), key=self._tag_order(r.id)),
                indexed=r.id in metrics,
            )
            for r in page
        ]
        total = len(found)
        if queries.filtered(query):
            total = min(total, queries.count_cap(query) + 1)  # as the SQL backends count
        return RunPage(rows, total, query)

    def _tag_order(self, run_id: str) -> Any:
        order = {a.value: (a.created_at, a.value) for a in self._annotations.get(run_id, [])}
        return lambda tag: order[tag]

    def add_annotations(self, annotations: Sequence[Annotation]) -> None:
        checked = [
            Annotation(a.run_id, a.kind, queries.check_annotation(a.kind, a.value), a.created_at)
            for a in annotations
        ]
        with self._lock:
            self._check_open()
            for a in checked:
                if a.run_id not in self._runs:
                    raise _rows.no_run_error(a.run_id, self.location)
            for a in checked:
                held = self._annotations.setdefault(a.run_id, [])
                if a.kind == "tag" and any(h.kind == "tag" and h.value == a.value for h in held):
                    continue
                held.append(a)

    def annotations(self, run_id: str) -> list[Annotation]:
        with self._lock:
            self._check_open()
            held = list(self._annotations.get(run_id, []))
        return sorted(held, key=lambda a: (a.created_at, a.kind, a.value))

    def put_metrics(self, run_id: str, metrics: Mapping[str, float]) -> None:
        with self._lock:
            self._check_open()
            if run_id not in self._runs:
                raise _rows.no_run_error(run_id, self.location)
            self._metrics[run_id] = {str(k): float(v) for k, v in metrics.items()}

    def runs_without_metrics(self, *, limit: int) -> list[str]:
        with self._lock:
            self._check_open()
            rows = sorted(self._runs.values(), key=lambda r: (r[3], r[0]), reverse=True)
            pending = [r[0] for r in rows if r[7] in FINISHED and r[0] not in self._metrics]
        return pending[: max(limit, 0)]

    def close(self) -> None:
        with self._lock:
            self._closed = True


def _cache_key_of(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """action, version, fingerprint, params, inputs, seed of a step row (see _rows)."""
    return (row[3], row[6], row[7], row[8], row[9], row[11])
