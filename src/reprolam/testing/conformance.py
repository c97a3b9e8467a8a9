"""The trace store conformance suite: every ``TraceStore`` backend must pass all of it.

The tests here take a ``store_factory`` fixture (a ``StoreFactory``) and never name a
backend. reprolam's own tests (tests/test_store_conformance.py) parametrize it over the
memory, SQLite and PostgreSQL backends; see ``reprolam.testing`` for a third-party one.
"""

from __future__ import annotations

import math
import subprocess
import sys
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import pytest

from reprolam.errors import (
    AmbiguousIdError,
    ConfigError,
    IntegrityError,
    NotFoundError,
    StoreError,
)
from reprolam.hashing import canonical_json, digest
from reprolam.trace import (
    ArtifactRecord,
    ErrorInfo,
    Producer,
    RunRecord,
    RunStatus,
    StepKind,
    StepRecord,
    StepStatus,
    TraceStore,
    step_hash,
)

T0 = 1_700_000_000.25
INLINE_THRESHOLD = 32 * 1024  # where SQLite switches to blob files; exercised either side


class StoreFactory(ABC):
    """One backend, as the suite reaches it."""

    name: ClassVar[str]
    durable: ClassVar[bool] = False  # a reopened store, or another process, sees what was stored

    @abstractmethod
    def __call__(self) -> TraceStore:
        """Open the store under test (for a durable backend, the same store on every call)."""

    @property
    def location(self) -> str:
        """What ``open_store`` takes to open this store from another process (durable only)."""
        raise NotImplementedError

    @abstractmethod
    def tamper_artifact(self, store: TraceStore, digest: str, data: bytes) -> None:
        """Overwrite an artifact's stored bytes behind the store's back."""

    def break_artifact_write(self, store: TraceStore, digest: str) -> bool:
        """Make storing this (large) artifact's bytes fail; False if the backend cannot fail so."""
        return False


# -- builders -------------------------------------------------------------------------------------


def make_run(run_id: str = "run-a", **fields: Any) -> RunRecord:
    return RunRecord(**{"id": run_id, "workflow": "wf", "seed": 0, "created_at": T0, **fields})


def make_step(run_id: str, index: int, **fields: Any) -> StepRecord:
    """A finished (hashed) step unless ``status=StepStatus.STARTED`` is given."""
    step = StepRecord(
        **{
            "run_id": run_id,
            "index": index,
            "kind": StepKind.ACTION,
            "action": f"action_{index}",
            "status": StepStatus.SUCCEEDED,
            "started_at": T0 + index,
            "duration": 0.5,
            **fields,
        }
    )
    return step if step.status is StepStatus.STARTED else replace(step, hash=step_hash(step))


def artifact(content: str | bytes, codec: str = "json") -> tuple[ArtifactRecord, bytes]:
    data = content.encode() if isinstance(content, str) else content
    return ArtifactRecord(digest(data), codec, len(data)), data


def chain(store: TraceStore, run_id: str, n: int, **run_fields: Any) -> list[StepRecord]:
    """Create a run with ``n`` finished steps, each with one output artifact."""
    store.create_run(make_run(run_id, **run_fields))
    steps = []
    for i in range(n):
        record, data = artifact(f"{run_id}/{i}")
        step = make_step(run_id, i, outputs={"x": record.digest})
        store.record(steps=[step], artifacts=[(record, data)])
        steps.append(step)
    return steps


@pytest.fixture
def store(store_factory: StoreFactory) -> Iterator[TraceStore]:
    opened = store_factory()
    yield opened
    opened.close()


# -- runs -----------------------------------------------------------------------------------------


