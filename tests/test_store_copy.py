"""``copy_store`` and ``reprolam store copy``: SQLite -> PostgreSQL -> SQLite, faithfully."""

from __future__ import annotations

import json
import sqlite3
import time
from contextlib import closing
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import pytest
from click.testing import CliRunner, Result
from pydantic import Field

from reprolam import ActionContext, Engine, RulesPlanner, action, workflow
from reprolam.cli.main import cli
from reprolam.errors import IntegrityError, StoreError
from reprolam.hashing import digest
from reprolam.ids import uuid7
from reprolam.testing.conformance import make_run
from reprolam.trace import (
    ArtifactRecord,
    RunStatus,
    SQLiteStore,
    StepKind,
    StepRecord,
    StepStatus,
    TraceStore,
    open_store,
)
from reprolam.trace.blobs import INLINE_MAX
from reprolam.trace.copy import copy_store, parents_first
from reprolam.trace.records import seal


@action(outputs=["samples"], determinism="seeded")
def draw(*, n: Annotated[int, Field(ge=1, le=100_000)] = 16, ctx: ActionContext) -> list[float]:
    """Draw n seeded standard-normal samples."""
    return [float(x) for x in ctx.rng.standard_normal(n)]


@action(outputs=["metrics"])
def summarize(samples: list[float], *, fail: bool = False) -> dict[str, Any]:
    """Summarize the samples (or fail, on request)."""
    if fail:
        raise ValueError("asked to fail")
    return {"n": len(samples), "mean": sum(samples) / len(samples)}


FLOW = workflow("copy-sampling", [draw, summarize], outputs=["metrics"], goal="Summarize.")
BIG = 3000  # samples: their JSON is over INLINE_MAX, so it lives in the blob directory


def populate(store: TraceStore) -> dict[str, str]:
    """Runs of every kind: succeeded (with a blob), failed, a fork, a reproduction, and one
    interrupted mid-step. Returns name -> run id."""
    engine = Engine(store)
    ok = engine.run(FLOW, planner=RulesPlanner(), seed=1, overrides={"draw": {"n": BIG}})
    failed = engine.run(
        FLOW, planner=RulesPlanner(), seed=2, overrides={"summarize": {"fail": True}}
    )
    assert (ok.run.status, failed.run.status) == (RunStatus.SUCCEEDED, RunStatus.FAILED)
    parent_steps = store.steps(ok.id)
    assert store.get_artifact_record(parent_steps[0].outputs["samples"]).size > INLINE_MAX
    # A fork of `ok` at step 1 (inherits step 0 by reference) with its own step 1.
    fork = replace(ok.run, id=uuid7(), parent_id=ok.id, fork_index=1, created_at=time.time())
    fork = replace(fork, status=RunStatus.RUNNING, finished_at=None, outputs={})
    store.create_run(fork)
    data = json.dumps({"n": BIG, "mean": 0.5}).encode()
    out = ArtifactRecord(digest(data), "json", len(data))
    own = seal(
        StepRecord(
            run_id=fork.id,
            index=1,
            kind=StepKind.ACTION,
            action="summarize",
            status=StepStatus.SUCCEEDED,
            started_at=time.time(),
            params={"fail": False},
            inputs={"samples": parent_steps[0].outputs["samples"]},
            outputs={"metrics": out.digest},
            duration=0.25,
            prev_hash=parent_steps[0].hash or "",
        )
    )
    done = replace(fork, status=RunStatus.SUCCEEDED, finished_at=time.time(), outputs=own.outputs)
    store.record(steps=[own], artifacts=[(out, data)], run=done)
    # A reproduction of `ok`, and a run whose process died mid-step (a started step).
    repro = engine.run(FLOW, planner=RulesPlanner(), seed=1, overrides={"draw": {"n": BIG}})
    store.record(run=replace(repro.run, verifies=ok.id))
    # (opening the store marked it interrupted: a copy leaves out runs still running)
    died = replace(
        make_run(uuid7(), created_at=time.time(), status=RunStatus.INTERRUPTED),
        environment=ok.run.environment,
    )
    store.create_run(died)
    started = StepRecord(
        run_id=died.id,
        index=0,
        kind=StepKind.ACTION,
        action="draw",
        status=StepStatus.STARTED,
        started_at=time.time(),
        params={"n": 16},
    )
    store.record(steps=[started])
    # Lineage that creation order does not give: `early` is created first, but `late`
    # records the shared artifact first, so `late` is its producer.
    early = make_run(uuid7(), created_at=time.time(), status=RunStatus.FAILED)
    late = make_run(uuid7(), created_at=time.time(), status=RunStatus.FAILED)
    store.create_run(early)
    store.create_run(late)
    shared = (ArtifactRecord(digest(b'"shared"'), "json", 8), b'"shared"')
    for run in (late, early):
        step = replace(started, run_id=run.id, status=StepStatus.SUCCEEDED, duration=0.0)
        step = seal(replace(step, outputs={"v": shared[0].digest}))
        store.record(steps=[step], artifacts=[shared])
    producer = store.artifact_producer(shared[0].digest)
    assert producer is not None
    assert producer.run_id == late.id
    store.flush()
    return {
        "ok": ok.id,
        "failed": failed.id,
        "fork": fork.id,
        "repro": repro.id,
        "died": died.id,
        "early": early.id,
        "late": late.id,
    }


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def show(location: str, artifacts: str | None, run_id: str) -> dict[str, Any]:
    args = ["--store", location, *(["--artifacts", artifacts] if artifacts else [])]
    result = invoke(*args, "show", run_id, "--json")
    assert result.exit_code == 0, result.output
    view: dict[str, Any] = json.loads(result.stdout)
    return view


