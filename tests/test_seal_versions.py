"""The seal's two definitions (``trace.anchor``): version 2, hashed as a run is written (every
run sealed now), and version 1, each artifact once sorted by digest (runs sealed before),
which keeps verifying in replay, audit, export and crate import."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Callable
from contextlib import closing
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from blake3 import blake3

from reprolam import Engine, ManualRun, RulesPlanner, execute
from reprolam.hashing import canonical_json_bytes, digest
from reprolam.history.audit import audit
from reprolam.history.replay import replay
from reprolam.trace import MemoryStore, SQLiteStore, TraceStore
from reprolam.trace.anchor import seal_of
from reprolam.trace.records import (
    ArtifactRecord,
    RunRecord,
    RunStatus,
    StepKind,
    StepRecord,
    StepStatus,
    seal_version,
)
from test_failures import FLOW


def inc(x: int) -> int:
    return x + 1


def chain(store: TraceStore, steps: int, *, start: int = 0) -> ManualRun:
    """A hand-built chain: each step adds one to the step before's output."""
    run = ManualRun(store)
    run.record(execute(inc, inputs={"x": start}), label="s0")
    for i in range(1, steps):
        run.record(execute(inc, inputs={"x": run.value(i - 1)}), label=f"s{i}", after=[i - 1])
    return run


def engine_run(store: TraceStore) -> str:
    return Engine(store).run(FLOW, planner=RulesPlanner(), seed=0).id


def edit(path: Path, sql: str, *params: Any) -> None:
    with closing(sqlite3.connect(path / "trace.db")) as db, db:
        assert db.execute(sql, params).rowcount >= 1


def seal_as_before(path: Path, run_id: str) -> str:
    """Seal ``run_id`` as reprolam did before version 2 (the version-1 code path)."""
    with SQLiteStore(path) as store:
        old = seal_of(store, store.get_run(run_id), store.steps(run_id), version=1)
    edit(path, "UPDATE runs SET seal = ? WHERE id = ?", old, run_id)
    return old


def verified(path: Path, run_id: str) -> bool:
    with SQLiteStore(path) as store:
        replayed = replay(store, run_id)
        audited = audit(store, run_id)
    assert replayed.verified == audited.clean, (replayed.problems, audited.problems)
    return replayed.verified


# -- the definitions, pinned --------------------------------------------------------------------


def golden() -> tuple[MemoryStore, RunRecord, list[StepRecord], dict[str, str]]:
    """A run of two steps: an input the store lacks, one referred to again, run outputs."""
    store = MemoryStore()
    blobs = {name: name.encode() for name in ("env", "x", "y", "z")}
    keys = {name: digest(data) for name, data in blobs.items()}
    stored = [(ArtifactRecord(keys[n], "json", len(d)), d) for n, d in blobs.items() if n != "z"]
    store.record(artifacts=stored)
    run = RunRecord(
        id="run-1",
        workflow="w",
        seed=0,
        created_at=1.0,
        environment=keys["env"],
        status=RunStatus.SUCCEEDED,
        finished_at=2.0,
        outputs={"out": keys["y"]},
        header_hash="h" * 64,
        host="host",
        pid=1,
    )
    steps = [
        _step(0, "load", {"b": keys["z"], "a": keys["x"]}, {"data": keys["x"]}),
        _step(1, "use", {"data": keys["x"]}, {"out": keys["y"]}),
    ]
    return store, run, steps, keys


def _step(index: int, action: str, inputs: dict[str, str], outputs: dict[str, str]) -> StepRecord:
    return StepRecord(
        "run-1",
        index,
        StepKind.ACTION,
        action,
        StepStatus.SUCCEEDED,
        1.0 + index,
        inputs=inputs,
        outputs=outputs,
        hash=str(index + 1) * 64,
    )


def test_version_1_is_the_seal_earlier_versions_wrote() -> None:
    store, run, steps, _ = golden()
    # computed by the code before version 2 existed, on the same records
    expected = "98cf3e9d25617b9d9ade826f1faaf5be47de2722d5c2a09abb3379c78dd98554"
    assert seal_of(store, run, steps, version=1) == expected
    assert seal_version(expected) == 1