class TestRuns:
    def test_create_then_get(self, store: TraceStore) -> None:
        run = make_run(planner={"name": "rules"}, policy={"max_steps": 20})
        store.create_run(run)
        assert store.get_run("run-a") == run

    def test_duplicate_id_is_refused(self, store: TraceStore) -> None:
        store.create_run(make_run())
        with pytest.raises(StoreError, match="run-a"):
            store.create_run(make_run(workflow="other"))
        assert store.get_run("run-a").workflow == "wf"

    def test_unknown_run_is_not_found(self, store: TraceStore) -> None:
        with pytest.raises(NotFoundError, match="nope"):
            store.get_run("nope")
        with pytest.raises(NotFoundError, match="nope"):
            store.own_steps("nope")

    def test_fork_of_unknown_parent_is_refused(self, store: TraceStore) -> None:
        with pytest.raises(NotFoundError, match="ghost"):
            store.create_run(make_run("fork", parent_id="ghost", fork_index=1))
        with pytest.raises(NotFoundError):
            store.get_run("fork")

    def test_record_replaces_the_run(self, store: TraceStore) -> None:
        store.create_run(make_run())
        done = make_run(status=RunStatus.SUCCEEDED, finished_at=T0 + 9, outputs={"m": "d"})
        store.record(run=done)
        assert store.get_run("run-a") == done

    def test_list_runs_newest_first_with_limit(self, store: TraceStore) -> None:
        for i, run_id in enumerate(["r1", "r2", "r3", "r0"]):
            store.create_run(make_run(run_id, created_at=T0 + min(i, 2)))  # r3, r0 tie
        assert [r.id for r in store.list_runs()] == ["r3", "r0", "r2", "r1"]
        assert [r.id for r in store.list_runs(limit=2)] == ["r3", "r0"]
        assert store.list_runs(limit=0) == []

    def test_resolve_run_id(self, store: TraceStore) -> None:
        for run_id in ["0190aaaa-1", "0190aaaa-2", "0190bbbb-1", "abc", "abcd"]:
            store.create_run(make_run(run_id))
        assert store.resolve_run_id("0190aaaa-2") == "0190aaaa-2"
        assert store.resolve_run_id("0190b") == "0190bbbb-1"
        assert store.resolve_run_id(" 0190b ") == "0190bbbb-1"
        assert store.resolve_run_id("abc") == "abc"  # a full id wins over longer ids it prefixes
        with pytest.raises(AmbiguousIdError, match="0190a"):
            store.resolve_run_id("0190a")
        with pytest.raises(NotFoundError, match="zzz"):
            store.resolve_run_id("zzz")
        with pytest.raises(NotFoundError):
            store.resolve_run_id("")
        assert store.find_run_ids("0190", limit=10) == ["0190aaaa-1", "0190aaaa-2", "0190bbbb-1"]
        assert store.find_run_ids("0190", limit=1) == ["0190aaaa-1"]
        assert store.find_run_ids("0190", limit=0) == []
        assert store.find_run_ids("0190", limit=-1) == []


# -- steps ----------------------------------------------------------------------------------------


class TestSteps:
    def test_started_step_is_completed_by_upsert(self, store: TraceStore) -> None:
        store.create_run(make_run())
        started = make_step("run-a", 0, status=StepStatus.STARTED, duration=None)
        store.record(steps=[started])
        assert store.own_steps("run-a") == [started]
        record, data = artifact("out")
        finished = replace(started, status=StepStatus.SUCCEEDED, outputs={"x": record.digest})
        finished = replace(finished, duration=1.25, hash=step_hash(finished))
        store.record(steps=[finished], artifacts=[(record, data)])
        assert store.own_steps("run-a") == [finished]

    def test_own_steps_are_ordered_by_index(self, store: TraceStore) -> None:
        store.create_run(make_run())
        steps = [make_step("run-a", i) for i in (3, 0, 2, 1, 10)]
        store.record(steps=steps[:2])
        store.record(steps=steps[2:])
        assert [s.index for s in store.own_steps("run-a")] == [0, 1, 2, 3, 10]
        assert store.own_steps("run-a") == sorted(steps, key=lambda s: s.index)

    def test_engine_shaped_calls(self, store: TraceStore) -> None:
        """One call per step: the finished step, the next one started, its new artifacts."""
        store.create_run(make_run())
        started = make_step("run-a", 0, status=StepStatus.STARTED)
        store.record(steps=[started])
        for i in range(5):
            record, data = artifact(f"value {i}")
            done = make_step("run-a", i, inputs=started.inputs, outputs={"v": record.digest})
            started = make_step(
                "run-a", i + 1, status=StepStatus.STARTED, inputs={"v": record.digest}
            )
            store.record(steps=[done, started], artifacts=[(record, data)])
        steps = store.own_steps("run-a")
        assert [s.status for s in steps] == [StepStatus.SUCCEEDED] * 5 + [StepStatus.STARTED]
        assert all(s.hash == step_hash(s) for s in steps[:5])