def referenced(store: TraceStore) -> set[str]:
    """What runs reference: environment (with the code it names), outputs, step artifacts."""
    from reprolam.trace.copy import _code_refs, _step_refs

    found: set[str] = set()
    for run in store.list_runs():
        found.update(d for d in (run.environment, *run.outputs.values()) if d)
        found.update(_code_refs(store, run.environment))
        for step in store.own_steps(run.id):
            found.update(_step_refs(step))
    return found


def table_counts(store: SQLiteStore) -> tuple[int, ...]:
    store.flush()
    with closing(sqlite3.connect(store.db_path)) as conn:
        return tuple(
            conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("runs", "steps", "artifacts")
        )


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A populated SQLite store (module-scoped: tests only read it or copy from it)."""
    path = tmp_path_factory.mktemp("source")
    with SQLiteStore(path) as store:
        return path, populate(store)


def test_sqlite_to_postgres_and_back_is_faithful(
    source: tuple[Path, dict[str, str]], pg_dsn: str, tmp_path: Path
) -> None:
    src_path, runs = source
    pg_artifacts, back_path = str(tmp_path / "pg-artifacts"), tmp_path / "back"
    with open_store(src_path) as src, open_store(pg_dsn, artifacts=pg_artifacts) as mid:
        there = copy_store(src, mid)
    with open_store(pg_dsn, artifacts=pg_artifacts) as mid, open_store(back_path) as back:
        again = copy_store(mid, back)
    assert sorted(there.copied) == sorted(again.copied) == sorted(runs.values())
    assert there.skipped == there.completed == []
    assert (there.steps, there.artifacts, there.bytes) == (
        again.steps,
        again.artifacts,
        again.bytes,
    )
    assert any(p.is_file() for p in Path(pg_artifacts).rglob("*"))  # the blob went there

    stores = [(str(src_path), None), (pg_dsn, pg_artifacts), (str(back_path), None)]
    for run_id in runs.values():
        views = [show(location, artifacts, run_id) for location, artifacts in stores]
        assert views[0] == views[1] == views[2], run_id
    fork_view = show(str(back_path), None, runs["fork"])
    assert [s["inherited"] for s in fork_view["steps"]] == [True, False]
    assert fork_view["run"]["parent_id"] == runs["ok"]
    failed_view = show(str(back_path), None, runs["failed"])
    assert failed_view["steps"][-1]["status"] == "failed"
    assert failed_view["steps"][-1]["error"]["message"] == "asked to fail"

    with (
        open_store(src_path) as src,
        open_store(pg_dsn, artifacts=pg_artifacts) as mid,
        open_store(back_path) as back,
    ):
        digests = referenced(src)
        assert there.artifacts == len(digests)
        assert digests == referenced(mid) == referenced(back)
        for d in digests:
            assert src.get_artifact(d) == mid.get_artifact(d) == back.get_artifact(d)
            assert src.artifact_producer(d) == mid.artifact_producer(d) == back.artifact_producer(d)
        assert [r.id for r in src.list_runs()] == [r.id for r in back.list_runs()]


def test_copying_into_postgres_twice_writes_nothing_new(
    source: tuple[Path, dict[str, str]], postgres: Any, pg_dsn: str, tmp_path: Path
) -> None:
    src_path, runs = source
    artifacts = str(tmp_path / "pg-artifacts")
    args = ["store", "copy", str(src_path), pg_dsn, "--dst-artifacts", artifacts, "--json"]
    first, second = json.loads(invoke(*args).stdout), json.loads(invoke(*args).stdout)
    assert sorted(first["copied"]) == sorted(second["skipped"]) == sorted(runs.values())
    assert (second["copied"], second["steps"], second["artifacts"]) == ([], 0, 0)
    assert postgres.password not in json.dumps(first)
    import psycopg

    with psycopg.connect(pg_dsn) as conn:
        counts = [
            conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("runs", "steps")
        ]
    assert counts == [len(runs), first["steps"]]


def test_copying_again_is_idempotent(source: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    src_path, runs = source
    with SQLiteStore(src_path) as src, SQLiteStore(tmp_path / "dst") as dst:
        first = copy_store(src, dst)
        counts = table_counts(dst)
        second = copy_store(src, dst)
        assert sorted(second.skipped) == sorted(first.copied) == sorted(runs.values())
        assert (second.copied, second.completed, second.steps, second.artifacts) == ([], [], 0, 0)
        assert table_counts(dst) == counts


def test_a_conflicting_run_is_refused_before_anything_is_copied(
    source: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    src_path, runs = source
    with SQLiteStore(src_path) as src, SQLiteStore(tmp_path / "dst") as dst:
        impostor = replace(src.get_run(runs["failed"]), workflow="something-else")
        dst.create_run(impostor)
        with pytest.raises(StoreError) as info:
            copy_store(src, dst)
        message = str(info.value)
        assert runs["failed"] in message
        assert "workflow" in message
        assert "something-else" in message
        assert "nothing was copied" in message
        assert "\n" not in message
        assert [r.id for r in dst.list_runs()] == [runs["failed"]]
        assert dst.get_run(runs["failed"]) == impostor  # not overwritten
    result = invoke("store", "copy", str(src_path), str(tmp_path / "dst"))
    assert result.exit_code == 2
    assert result.stderr.startswith("error: refusing to copy into")
    assert result.stderr.count("\n") == 1


def test_an_extra_step_in_the_destination_is_a_conflict(
    source: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    src_path, runs = source
    with SQLiteStore(src_path) as src, SQLiteStore(tmp_path / "dst") as dst:
        copy_store(src, dst)
        last = src.own_steps(runs["ok"])[-1]
        dst.record(steps=[replace(last, index=last.index + 1)])
        with pytest.raises(StoreError, match="steps of its own"):
            copy_store(src, dst)


def test_an_interrupted_copy_is_completed(
    source: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    src_path, runs = source
    with SQLiteStore(src_path) as src, SQLiteStore(tmp_path / "dst") as dst:
        ok = src.get_run(runs["ok"])
        first = src.own_steps(ok.id)[0]
        needed = [ok.environment, *ok.outputs.values(), *first.outputs.values()]
        dst.record(artifacts=[src.get_artifact(d) for d in needed if d])
        dst.create_run(ok)
        dst.record(steps=[first])  # ...and then the copying process died
        report = copy_store(src, dst)
        assert report.completed == [ok.id]
        assert ok.id not in report.copied
        assert dst.steps(ok.id) == src.steps(ok.id)


def test_a_corrupted_artifact_stops_the_copy(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "src") as src:
        ids = populate(src)
        env = src.get_run(ids["ok"]).environment
        assert env is not None
    with closing(sqlite3.connect(tmp_path / "src" / "trace.db")) as conn, conn:
        conn.execute("UPDATE artifacts SET data = CAST('{}' AS BLOB) WHERE digest = ?", (env,))
    with SQLiteStore(tmp_path / "src") as src, SQLiteStore(tmp_path / "dst") as dst:
        with pytest.raises(IntegrityError, match=env):
            copy_store(src, dst)
        assert not dst.has_artifact(env)
    result = invoke("store", "copy", str(tmp_path / "src"), str(tmp_path / "dst2"))
    assert result.exit_code == 2
    assert result.stderr.startswith("error: artifact")
    assert "corrupted" in result.stderr


def test_cli_copy_reports_json_and_text(
    source: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    src_path, runs = source
    result = invoke("store", "copy", str(src_path), str(tmp_path / "dst"), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert sorted(report["copied"]) == sorted(runs.values())
    assert report["source"] == str(src_path)
    assert report["skipped"] == []
    text = invoke("store", "copy", str(src_path), str(tmp_path / "dst"))
    assert text.exit_code == 0
    assert "copied 0 runs" in text.stdout
    assert f"{len(runs)} already there, skipped" in text.stdout
    assert "skipped" in text.stderr  # per-run progress goes to stderr


def test_cli_copy_bad_input(
    source: tuple[Path, dict[str, str]],
    postgres: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("REPROLAM_ARTIFACTS", raising=False)
    missing = invoke("store", "copy", str(tmp_path / "nowhere"), str(tmp_path / "dst"))
    assert missing.exit_code == 2
    assert missing.stderr.startswith("error: there is no trace store in")
    assert not (tmp_path / "nowhere").exists()  # a missing source is not created
    dsn = postgres.dsn()
    no_blobs = invoke("store", "copy", str(source[0]), dsn)
    assert no_blobs.exit_code == 2
    assert "--dst-artifacts PATH" in no_blobs.stderr
    assert postgres.password not in no_blobs.stderr
    help_text = invoke("store", "copy", "--help").stdout
    assert "Example:" in help_text
    assert "--src-artifacts" in help_text


def test_parents_come_first_whatever_their_creation_times() -> None:
    parent = make_run("p", created_at=5.0)
    child = make_run("c", created_at=1.0, parent_id="p", fork_index=1)
    grandchild = make_run("g", created_at=0.5, parent_id="c", fork_index=1, verifies="p")
    lone = make_run("x", created_at=3.0)
    ordered = [r.id for r in parents_first([lone, grandchild, child, parent])]
    assert ordered.index("p") < ordered.index("c") < ordered.index("g")
    assert sorted(ordered) == ["c", "g", "p", "x"]


def test_a_run_still_running_is_not_copied_until_it_has_finished(tmp_path: Path) -> None:
    """A copy of a run in progress would say "running" forever in the destination (nothing
    runs it there), and conflict with the finished run at the next copy. It is left out,
    with a fork of it, and reported; copying again once it has finished copies both."""
    from reprolam.testing.conformance import make_step
    from reprolam.trace import RunStatus, StepStatus

    src, dst = SQLiteStore(tmp_path / "src"), SQLiteStore(tmp_path / "dst")
    with src, dst:
        src.create_run(make_run("done"))
        src.record(run=replace(src.get_run("done"), status=RunStatus.SUCCEEDED))
        src.create_run(make_run("live"))
        src.record(steps=[make_step("live", 0), make_step("live", 1, status=StepStatus.STARTED)])
        src.create_run(make_run("child", parent_id="live", fork_index=1, status=RunStatus.FAILED))
        seen: list[tuple[str, str]] = []
        report = copy_store(src, dst, on_run=lambda what, run: seen.append((what, run.id)))
        assert report.copied == ["done"]
        assert sorted(report.running) == ["child", "live"]
        assert ("running", "live") in seen
        assert [r.id for r in dst.list_runs()] == ["done"]
        src.record(
            steps=[make_step("live", 1)],
            run=replace(src.get_run("live"), status=RunStatus.SUCCEEDED),
        )
        again = copy_store(src, dst)
        assert sorted(again.copied) == ["child", "live"]
        assert again.running == []
        assert dst.get_run("live").status is RunStatus.SUCCEEDED


def test_the_cli_says_which_runs_it_left_out_because_they_are_running(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "src") as src:
        src.create_run(make_run("live"))
    done = invoke("store", "copy", str(tmp_path / "src"), str(tmp_path / "dst"))
    assert done.exit_code == 0, done.output
    assert "1 run still running" in done.stderr
    assert "copy again once it has finished" in done.stderr


_STOPS = {"now": True}


@action(outputs=["x"])
def _big(*, n: int = 50_000) -> bytes:
    return bytes(range(256)) * (n // 256)  # a blob file in the source's artifacts


@action(outputs=["y"])
def _stops_once(x: bytes) -> int:
    if _STOPS["now"]:
        raise KeyboardInterrupt  # as Ctrl-C mid-step
    return len(x)


_STOPPING = workflow("stopping", [_big, _stops_once], outputs=["y"])


def _audit_problems(store: TraceStore, run_id: str) -> list[str]:
    from reprolam.history.audit import audit

    return sorted(p.kind for p in audit(store, run_id).problems)


def test_a_copy_stopped_midway_leaves_an_interrupted_run_the_next_copy_completes(
    tmp_path: Path,
) -> None:
    """It left a finished, sealed run with no steps (audited as tampered), and every later
    copy refused it as a different run."""
    _STOPS["now"] = False
    with SQLiteStore(tmp_path / "src") as src:
        run_id = Engine(src).run(_STOPPING, planner=RulesPlanner()).id
        (blob,) = [p for p in (tmp_path / "src" / "artifacts").rglob("*") if p.is_file()]
    hidden = blob.rename(tmp_path / "aside")
    with SQLiteStore(tmp_path / "src") as src, SQLiteStore(tmp_path / "dst") as dst:
        with pytest.raises(StoreError):
            copy_store(src, dst)
        left = dst.get_run(run_id)
        assert left.status is RunStatus.INTERRUPTED
        assert "copy again" in (left.error or "")
        assert _audit_problems(dst, run_id) == ["interrupted"]
    hidden.rename(blob)
    with SQLiteStore(tmp_path / "src") as src, SQLiteStore(tmp_path / "dst") as dst:
        report = copy_store(src, dst)
        assert report.completed == [run_id]
        assert dst.get_run(run_id) == src.get_run(run_id)
        assert _audit_problems(dst, run_id) == []
        assert copy_store(src, dst).skipped == [run_id]


def test_a_run_copied_interrupted_and_resumed_since_is_completed_by_the_next_copy(
    tmp_path: Path,
) -> None:
    from reprolam.history.resume import resume

    _STOPS["now"] = True
    with SQLiteStore(tmp_path / "src") as src:
        with pytest.raises(KeyboardInterrupt):
            Engine(src).run(_STOPPING, planner=RulesPlanner())
        (run,) = src.list_runs()
    with SQLiteStore(tmp_path / "src") as src, SQLiteStore(tmp_path / "dst") as dst:
        assert copy_store(src, dst).copied == [run.id]
        assert dst.get_run(run.id).status is RunStatus.INTERRUPTED
        _STOPS["now"] = False
        assert resume(src, run.id, workflow=_STOPPING).succeeded
        report = copy_store(src, dst)  # refused before: "status is interrupted there"
        assert report.completed == [run.id]
        assert dst.get_run(run.id) == src.get_run(run.id)
        assert [s.status for s in dst.steps(run.id)] == [s.status for s in src.steps(run.id)]
        assert _audit_problems(dst, run.id) == []


def test_copying_again_restores_a_blob_file_missing_from_the_destination(tmp_path: Path) -> None:
    _STOPS["now"] = False
    with SQLiteStore(tmp_path / "src") as src:
        run_id = Engine(src).run(_STOPPING, planner=RulesPlanner()).id
    with SQLiteStore(tmp_path / "src") as src, SQLiteStore(tmp_path / "dst") as dst:
        copy_store(src, dst)
    (blob,) = [p for p in (tmp_path / "dst" / "artifacts").rglob("*") if p.is_file()]
    blob.unlink()
    with SQLiteStore(tmp_path / "src") as src, SQLiteStore(tmp_path / "dst") as dst:
        assert _audit_problems(dst, run_id) != []
        report = copy_store(src, dst)
        assert report.skipped == [run_id]
        assert report.artifacts == 1
        assert blob.is_file()
        assert _audit_problems(dst, run_id) == []


def test_the_cli_names_src_artifacts_when_a_source_blob_is_missing(tmp_path: Path) -> None:
    """It told the user to point --artifacts at the blobs, an option store copy ignores."""
    _STOPS["now"] = False
    with SQLiteStore(tmp_path / "src") as src:
        Engine(src).run(_STOPPING, planner=RulesPlanner())
    (blob,) = [p for p in (tmp_path / "src" / "artifacts").rglob("*") if p.is_file()]
    blob.unlink()
    done = invoke("store", "copy", str(tmp_path / "src"), str(tmp_path / "dst"))
    assert done.exit_code != 0
    assert "--src-artifacts" in done.stderr
    assert "--artifacts" not in done.stderr.replace("--src-artifacts", "")


class _CopiedMeanwhile(SQLiteStore):
    """A destination another copy writes into at the same time: each run it is about to
    create is there already (the other copy created it a moment before)."""

    def create_run(self, run: Any) -> None:
        super().create_run(run)
        super().create_run(run)


def test_a_copy_racing_another_into_the_same_store_says_to_copy_again(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "src") as src:
        populate(src)
        with _CopiedMeanwhile(tmp_path / "dst") as dst, pytest.raises(StoreError) as info:
            copy_store(src, dst)
    message = str(info.value)
    assert "appeared in" in message
    assert "another copy into the same store at the same time?" in message
    assert "create the run under a new id" not in message  # not a choice a copy has


def test_a_run_the_destination_cannot_hold_is_named(pg_dsn: str, tmp_path: Path) -> None:
    # A run failed with a NUL in its error (recorded so before reprolam escaped it): SQLite
    # holds it, PostgreSQL text cannot. The copy stopped with the server's words alone, no
    # run named, leaving one interrupted in the destination
    with open_store(tmp_path / "src") as src:
        src.create_run(make_run("fine", created_at=1.0, status=RunStatus.SUCCEEDED))
        src.create_run(
            make_run("nul", created_at=2.0, status=RunStatus.FAILED, error="bad \x00 value")
        )
        with open_store(pg_dsn, artifacts=tmp_path / "a") as dst:
            with pytest.raises(StoreError) as info:
                copy_store(src, dst)
            assert dst.get_run("nul").status is RunStatus.INTERRUPTED
    message = str(info.value)
    assert "NUL" in message
    assert "the copy stopped at run nul, which" in message
    assert "keeps as interrupted (copy in progress) until a copy completes it" in message
    assert "(1 run(s) before it were copied)" in message


def test_an_interrupted_run_resumed_in_the_destination_since_is_skipped(tmp_path: Path) -> None:
    """An older copy of a run (exported or backed up while it was interrupted) copied into a
    store where it was resumed since was refused as 'there with different content', and the
    fix named was to remove the destination's run: the finished one, for its older copy."""
    from reprolam.history.resume import resume

    _STOPS["now"] = True
    with SQLiteStore(tmp_path / "src") as src:
        with pytest.raises(KeyboardInterrupt):
            Engine(src).run(_STOPPING, planner=RulesPlanner())
        (run,) = src.list_runs()
    with SQLiteStore(tmp_path / "src") as src, SQLiteStore(tmp_path / "dst") as dst:
        assert copy_store(src, dst).copied == [run.id]
        _STOPS["now"] = False
        assert resume(dst, run.id, workflow=_STOPPING).succeeded
        finished = dst.get_run(run.id)
        steps = dst.steps(run.id)
        report = copy_store(src, dst)
        assert report.skipped == [run.id]
        assert dst.get_run(run.id) == finished
        assert dst.steps(run.id) == steps
        assert _audit_problems(dst, run.id) == []