def test_version_2_is_the_documented_reference_order() -> None:
    store, run, steps, k = golden()
    x, y, z, env = (f"{k['x']} json 1", f"{k['y']} json 1", f"{k['z']} - -", f"{k['env']} json 3")
    # step 0: inputs a, b by name, then its output; step 1; the run's outputs; its environment
    text = "".join(f"{line}\n" for line in (x, z, x, x, y, y, env))
    content = [
        "reprolam-run-seal-2", "h" * 64, "succeeded", 2.0, {"out": k["y"]}, None, "host", 1,
        None, 2, "2" * 64, blake3(text.encode()).hexdigest(),
    ]  # fmt: skip
    expected = "v2:" + digest(canonical_json_bytes(content))
    assert seal_of(store, run, steps) == expected
    assert seal_version(expected) == 2


@pytest.mark.parametrize(
    "text", ["", "v2:", "v3:" + "a" * 64, "v2:" + "A" * 64, "a" * 63, "x" * 64, "v2:" + "a" * 65]
)
def test_a_text_no_version_writes_has_no_version(text: str) -> None:
    assert seal_version(text) is None


# -- new runs -----------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_a_hand_built_run_is_resealed_after_each_step_as_a_whole_trace_seal(
    backend: str, tmp_path: Path
) -> None:
    store: TraceStore = MemoryStore() if backend == "memory" else SQLiteStore(tmp_path / "s")
    with store:
        run = ManualRun(store)
        for i in range(4):
            run.record(execute(inc, inputs={"x": i % 2}), after=[i - 1] if i else ())
            record = store.get_run(run.id or "")
            assert seal_version(record.seal or "") == 2
            assert record.seal == seal_of(store, record, store.steps(record.id))
        fork = run.fork(2, carry=[3])
        fork.record(execute(inc, inputs={"x": fork.value(2)}), after=[2])
        reopened = ManualRun.open(store, fork.id or "")
        reopened.record(execute(inc, inputs={"x": 7}))
        for built in (run, fork, reopened):
            record = store.get_run(built.id or "")
            assert record.seal == seal_of(store, record, store.steps(record.id))
            assert replay(store, record.id).verified
            assert audit(store, record.id).clean


def test_an_engine_run_is_sealed_with_version_2(memory_store: MemoryStore) -> None:
    record = memory_store.get_run(engine_run(memory_store))
    assert seal_version(record.seal or "") == 2
    assert audit(memory_store, record.id).clean


# -- runs sealed before version 2 ---------------------------------------------------------------


@pytest.mark.parametrize("kind", ["hand-built", "engine"])
def test_a_version_1_seal_still_verifies_and_its_form_is_checked(kind: str, tmp_path: Path) -> None:
    path = tmp_path / "s"
    with SQLiteStore(path) as store:
        run_id = chain(store, 3).id or "" if kind == "hand-built" else engine_run(store)
        new = store.get_run(run_id).seal or ""
    old = seal_as_before(path, run_id)
    assert seal_version(old) == 1
    assert verified(path, run_id)
    # the version a seal names is the one checked: no reading it as the other one
    for forged in ("v2:" + old, new.removeprefix("v2:"), "v9:" + old, "not a seal"):
        edit(path, "UPDATE runs SET seal = ? WHERE id = ?", forged, run_id)
        with SQLiteStore(path) as store:
            (problem,) = audit(store, run_id).problems
        assert problem.kind == "tampered"
        assert "seal" in problem.message
    edit(path, "UPDATE runs SET seal = ? WHERE id = ?", new, run_id)
    assert verified(path, run_id)


def test_a_crate_exported_with_a_version_1_seal_imports_and_verifies(tmp_path: Path) -> None:
    pytest.importorskip("rocrate", reason="pip install 'reprolam[provenance]'")
    from reprolam.provenance import export_run, import_crate

    path = tmp_path / "s"
    with SQLiteStore(path) as store:
        run_id = chain(store, 3).id or ""
    old = seal_as_before(path, run_id)
    with SQLiteStore(path) as store:
        export_run(store, run_id, format="rocrate", output=tmp_path / "crate.zip")
    with SQLiteStore(tmp_path / "lab") as lab:
        import_crate(lab, tmp_path / "crate.zip")
        assert lab.get_run(run_id).seal == old
        assert replay(lab, run_id).verified
        assert audit(lab, run_id).clean


# -- tamper evidence, either version ------------------------------------------------------------


def _last_step(path: Path, run_id: str) -> int:
    with closing(sqlite3.connect(path / "trace.db")) as db:
        (last,) = db.execute("SELECT max(idx) FROM steps WHERE run_id = ?", (run_id,)).fetchone()
    return int(last)