class TestAtomicity:
    """A record() call that fails stores nothing of itself."""

    def test_step_for_unknown_run(self, store: TraceStore) -> None:
        store.create_run(make_run())
        record, data = artifact("a")
        good = make_step("run-a", 0, outputs={"x": record.digest})
        with pytest.raises(NotFoundError, match="ghost"):
            store.record(steps=[good, make_step("ghost", 0)], artifacts=[(record, data)])
        assert store.own_steps("run-a") == []
        assert not store.has_artifact(record.digest)

    def test_update_of_unknown_run(self, store: TraceStore) -> None:
        store.create_run(make_run())
        with pytest.raises(NotFoundError, match="ghost"):
            store.record(steps=[make_step("run-a", 0)], run=make_run("ghost"))
        assert store.own_steps("run-a") == []

    def test_value_that_is_not_json(self, store: TraceStore) -> None:
        store.create_run(make_run())
        record, data = artifact("a")
        with pytest.raises(StoreError, match="step 0 of run 'run-a'"):
            store.record(
                steps=[make_step("run-a", 0, status=StepStatus.STARTED, params={"f": object()})],
                artifacts=[(record, data)],
            )
        assert store.own_steps("run-a") == []
        assert not store.has_artifact(record.digest)

    def test_artifact_size_mismatch(self, store: TraceStore) -> None:
        store.create_run(make_run())
        record, data = artifact("abc")
        with pytest.raises(StoreError, match="size"):
            store.record(steps=[make_step("run-a", 0)], artifacts=[(replace(record, size=2), data)])
        assert store.own_steps("run-a") == []
        assert not store.has_artifact(record.digest)

    def test_artifact_write_failure(self, store_factory: StoreFactory, store: TraceStore) -> None:
        store.create_run(make_run())
        small, small_data = artifact("small")
        large, large_data = artifact(b"L" * (INLINE_THRESHOLD + 1))
        if not store_factory.break_artifact_write(store, large.digest):
            pytest.skip(f"{store_factory.name} has no artifact write that can fail")
        step = make_step("run-a", 0, outputs={"s": small.digest, "l": large.digest})
        with pytest.raises(StoreError, match=large.digest):
            store.record(steps=[step], artifacts=[(small, small_data), (large, large_data)])
        assert store.own_steps("run-a") == []
        assert not store.has_artifact(small.digest)
        assert not store.has_artifact(large.digest)


# -- forks ----------------------------------------------------------------------------------------