def test_a_run_a_copy_left_unfinished_is_not_reproduced(tmp_path: Path) -> None:
    """An interrupted run with no step left started (a copy stopped midway, a run stopped
    between steps) was reproduced as far as it went and recorded as 'identical'; once
    completed, its audit called the run diverged (the re-execution 'stopped before' its
    next step)."""
    from reprolam.history.reproduce import reproduce

    _STOPS["now"] = False
    with SQLiteStore(tmp_path / "src") as src:
        run_id = Engine(src).run(_STOPPING, planner=RulesPlanner()).id
        (blob,) = [p for p in (tmp_path / "src" / "artifacts").rglob("*") if p.is_file()]
    hidden = blob.rename(tmp_path / "aside")
    with SQLiteStore(tmp_path / "src") as src, SQLiteStore(tmp_path / "dst") as dst:
        with pytest.raises(StoreError):
            copy_store(src, dst)
        result = reproduce(dst, run_id, workflow=_STOPPING)
        assert not result.reproduced
        assert result.reproduction is None  # nothing executed or written
        assert [p.kind for p in result.problems] == ["unfinished"]
        assert result.summary().startswith("not reproduced: the original run is unfinished: ")
        assert f"run {run_id} is interrupted " in result.summary()
        assert "copy it again" in result.summary()
        assert [r.id for r in dst.list_runs()] == [run_id]
    hidden.rename(blob)
    with SQLiteStore(tmp_path / "src") as src, SQLiteStore(tmp_path / "dst") as dst:
        assert copy_store(src, dst).completed == [run_id]
        assert _audit_problems(dst, run_id) == []


