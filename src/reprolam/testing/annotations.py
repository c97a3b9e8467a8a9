"""Conformance: runs lists (``query_runs``), annotations and the metric index, every backend.

Part of the suite ``reprolam.testing`` ships (see its docstring): these classes take the
same ``store`` fixture as the rest.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from reprolam.errors import ConfigError, NotFoundError
from reprolam.testing.conformance import T0, chain, make_run
from reprolam.trace import RunStatus, TraceStore
from reprolam.trace.queries import Annotation, RunQuery


def _ids(store: TraceStore, **query: object) -> list[str]:
    return [row.run.id for row in store.query_runs(RunQuery(**query)).rows]  # type: ignore[arg-type]


def _five_runs(store: TraceStore) -> None:
    """r0..r4 created in order; r3 forks r1 at step 1; r4 reproduces r0 (identical)."""
    for i in range(3):
        fields = {
            "seed": i,
            "created_at": T0 + i,
            "workflow": "wf" if i < 2 else "other",
            "planner": {"name": "rules" if i else "llm"},
        }
        chain(store, f"r{i}", 2 if i == 1 else 0, **fields)
    store.create_run(make_run("r3", created_at=T0 + 3, parent_id="r1", fork_index=1, seed=7))
    store.create_run(make_run("r4", created_at=T0 + 4, verifies="r0"))
    store.record(run=replace(store.get_run("r4"), status=RunStatus.SUCCEEDED, verdict="identical"))
    store.record(run=replace(store.get_run("r2"), status=RunStatus.FAILED))


class TestQueryRuns:
    def test_default_page_is_newest_first_with_a_total(self, store: TraceStore) -> None:
        _five_runs(store)
        page = store.query_runs(RunQuery(limit=2))
        assert [r.run.id for r in page.rows] == ["r4", "r3"]
        assert page.total == 5
        assert _ids(store, limit=2, offset=2) == ["r2", "r1"]
        assert _ids(store, descending=False, limit=10) == ["r0", "r1", "r2", "r3", "r4"]

    def test_filters(self, store: TraceStore) -> None:
        _five_runs(store)
        assert _ids(store, workflow="other") == ["r2"]
        assert _ids(store, ids=("r0", "r3", "ghost")) == ["r3", "r0"]
        assert _ids(store, ids=()) == []
        assert _ids(store, status="failed") == ["r2"]
        assert _ids(store, planner="llm") == ["r0"]
        assert _ids(store, seed=7) == ["r3"]
        assert _ids(store, parent_id="r1") == ["r3"]
        assert _ids(store, relation="fork") == ["r3"]
        assert _ids(store, relation="reproduction") == ["r4"]
        assert _ids(store, relation="root") == ["r2", "r1", "r0"]
        assert _ids(store, created_after=T0 + 1, created_before=T0 + 3) == ["r2", "r1"]
        assert _ids(store, verdict="reproduced") == ["r0"]
        assert set(_ids(store, verdict="unverified")) == {"r1", "r2", "r3", "r4"}
        page = store.query_runs(RunQuery(workflow="wf", status="running"))
        assert page.total == 3  # r0, r1, r3 (r4 succeeded)
        store.create_run(make_run("r5", created_at=T0 + 5, verifies="r1", verdict="diverged"))
        assert _ids(store, verdict="diverged") == ["r1"]
        assert _ids(store, verdict="reproduced") == ["r0"]

    def test_step_counts_include_a_forks_inherited_prefix(self, store: TraceStore) -> None:
        _five_runs(store)
        rows = {r.run.id: r for r in store.query_runs(RunQuery()).rows}
        assert rows["r1"].steps == 2
        assert rows["r3"].steps == 1  # one inherited by reference, none of its own
        assert rows["r0"].steps == 0

    def test_filtered_counts_stop_at_a_cap(
        self, store: TraceStore, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from reprolam.trace import queries

        _five_runs(store)
        monkeypatch.setattr(queries, "count_cap", lambda q: 2)
        filtered = store.query_runs(RunQuery(workflow="wf", limit=1))
        assert filtered.total == 3  # cap + 1: "2+" on a page
        assert not filtered.exact
        assert store.query_runs(RunQuery(workflow="wf", limit=2)).exact is False
        whole = store.query_runs(RunQuery(limit=1))
        assert whole.total == 5  # no filter: counted exactly
        assert whole.exact

    def test_order_by_seed_and_workflow(self, store: TraceStore) -> None:
        _five_runs(store)
        assert _ids(store, order="seed", descending=False)[-1] == "r3"
        assert _ids(store, order="workflow", descending=False)[0] == "r2"

    def test_bad_queries_are_refused_up_front(self) -> None:
        with pytest.raises(ConfigError, match="unknown status 'done'"):
            RunQuery(status="done")
        with pytest.raises(ConfigError, match="metric name"):
            RunQuery(order="metric")
        with pytest.raises(ConfigError, match="page size"):
            RunQuery(limit=0)


class TestAnnotations:
    def test_tags_and_notes_round_trip_and_filter(self, store: TraceStore) -> None:
        _five_runs(store)
        store.add_annotations(
            [
                Annotation("r1", "tag", "baseline", T0),
                Annotation("r1", "tag", "baseline", T0 + 1),  # kept once
                Annotation("r2", "tag", "baseline", T0),
                Annotation("r1", "note", "first try <b>", T0 + 2),
                Annotation("r1", "note", "first try <b>", T0 + 3),  # notes may repeat
            ]
        )
        got = store.annotations("r1")
        assert [(a.kind, a.value) for a in got] == [
            ("tag", "baseline"),
            ("note", "first try <b>"),
            ("note", "first try <b>"),
        ]
        assert _ids(store, tag="baseline") == ["r2", "r1"]
        assert _ids(store, tag="nope") == []
        rows = {r.run.id: r for r in store.query_runs(RunQuery()).rows}
        assert rows["r1"].tags == ["baseline"]
        assert rows["r0"].tags == []

    def test_annotations_change_no_hash(self, store: TraceStore) -> None:
        steps = chain(store, "run-a", 3)
        run = store.get_run("run-a")
        store.add_annotations(
            [Annotation("run-a", "tag", "t", T0), Annotation("run-a", "note", "n", T0)]
        )
        assert store.steps("run-a") == steps
        assert store.get_run("run-a") == run

    def test_unknown_run_stores_nothing(self, store: TraceStore) -> None:
        store.create_run(make_run("r0"))
        with pytest.raises(NotFoundError, match="ghost"):
            store.add_annotations(
                [Annotation("r0", "tag", "ok", T0), Annotation("ghost", "tag", "x", T0)]
            )
        assert store.annotations("r0") == []

    def test_bad_tag_is_refused(self, store: TraceStore) -> None:
        store.create_run(make_run("r0"))
        with pytest.raises(ConfigError, match="without spaces"):
            store.add_annotations([Annotation("r0", "tag", "two words", T0)])
        with pytest.raises(ConfigError, match="annotation kind"):
            store.add_annotations([Annotation("r0", "label", "x", T0)])


class TestMetricIndex:
    def test_index_filter_and_order(self, store: TraceStore) -> None:
        _five_runs(store)
        assert store.runs_without_metrics(limit=10) == ["r4", "r2"]  # finished runs only
        store.put_metrics("r0", {"accuracy": 0.9, "loss": 0.1})
        store.put_metrics("r1", {"accuracy": 0.95})
        store.put_metrics("r2", {})
        assert store.query_runs(RunQuery(workflow="other")).rows[0].indexed  # with nothing
        store.put_metrics("r1", {"accuracy": 0.5})  # replaces
        assert store.runs_without_metrics(limit=10) == ["r4"]
        assert _ids(store, metric="accuracy", order="metric") == ["r0", "r1"]
        assert _ids(store, order="metric", metric="accuracy", descending=False)[:2] == [
            "r1",
            "r0",
        ]
        # The metric is a filter too: runs without it are not listed.
        assert _ids(store, order="metric", metric="loss") == ["r0"]
        assert store.query_runs(RunQuery(order="metric", metric="accuracy")).total == 2
        store.put_metrics("r2", {"accuracy": 0.9})  # a tie goes by id (creation order)
        assert _ids(store, order="metric", metric="accuracy") == ["r2", "r0", "r1"]
        rows = {r.run.id: r for r in store.query_runs(RunQuery()).rows}
        assert rows["r0"].metrics == {"accuracy": 0.9, "loss": 0.1}
        assert rows["r2"].metrics == {"accuracy": 0.9}
        assert rows["r2"].indexed
        assert rows["r4"].metrics == {}
        assert not rows["r4"].indexed

    def test_unknown_run(self, store: TraceStore) -> None:
        with pytest.raises(NotFoundError, match="ghost"):
            store.put_metrics("ghost", {"a": 1.0})