class TestExtendRun:
    """``extend_run``: a run built by hand grows only from the trace its writer read."""

    def test_extends_from_the_length_read(self, store: TraceStore) -> None:
        steps = chain(store, "run-a", 2)
        nxt = make_step("run-a", 2)
        store.extend_run("run-a", 2, steps=[nxt], run=make_run(status=RunStatus.SUCCEEDED))
        assert store.own_steps("run-a") == [*steps, nxt]
        assert store.get_run("run-a").status is RunStatus.SUCCEEDED

    def test_a_step_there_already_is_not_replaced(self, store: TraceStore) -> None:
        steps = chain(store, "run-a", 3)
        record, data = artifact("another")
        stale = make_step("run-a", 2, action="other", outputs={"x": record.digest})
        with pytest.raises(ConfigError, match=r"already has a step 2.*open the run again"):
            store.extend_run("run-a", 2, steps=[stale], artifacts=[(record, data)])
        assert store.own_steps("run-a") == steps
        assert not store.has_artifact(record.digest)

    def test_a_second_writer_that_read_before_the_first_wrote_is_refused(
        self, store_factory: StoreFactory
    ) -> None:
        """Two openers of one durable store (as two processes): the second read the run
        before the first extended it, and the first's step may not be committed yet."""
        if not store_factory.durable:
            pytest.skip(f"{store_factory.name} is not durable")
        with store_factory() as first:
            steps = chain(first, "run-a", 1)
            first.flush()
            with store_factory() as second:
                assert len(second.own_steps("run-a")) == 1  # both read one step
                mine = make_step("run-a", 1, action="first")
                first.extend_run("run-a", 1, steps=[mine])
                with pytest.raises(ConfigError, match="already has a step 1"):
                    second.extend_run("run-a", 1, steps=[make_step("run-a", 1, action="second")])
                nxt = make_step("run-a", 2, action="second")
                second.extend_run("run-a", 2, steps=[nxt])  # read again: it goes on from there
            assert first.own_steps("run-a") == [*steps, mine, nxt]


class TestForks:
    def test_fork_inherits_the_prefix_by_reference(self, store: TraceStore) -> None:
        parent = chain(store, "parent", 5)
        store.create_run(make_run("fork", parent_id="parent", fork_index=2, created_at=T0 + 1))
        own = [make_step("fork", 2, action="other"), make_step("fork", 3, action="other")]
        store.record(steps=own)
        assert store.own_steps("fork") == own  # nothing was copied
        assert store.steps("fork") == parent[:2] + own
        assert store.steps("parent") == parent  # the parent is unchanged

    def test_parent_steps_at_or_after_the_fork_point_are_not_inherited(
        self, store: TraceStore
    ) -> None:
        parent = chain(store, "parent", 2)
        store.create_run(make_run("fork", parent_id="parent", fork_index=2))
        later = [make_step("parent", 2), make_step("parent", 3)]
        store.record(steps=later)  # the parent goes on after the fork was made
        assert store.steps("fork") == parent
        assert store.steps("parent") == [*parent, *later]

    def test_fork_of_a_fork(self, store: TraceStore) -> None:
        parent = chain(store, "parent", 5)
        store.create_run(make_run("child", parent_id="parent", fork_index=3))
        child_own = [make_step("child", 3, action="c"), make_step("child", 4, action="c")]
        store.record(steps=child_own)
        store.create_run(make_run("grandchild", parent_id="child", fork_index=4))
        grand_own = [make_step("grandchild", 4, action="g")]
        store.record(steps=grand_own)
        assert store.steps("grandchild") == parent[:3] + child_own[:1] + grand_own
        store.create_run(make_run("early", parent_id="child", fork_index=1))
        assert store.steps("early") == parent[:1]

    def test_step_at_follows_the_fork_chain_and_own_step_does_not(self, store: TraceStore) -> None:
        parent = chain(store, "parent", 5)
        store.create_run(make_run("child", parent_id="parent", fork_index=3))
        child_own = make_step("child", 3, action="c")
        store.record(steps=[child_own])
        assert store.step_at("child", 1) == parent[1]
        assert store.step_at("child", 3) == child_own
        assert store.own_step("parent", 4) == parent[4]
        with pytest.raises(NotFoundError, match="no step 1"):
            store.own_step("child", 1)  # inherited, not its own
        with pytest.raises(NotFoundError, match="no step 9"):
            store.step_at("child", 9)
        with pytest.raises(NotFoundError, match="nope"):
            store.own_step("nope", 0)