def test_a_run_a_copy_left_unfinished_is_not_resumed_but_copied_again(tmp_path: Path) -> None:
    """resume executed the steps a stopped copy had not copied yet (audit advised it), so
    the destination's run differed from its source's and every later copy refused it."""
    from reprolam.errors import ConfigError
    from reprolam.history.audit import audit
    from reprolam.history.resume import resume

    _STOPS["now"] = False
    with SQLiteStore(tmp_path / "src") as src:
        run_id = Engine(src).run(_STOPPING, planner=RulesPlanner()).id
        (blob,) = [p for p in (tmp_path / "src" / "artifacts").rglob("*") if p.is_file()]
    hidden = blob.rename(tmp_path / "aside")
    with SQLiteStore(tmp_path / "src") as src, SQLiteStore(tmp_path / "dst") as dst:
        with pytest.raises(StoreError):
            copy_store(src, dst)
        with pytest.raises(ConfigError, match="a copy that stopped midway") as refused:
            resume(dst, run_id, workflow=_STOPPING)
        assert "copy it again" in str(refused.value)
        (problem,) = audit(dst, run_id).problems
        assert problem.kind == "interrupted"
        assert "copy it again" in problem.message
        assert "reprolam resume" not in problem.message
        assert [r.id for r in dst.list_runs()] == [run_id]
    hidden.rename(blob)
    with SQLiteStore(tmp_path / "src") as src, SQLiteStore(tmp_path / "dst") as dst:
        assert copy_store(src, dst).completed == [run_id]
        assert dst.get_run(run_id) == src.get_run(run_id)
