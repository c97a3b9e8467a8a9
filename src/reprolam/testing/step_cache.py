"""Conformance of the store-wide step cache (``TraceStore.find_cached_steps``, and
``find_cached_step``, its first).

Part of the suite (``reprolam.testing``): the same ``store`` fixture, any backend.
"""

from __future__ import annotations

from dataclasses import replace
from itertools import islice

from reprolam.testing.conformance import artifact, make_run, make_step
from reprolam.trace import ErrorInfo, StepKind, StepRecord, StepStatus, TraceStore
from reprolam.trace.contract import CACHED_PAGE_MAX

PARAMS = {"C": 0.1, "solver": "lbfgs", "nested": {"b": [1, 2], "a": None}}
INPUTS = {"X": "d" * 64}


def cached(run_id: str, index: int, **fields: object) -> StepRecord:
    """A succeeded action step with the cache key every test here probes for."""
    output, _ = artifact(f"{run_id}/{index}/out")
    base: dict[str, object] = {
        "action": "train",
        "action_version": "1",
        "fingerprint": "f" * 16,
        "params": PARAMS,
        "inputs": INPUTS,
        "seed": 2**63 + 5,  # beyond 64-bit signed: stored as text by the SQL backends
        "outputs": {"model": output.digest},
    }
    return make_step(run_id, index, **{**base, **fields})


def probe(**fields: object) -> StepRecord:
    """What the engine asks with: a started step of another run with the same key."""
    step = cached("asking", 7, status=StepStatus.STARTED, outputs={}, duration=None)
    return replace(step, **fields)  # type: ignore[arg-type]


def store_runs(store: TraceStore, *steps: StepRecord) -> None:
    for run_id in dict.fromkeys(s.run_id for s in steps):
        store.create_run(make_run(run_id))
    for step in steps:
        outputs = [artifact(f"{step.run_id}/{step.index}/out")] if step.outputs else []
        store.record(steps=[step], artifacts=outputs)


class TestStepCache:
    def test_finds_a_succeeded_step_of_another_run_by_its_key(self, store: TraceStore) -> None:
        other = make_step("run-b", 0, action="load")
        hit = cached("run-b", 1)
        store_runs(store, other, hit)
        assert store.find_cached_step(probe()) == hit

    def test_the_first_recorded_match_wins(self, store: TraceStore) -> None:
        first, later = cached("run-1", 3), cached("run-2", 0)
        store_runs(store, later, first)  # stored in the other order
        assert store.find_cached_step(probe()) == first

    def test_any_difference_in_the_key_misses(self, store: TraceStore) -> None:
        store_runs(store, cached("run-b", 0))
        misses = {
            "action": probe(action="evaluate"),
            "version": probe(action_version="2"),
            "fingerprint": probe(fingerprint="e" * 16),
            "params": probe(params={**PARAMS, "C": 0.2}),
            "extra param": probe(params={**PARAMS, "tol": 1e-4}),
            "inputs": probe(inputs={"X": "e" * 64}),
            "seed": probe(seed=6),
            "no seed": probe(seed=None),
        }
        found = {name: store.find_cached_step(step) for name, step in misses.items()}
        assert found == dict.fromkeys(misses)
        assert store.find_cached_step(probe()) is not None

    def test_param_order_does_not_matter(self, store: TraceStore) -> None:
        store_runs(store, cached("run-b", 0))
        reordered = dict(reversed(list(PARAMS.items())))
        assert store.find_cached_step(probe(params=reordered)) is not None

    def test_failed_started_and_rejected_steps_never_serve(self, store: TraceStore) -> None:
        failed = cached("run-f", 0, status=StepStatus.FAILED, error=ErrorInfo("E", "boom"))
        started = cached("run-s", 0, status=StepStatus.STARTED, outputs={}, duration=None)
        rejected = cached("run-r", 0, kind=StepKind.REJECTION, status=StepStatus.REJECTED)
        store_runs(store, failed, started, rejected)
        assert store.find_cached_step(probe()) is None

    def test_a_started_step_serves_once_it_has_succeeded(self, store: TraceStore) -> None:
        done = cached("run-b", 0)
        started = replace(done, status=StepStatus.STARTED, outputs={}, duration=None, hash=None)
        store_runs(store, started)
        assert store.find_cached_step(probe()) is None
        store.record(steps=[done], artifacts=[artifact("run-b/0/out")])
        assert store.find_cached_step(probe()) == done

    def test_unseeded_steps_match_unseeded_probes(self, store: TraceStore) -> None:
        unseeded = cached("run-b", 0, seed=None)
        store_runs(store, unseeded)
        assert store.find_cached_step(probe(seed=None)) == unseeded
        assert store.find_cached_step(probe()) is None

    def test_every_match_comes_in_run_and_index_order(self, store: TraceStore) -> None:
        steps = [cached("run-2", 4), cached("run-1", 9), cached("run-2", 0), cached("run-1", 3)]
        store_runs(store, make_step("run-1", 0, action="load"), *steps)
        found = list(store.find_cached_steps(probe()))
        assert [(s.run_id, s.index) for s in found] == [
            ("run-1", 3), ("run-1", 9), ("run-2", 0), ("run-2", 4)
        ]  # fmt: skip
        assert found[0] == store.find_cached_step(probe())
        assert found == sorted(steps, key=lambda s: (s.run_id, s.index))

    def test_candidates_beyond_several_pages_are_all_found(self, store: TraceStore) -> None:
        """More candidates than pages of every size hold: none lost or repeated between them."""
        count = 2 * CACHED_PAGE_MAX + 3
        steps = [cached(f"run-{i % 3}", i) for i in range(count)]
        store_runs(store, *steps)
        found = [(s.run_id, s.index) for s in store.find_cached_steps(probe())]
        assert found == sorted((s.run_id, s.index) for s in steps)
        first_five = list(islice(store.find_cached_steps(probe()), 5))
        assert [(s.run_id, s.index) for s in first_five] == found[:5]

    def test_a_step_recorded_again_is_one_candidate(self, store: TraceStore) -> None:
        step = cached("run-b", 0)
        store_runs(store, step)
        store.record(steps=[step])
        assert list(store.find_cached_steps(probe())) == [step]

    def test_a_miss_yields_no_candidate(self, store: TraceStore) -> None:
        store_runs(store, cached("run-b", 0), cached("run-f", 0, status=StepStatus.FAILED))
        assert list(store.find_cached_steps(probe(seed=6))) == []
        assert list(store.find_cached_steps(probe(params={"C": 1}))) == []
        assert [s.run_id for s in store.find_cached_steps(probe())] == ["run-b"]