class TestReproductions:
    def test_reproductions_are_listed_by_the_run_they_verify(self, store: TraceStore) -> None:
        store.create_run(make_run("original"))
        store.create_run(make_run("repro-1", verifies="original", created_at=T0 + 1))
        store.create_run(make_run("unrelated", created_at=T0 + 2))
        store.create_run(make_run("repro-2", verifies="original", created_at=T0 + 3))
        assert [r.id for r in store.list_runs(verifies="original")] == ["repro-2", "repro-1"]
        assert [r.id for r in store.list_runs(verifies="original", limit=1)] == ["repro-2"]
        assert store.list_runs(verifies="unrelated") == []
        assert store.get_run("repro-1").verifies == "original"
        assert store.get_run("original").verifies is None


# -- artifacts ------------------------------------------------------------------------------------


class TestArtifacts:
    @pytest.mark.parametrize(
        "size", [0, 1, INLINE_THRESHOLD, INLINE_THRESHOLD + 1, 1 << 20], ids=lambda n: f"{n}B"
    )
    def test_round_trip(self, store: TraceStore, size: int) -> None:
        record, data = artifact(bytes(range(256)) * (size // 256) + b"x" * (size % 256), "npy")
        store.record(artifacts=[(record, data)])
        assert store.has_artifact(record.digest)
        assert store.get_artifact(record.digest) == (record, data)
        assert store.get_artifact_record(record.digest) == record

    def test_inserted_once(self, store: TraceStore) -> None:
        small = artifact("same bytes")
        large = artifact(b"B" * (INLINE_THRESHOLD * 2))
        store.record(artifacts=[small, small, large])
        store.record(artifacts=[small, large])
        renamed = [(replace(r, codec="other"), d) for r, d in (small, large)]
        store.record(artifacts=renamed)  # the first record of the bytes stays
        assert store.get_artifact(small[0].digest) == small
        assert store.get_artifact(large[0].digest) == large

    def test_unknown_artifact(self, store: TraceStore) -> None:
        unknown = digest(b"unknown")
        assert not store.has_artifact(unknown)
        with pytest.raises(NotFoundError, match=unknown):
            store.artifact_producer(unknown)
        with pytest.raises(NotFoundError, match=unknown):
            store.get_artifact(unknown)
        with pytest.raises(NotFoundError, match=unknown):
            store.get_artifact_record(unknown)

    @pytest.mark.parametrize("size", [10, INLINE_THRESHOLD + 10], ids=["inline", "blob"])
    def test_tampered_bytes_are_detected(
        self, store_factory: StoreFactory, store: TraceStore, size: int
    ) -> None:
        record, data = artifact(b"t" * size)
        store.record(artifacts=[(record, data)])
        store_factory.tamper_artifact(store, record.digest, b"T" + data[1:])
        with pytest.raises(IntegrityError, match=record.digest):
            store.get_artifact(record.digest)
        assert store.get_artifact_record(record.digest) == record  # no read, no check

    def test_producer_is_the_first_step_that_output_the_artifact(self, store: TraceStore) -> None:
        store.create_run(make_run())
        a, b, env = artifact("a"), artifact("b"), artifact("environment")
        da, db, denv = a[0].digest, b[0].digest, env[0].digest
        store.record(artifacts=[env])  # an external input: no producer
        assert store.artifact_producer(denv) is None
        store.record(steps=[make_step("run-a", 0, outputs={"a": da, "b": db})], artifacts=[a, b])
        assert store.artifact_producer(da) == Producer("run-a", 0, "a")
        assert store.artifact_producer(db) == Producer("run-a", 0, "b")
        store.create_run(make_run("fork", parent_id="run-a", fork_index=1))
        again = make_step("fork", 1, inputs={"b": db}, outputs={"same_a": da, "env": denv})
        store.record(steps=[again], artifacts=[a, env])
        assert store.artifact_producer(da) == Producer("run-a", 0, "a")  # the first stays
        assert store.artifact_producer(denv) == Producer("fork", 1, "env")  # no longer external


# -- values ---------------------------------------------------------------------------------------

NESTED = {
    "unicode": 'héllo ✓ 𝔘 \u2028 \x00 "quoted" \\',
    "floats": [0.1, 1e-300, 1.5e300, -2.5, 3.0],
    "ints": [0, -1, 2**63 - 1, 2**80],
    "int_vs_float": {"i": 2, "f": 2.0},
    "none": None,
    "bools": [True, False],
    "deep": {"z": {"y": {"x": [{"w": "v"}]}}, "": "empty key"},
}


class TestValues:
    def test_every_field_round_trips_exactly(self, store: TraceStore) -> None:
        parent = make_run("parent")
        run = RunRecord(
            id="run-ü",
            workflow="breast-cancer",
            seed=2**64 + 7,  # beyond SQLite's 64-bit integers
            created_at=T0,
            planner={"name": "llm", "temperature": 0.7, "nested": NESTED},
            policy={"max_steps": 20, "bounds": {"C": [0.001, 100.0]}},
            environment=digest(b"env"),
            status=RunStatus.INTERRUPTED,
            finished_at=T0 + 1.1,
            parent_id="parent",
            fork_index=0,
            overrides={"train_model": {"C": 0.5, "kernel": "rbf"}},
            outputs={"model": digest(b"model")},
            error="KeyboardInterrupt: ",
            host="höst-1",
            pid=4242,
        )
        store.create_run(parent)
        store.create_run(run)
        got = store.get_run("run-ü")
        assert got == run
        assert type(got.status) is RunStatus
        assert type(got.seed) is int
        assert type(got.planner["nested"]["int_vs_float"]["f"]) is float
        assert type(got.planner["nested"]["int_vs_float"]["i"]) is int

        record, data = artifact("in")
        step = StepRecord(
            run_id="run-ü",
            index=0,
            kind=StepKind.REJECTION,
            action="train_model",
            status=StepStatus.FAILED,
            started_at=T0 + 2,
            action_version="1.2.0",
            fingerprint="f" * 64,
            params={"C": 0.1, "weights": NESTED},
            inputs={"data": record.digest},
            outputs={},
            seed=None,
            duration=3,  # an int duration stays an int (its hash depends on it)
            error=ErrorInfo("ValueError", "bad C ✗", "Traceback:\n  line 1\n"),
            proposal={"planner": "llm", "rationale": "ré-essayer", "raw": {"n": None}},
            recovers=None,
            prev_hash="p" * 64,
        )
        step = replace(step, hash=step_hash(step))
        seeded = [
            replace(step, index=1, seed=-5, kind=StepKind.ACTION, recovers=0, error=None),
            replace(step, index=2, seed=2**70, status=StepStatus.REJECTED, duration=0.0),
        ]
        store.record(steps=[step, *seeded], artifacts=[(record, data)])
        got_steps = store.own_steps("run-ü")
        assert got_steps == [step, *seeded]
        for original, stored in zip([step, *seeded], got_steps, strict=True):
            assert step_hash(stored) == step_hash(original)
            assert type(stored.kind) is StepKind
            assert type(stored.status) is StepStatus
            assert type(stored.duration) is type(original.duration)
        assert got_steps[0].error == ErrorInfo("ValueError", "bad C ✗", "Traceback:\n  line 1\n")

    def test_special_floats(self, store: TraceStore) -> None:
        store.create_run(make_run(planner={"nan": math.nan, "inf": -math.inf, "neg0": -0.0}))
        planner = store.get_run("run-a").planner
        assert math.isnan(planner["nan"])
        assert planner["inf"] == -math.inf
        assert math.copysign(1.0, planner["neg0"]) == -1.0

    def test_records_cannot_be_changed_through_dicts(self, store: TraceStore) -> None:
        planner: dict[str, Any] = {"name": "rules", "opts": {"k": 1}}
        store.create_run(make_run(planner=planner))
        params: dict[str, Any] = {"C": 1.0, "grid": [1, 2]}
        store.record(steps=[make_step("run-a", 0, params=params)])
        planner["opts"]["k"] = 2  # the caller's dicts change after recording
        params["grid"].append(3)
        got = store.get_run("run-a")
        got.planner["name"] = "hacked"  # so do the dicts of a record handed out
        store.own_steps("run-a")[0].params["C"] = 99.0
        assert store.get_run("run-a").planner == {"name": "rules", "opts": {"k": 1}}
        assert store.own_steps("run-a")[0].params == {"C": 1.0, "grid": [1, 2]}


# -- lifecycle ------------------------------------------------------------------------------------


class TestLifecycle:
    def test_closed_store_says_so(self, store_factory: StoreFactory) -> None:
        store = store_factory()
        store.close()
        store.close()  # idempotent
        with pytest.raises(StoreError, match="closed"):
            store.get_run("run-a")
        with pytest.raises(StoreError, match="closed"):
            store.create_run(make_run())
        with pytest.raises(StoreError, match="closed"):
            store.record(steps=[make_step("run-a", 0)])

    def test_recording_after_close_is_refused_and_reads_still_say_closed(
        self, store_factory: StoreFactory
    ) -> None:
        store = store_factory()
        chain(store, "run-a", 3)  # recorded, perhaps not yet applied when close() runs
        store.close()
        with pytest.raises(StoreError, match="closed"):
            store.record(steps=[make_step("run-a", 3)])
        with pytest.raises(StoreError, match="closed"):
            store.get_run("run-a")  # an error, promptly: never a hang

    def test_threads_share_one_store(self, store: TraceStore) -> None:
        def work(t: int) -> None:
            for r in range(10):
                chain(store, f"t{t}-r{r}", 3)

        threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(store.list_runs()) == 40
        assert all(len(store.own_steps(r.id)) == 3 for r in store.list_runs())

    def test_persists_across_reopen(self, store_factory: StoreFactory) -> None:
        if not store_factory.durable:
            pytest.skip(f"{store_factory.name} is not durable")
        with store_factory() as store:
            steps = chain(store, "run-a", 3, planner={"nested": NESTED})
            large = artifact(b"Z" * (INLINE_THRESHOLD + 5))
            store.record(artifacts=[large])
        with store_factory() as store:
            assert store.get_run("run-a") == make_run(planner={"nested": NESTED})
            assert store.steps("run-a") == steps
            assert store.get_artifact(large[0].digest) == large

    def test_fresh_process_sees_the_same_trace(self, store_factory: StoreFactory) -> None:
        if not store_factory.durable:
            pytest.skip(f"{store_factory.name} is not durable")
        with store_factory() as store:
            chain(store, "parent", 3, seed=2**66)
            store.create_run(make_run("fork", parent_id="parent", fork_index=2))
            store.record(
                steps=[make_step("fork", 2, error=ErrorInfo("E", "é"), status=StepStatus.FAILED)]
            )
            expected = dump_trace(store, "fork")
        result = subprocess.run(
            [sys.executable, "-c", _DUMP_IN_FRESH_PROCESS, store_factory.location, "fork"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == expected


def dump_trace(store: TraceStore, run_id: str) -> str:
    """A run, its whole trace and its output bytes as canonical JSON (for cross-process checks)."""
    steps = store.steps(run_id)
    outputs = sorted({d for s in steps for d in s.outputs.values()})
    return canonical_json(
        {
            "run": store.get_run(run_id).to_dict(),
            "steps": [s.to_dict() for s in steps],
            "artifacts": {d: store.get_artifact(d)[1].hex() for d in outputs},
        }
    )


_DUMP_IN_FRESH_PROCESS = f"""
import sys
sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})
from conformance import dump_trace
from reprolam.trace import open_store

with open_store(sys.argv[1]) as store:
    print(dump_trace(store, sys.argv[2]))
"""
