"""What replay's streaming shortcuts must not change: a step reading the very map the step
before wrote (its digests not noted again), the collector held while verifying, pages."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from reprolam.history import artifact_pages, stored_steps
from reprolam.history.replay import replay
from reprolam.history.stored_steps import stream_pages, stream_trace
from reprolam.history.verify import verify_trace
from reprolam.testing.conformance import artifact, make_run, make_step
from reprolam.trace import MemoryStore, SQLiteStore, TraceStore


def piped_run(store: TraceStore, n: int, bad: set[int], missing: set[int]) -> str:
    """``n`` steps, each reading exactly the map the step before wrote (the same text);
    the outputs in ``bad`` stored as other bytes, those in ``missing`` never stored."""
    store.create_run(make_run("run-p"))
    previous: dict[str, str] = {}
    for i in range(n):
        record, data = artifact(f'"piped {i}"')  # JSON text: replay decodes it
        if i in bad:
            data = data.upper()
        step = make_step("run-p", i, inputs=previous, outputs={"x": record.digest})
        store.record(steps=[step], artifacts=[] if i in missing else [(record, data)])
        previous = {"x": record.digest}
    return "run-p"


@pytest.mark.parametrize("recent", [1, 512])
@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_a_step_reading_the_map_before_it_reports_as_the_record_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, recent: int, backend: str
) -> None:
    monkeypatch.setattr(artifact_pages, "RECENT", recent)
    store = MemoryStore() if backend == "memory" else SQLiteStore(tmp_path / "store")
    with store:
        run_id = piped_run(store, 600, bad={0, 255, 256, 599}, missing={300})
        run = store.get_run(run_id)
        streamed = verify_trace(store, run, stream_trace(store, run_id))
        assert streamed == verify_trace(store, run, store.steps(run_id))
        artifacts = [(p.step, p.message.split(":")[0]) for p in streamed if p.kind == "artifact"]
        assert artifacts == [
            (0, "output 'x' of step 0"),
            (255, "output 'x' of step 255"),
            (256, "output 'x' of step 256"),
            (300, "output 'x' of step 300"),
            (599, "output 'x' of step 599"),
        ]
        result = replay(store, run_id)
        assert result.problems == streamed
        assert result.steps_replayed == 600


@pytest.mark.parametrize("enabled", [True, False])
def test_verifying_leaves_the_collector_as_it_found_it(enabled: bool) -> None:
    store = MemoryStore()
    run_id = piped_run(store, 20, bad={3}, missing=set())
    was = gc.isenabled()
    try:
        if not enabled:
            gc.disable()
        assert not replay(store, run_id).verified
        assert gc.isenabled() is enabled
    finally:
        if was:
            gc.enable()


def test_pages_hold_the_whole_trace_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    store = MemoryStore()
    run_id = piped_run(store, 25, bad=set(), missing=set())
    pages = list(stream_pages(store, run_id, page=10))
    assert [len(page) for page in pages] == [10, 10, 5]
    assert [step.index for page in pages for step in page] == list(range(25))
    monkeypatch.setattr(stored_steps, "STREAM_PAGE", 10)
    assert [step.index for step in stream_trace(store, run_id, page=7)] == list(range(25))