def _output_of(path: Path, run_id: str, index: int) -> str:
    with SQLiteStore(path) as store:
        (key,) = store.step_at(run_id, index).outputs.values()
    return key


EDITS: dict[str, Callable[[Path, str], None]] = {
    "codec": lambda p, r: edit(
        p, "UPDATE artifacts SET codec = 'pickle' WHERE digest = ?", _output_of(p, r, 1)
    ),
    "size": lambda p, r: edit(
        p, "UPDATE artifacts SET size = size + 1 WHERE digest = ?", _output_of(p, r, 1)
    ),
    "reference dropped": lambda p, r: edit(
        p, "UPDATE steps SET inputs = '{}' WHERE run_id = ? AND idx = 1", r
    ),
    "last step deleted": lambda p, r: edit(
        p, "DELETE FROM steps WHERE run_id = ? AND idx = ?", r, _last_step(p, r)
    ),
    "last hash": lambda p, r: edit(
        p, "UPDATE steps SET hash = ? WHERE run_id = ? AND idx = ?", "0" * 64, r, _last_step(p, r)
    ),
}


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("what", list(EDITS))
def test_an_edit_of_a_hand_built_run_fails_replay_and_audit(
    what: str, version: int, tmp_path: Path
) -> None:
    path = tmp_path / "s"
    with SQLiteStore(path) as store:
        run_id = chain(store, 3).id or ""
    if version == 1:
        seal_as_before(path, run_id)
    assert verified(path, run_id)
    EDITS[what](path, run_id)
    assert not verified(path, run_id)
    if what in ("codec", "size", "last step deleted"):  # what only the seal covers
        with SQLiteStore(path) as store:
            problems = audit(store, run_id).problems
        assert any("does not match its seal" in p.message for p in problems), problems


# -- many artifacts per page: lines of digests read pages ago -----------------------------------


@pytest.mark.parametrize("version", [1, 2])
def test_a_run_referring_to_more_artifacts_than_are_kept_in_memory_verifies(
    version: int, tmp_path: Path
) -> None:
    path = tmp_path / "s"
    width = 5  # each step takes the step before's 5 outputs and makes 5 new ones
    with SQLiteStore(path) as store:
        run = ManualRun(store)
        values: dict[str, Any] = {f"v{j}": -j - 1 for j in range(width)}
        for i in range(300):
            done = execute(lambda **kw: None, inputs=values, action="spread")
            values = {f"v{j}": i * width + j for j in range(width)}
            run.record(replace(done, outputs=dict(values)), after=[i - 1] if i else ())
        run_id = run.id or ""
    if version == 1:
        seal_as_before(path, run_id)
    assert verified(path, run_id)


# -- a process killed between two steps ---------------------------------------------------------

KILLED = """
import os, signal, sys
from reprolam import ManualRun, execute
from reprolam.compat import rlam
from reprolam.trace import SQLiteStore

def inc(x):
    return x + 1

api, path, k = sys.argv[1], sys.argv[2], int(sys.argv[3])
store = SQLiteStore(path)
if api == "manual":
    run = ManualRun(store)
    for i in range(k):
        run.record(execute(inc, inputs={"x": run.value(i - 1) if i else 0}))
    print(run.id, flush=True)
else:
    trace = rlam.ExecutionTrace(store=store)
    x, parent = 0, None
    for i in range(k):
        act = rlam.Action(action_id=f"A{i}", action_type="inc", inputs={"x": x},
                          parameters={}, environment_hash="e")
        result = rlam.execute_action(act, inc)
        trace.add_result(result, parents=[parent] if parent else None)
        x, parent = result.output, act.action_id
    print(trace.run_id, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
@pytest.mark.parametrize("api", ["manual", "rlam"])
def test_a_hand_built_run_killed_after_step_k_verifies_with_k_steps(
    api: str, tmp_path: Path
) -> None:
    path, k = tmp_path / "s", 7
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(KILLED), api, str(path), str(k)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    run_id = proc.stdout.strip()
    with SQLiteStore(path) as store:
        record = store.get_run(run_id)
        assert record.status is RunStatus.SUCCEEDED
        assert seal_version(record.seal or "") == 2
        assert len(store.steps(run_id)) == k
    assert verified(path, run_id)
