"""The PostgreSQL store beyond the shared conformance suite: opening, errors, migrations,
concurrent writers and readers, and the CLI against a real server (tests/pg.py)."""

from __future__ import annotations

import json
import multiprocessing
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import psycopg
import pytest
from click.testing import CliRunner, Result
from pydantic import Field

import pg
from reprolam import ActionContext, Engine, RulesPlanner, action, workflow
from reprolam.cli.main import cli
from reprolam.errors import NotFoundError, StoreError
from reprolam.history.audit import audit
from reprolam.testing.conformance import artifact, chain, make_run, make_step
from reprolam.trace import SCHEMA_VERSION, RunStatus, StepStatus, open_store, step_hash
from reprolam.trace.migrations_dir import packaged_migrations
from reprolam.trace.postgres import INLINE_MAX, PostgresStore
from reprolam.trace.queries import RunQuery

# -- a small workflow for the engine ----------------------------------------------------------


@action(outputs=["samples"], determinism="seeded")
def draw(*, n: Annotated[int, Field(ge=1, le=100_000)] = 16, ctx: ActionContext) -> list[float]:
    """Draw n seeded standard-normal samples."""
    return [float(x) for x in ctx.rng.standard_normal(n)]


@action(outputs=["mean"])
def average(samples: list[float]) -> float:
    """Average the samples."""
    return sum(samples) / len(samples)


@action(outputs=["report"])
def summarize(samples: list[float], mean: float) -> dict[str, Any]:
    """Report the mean and the spread."""
    return {"n": len(samples), "mean": mean, "max": max(samples)}


FLOW = workflow("pg-sampling", [draw, average, summarize], outputs=["report"], goal="Summarize.")
FLOW_STEPS = 3


@pytest.fixture
def store(pg_dsn: str, tmp_path: Path) -> Iterator[PostgresStore]:
    with PostgresStore(pg_dsn, artifacts_dir=tmp_path / "artifacts") as opened:
        yield opened


def admin(dsn: str) -> psycopg.Connection[Any]:
    return psycopg.connect(dsn, autocommit=True)


def one_line_store_error(info: pytest.ExceptionInfo[Any], *words: str) -> str:
    message = str(info.value)
    assert isinstance(info.value, StoreError)
    assert "\n" not in message, message
    assert "Traceback" not in message
    for word in words:
        assert word in message, message
    return message


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


# -- opening ----------------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_open_store_builds_a_postgres_store(
    scheme: str,
    postgres: pg.PgServer,
    pg_dsn: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dsn = pg_dsn.replace("postgresql://", f"{scheme}://", 1)
    with open_store(dsn, artifacts=tmp_path / "a") as store:
        assert isinstance(store, PostgresStore)
        assert store.blobs.path == tmp_path / "a"
        assert postgres.password not in store.location
        assert store.location == dsn.replace(postgres.password, "***")
    monkeypatch.setenv("REPROLAM_ARTIFACTS", str(tmp_path / "from-env"))
    with open_store(dsn) as store:
        assert isinstance(store, PostgresStore)
        assert store.blobs.path == tmp_path / "from-env"
    assert (tmp_path / "from-env").is_dir()


def test_an_artifacts_directory_is_required(
    postgres: pg.PgServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REPROLAM_ARTIFACTS", raising=False)
    dsn = postgres.dsn()
    with pytest.raises(StoreError) as info:
        open_store(dsn)
    one_line_store_error(info, "artifacts=PATH", "REPROLAM_ARTIFACTS")
    assert postgres.password not in str(info.value)
    result = invoke("--store", dsn, "runs")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ")
    assert "--artifacts PATH" in result.stderr
    assert postgres.password not in result.output


def test_without_psycopg_the_error_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # makes `import psycopg` fail
    with pytest.raises(StoreError) as info:
        open_store("postgresql://u:pw@127.0.0.1:1/db", artifacts=str(tmp_path))
    one_line_store_error(info, "pip install 'reprolam[postgres]'")


# -- errors: one line each, never a psycopg traceback ---------------------------------------


def test_unreachable_server(tmp_path: Path) -> None:
    port = pg._free_port()  # nothing listens there
    dsn = f"postgresql://postgres:topsecret@127.0.0.1:{port}/db"
    with pytest.raises(StoreError) as info:
        PostgresStore(dsn, artifacts_dir=tmp_path)
    message = one_line_store_error(info, "Connection refused", "start the server", str(port))
    assert "topsecret" not in message
    result = invoke("--store", dsn, "--artifacts", str(tmp_path), "runs")
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("error: cannot connect")
    assert "Traceback" not in result.output
    assert "topsecret" not in result.output


def test_wrong_password(postgres: pg.PgServer, tmp_path: Path) -> None:
    dsn = postgres.dsn(password="not-the-password")
    with pytest.raises(StoreError) as info:
        PostgresStore(dsn, artifacts_dir=tmp_path)
    message = one_line_store_error(info, "password authentication failed", "check the user")
    assert "not-the-password" not in message
    result = invoke("--store", dsn, "--artifacts", str(tmp_path), "show", "x")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ")
    assert "password authentication" in result.stderr


def test_missing_database(postgres: pg.PgServer, tmp_path: Path) -> None:
    with pytest.raises(StoreError) as info:
        PostgresStore(postgres.dsn("no_such_db"), artifacts_dir=tmp_path)
    one_line_store_error(info, '"no_such_db" does not exist', "createdb")


def test_invalid_dsn(tmp_path: Path) -> None:
    with pytest.raises(StoreError) as info:
        PostgresStore("postgresql://u:pw@127.0.0.1/db?bogus=1", artifacts_dir=tmp_path)
    one_line_store_error(info, "not a valid PostgreSQL DSN", "bogus")


def test_newer_schema_version_is_refused(pg_dsn: str, tmp_path: Path) -> None:
    PostgresStore(pg_dsn, artifacts_dir=tmp_path).close()
    with admin(pg_dsn) as conn:
        conn.execute("UPDATE meta SET value = %s WHERE key = 'schema_version'", (str(99),))
    with pytest.raises(StoreError) as info:
        PostgresStore(pg_dsn, artifacts_dir=tmp_path)
    one_line_store_error(info, "schema version 99", f"supports ({SCHEMA_VERSION})", "upgrade")
    result = invoke("--store", pg_dsn, "--artifacts", str(tmp_path), "runs")
    assert result.exit_code == 2
    assert "schema version 99" in result.stderr


@pytest.mark.parametrize(
    "edit", ["DELETE FROM meta WHERE key = 'schema_version'", "DROP TABLE meta"]
)
def test_a_store_whose_meta_was_edited_is_not_called_another_applications(
    pg_dsn: str, tmp_path: Path, edit: str
) -> None:
    # It was "tables ... that are not a reprolam trace store: use another database", of the
    # team's own store (as on SQLite before)
    PostgresStore(pg_dsn, artifacts_dir=tmp_path).close()
    with admin(pg_dsn) as conn:
        conn.execute(edit)
    with pytest.raises(StoreError) as info:
        PostgresStore(pg_dsn, artifacts_dir=tmp_path)
    one_line_store_error(info, "holds a reprolam trace store's tables", "restore the database")


def test_tables_of_another_application_are_left_alone(pg_dsn: str, tmp_path: Path) -> None:
    with admin(pg_dsn) as conn:
        conn.execute("CREATE TABLE runs (id int)")
    with pytest.raises(StoreError) as info:
        PostgresStore(pg_dsn, artifacts_dir=tmp_path)
    one_line_store_error(info, "not a reprolam trace store", "search_path")
    with admin(pg_dsn) as conn:  # nothing was created next to them
        assert conn.execute("SELECT to_regclass('steps')").fetchone() == (None,)


def test_a_search_path_without_an_existing_schema(postgres: pg.PgServer, tmp_path: Path) -> None:
    dsn = postgres.dsn(postgres.database("schemas"), options="-csearch_path=not_created")
    with pytest.raises(StoreError) as info:
        PostgresStore(dsn, artifacts_dir=tmp_path)
    one_line_store_error(info, "search_path names no existing schema", "CREATE SCHEMA")


def test_a_missing_store_is_not_created_when_asked_not_to(pg_dsn: str, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="no reprolam trace store"):
        open_store(pg_dsn, artifacts=str(tmp_path), create=False)
    with admin(pg_dsn) as conn:
        assert conn.execute("SELECT to_regclass('runs')").fetchone() == (None,)


def test_a_command_that_reads_creates_no_mistyped_artifacts_directory(
    pg_dsn: str, tmp_path: Path
) -> None:
    PostgresStore(pg_dsn, artifacts_dir=tmp_path / "artifacts").close()  # the store, made
    typo = tmp_path / "artifacs"
    with pytest.raises(StoreError) as info:
        open_store(pg_dsn, artifacts=str(typo), create=False)
    one_line_store_error(info, "there is no artifacts directory", "artifacs")
    assert not typo.exists()
    open_store(pg_dsn, artifacts=str(tmp_path / "artifacts"), create=False).close()


# -- schema and migrations --------------------------------------------------------------------


def test_fresh_database_gets_the_current_schema(store: PostgresStore, pg_dsn: str) -> None:
    with admin(pg_dsn) as conn:
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
    assert meta == {"application": "reprolam", "schema_version": str(SCHEMA_VERSION)}
    assert [n for n, _ in packaged_migrations("postgresql")] == list(range(1, SCHEMA_VERSION + 1))


def test_a_version_1_store_is_upgraded_in_place(pg_dsn: str, tmp_path: Path) -> None:
    with admin(pg_dsn) as conn:
        conn.execute(packaged_migrations("postgresql")[0][1])
        conn.execute("INSERT INTO meta VALUES ('schema_version', '1'), ('application', 'reprolam')")
        conn.execute(
            "INSERT INTO runs (id, workflow, seed, created_at, planner, policy, status, "
            "overrides, outputs, host, pid) VALUES ('old', 'wf', '0', '1.5', '{}', '{}', "
            "'succeeded', '{}', '{}', 'h', 1)"
        )
    with PostgresStore(pg_dsn, artifacts_dir=tmp_path) as store:
        assert store.get_run("old").created_at == 1.5
        assert store.get_run("old").verifies is None
        store.create_run(make_run("new", verifies="old"))
        assert [r.id for r in store.list_runs(verifies="old")] == ["new"]
    with admin(pg_dsn) as conn:
        version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    assert version == (str(SCHEMA_VERSION),)


_OPEN = """
import sys
sys.path.insert(0, sys.argv[4])
from reprolam.testing.conformance import make_run
from reprolam.trace import open_store
with open_store(sys.argv[1], artifacts=sys.argv[2]) as store:
    store.create_run(make_run(sys.argv[3]))
"""
FIRST_USERS = 6


def test_concurrent_first_use_migrates_once(pg_dsn: str, tmp_path: Path) -> None:
    """Processes opening a brand-new store together: one migrates, the others wait for it.

    To make them collide for sure, this test holds an uncommitted CREATE TABLE meta until
    every process is blocked: with the advisory lock one waits on that table and the others
    on the lock; without it they would all create the tables and all but one fail."""
    tests = str(Path(__file__).parent)
    with admin(pg_dsn) as blocker:
        blocker.execute("BEGIN")
        blocker.execute("CREATE TABLE meta (key text)")
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", _OPEN, pg_dsn, str(tmp_path), f"run-{i}", tests],
                stderr=subprocess.PIPE,
                text=True,
            )
            for i in range(FIRST_USERS)
        ]
        deadline = time.monotonic() + 60
        waiting = 0
        while waiting < FIRST_USERS and time.monotonic() < deadline:
            time.sleep(0.05)
            blocker.execute("SELECT pg_stat_clear_snapshot()")  # fresh, inside a transaction
            row = blocker.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND application_name = 'reprolam' AND datname = current_database()"
            ).fetchone()
            waiting = row[0] if row else 0
        assert waiting == FIRST_USERS
        blocker.execute("ROLLBACK")
    errors = [p.communicate(timeout=60)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * FIRST_USERS, errors
    with PostgresStore(pg_dsn, artifacts_dir=tmp_path) as store:
        assert sorted(r.id for r in store.list_runs()) == [f"run-{i}" for i in range(FIRST_USERS)]
    with admin(pg_dsn) as conn:
        rows = conn.execute("SELECT key, value FROM meta ORDER BY key").fetchall()
    assert rows == [("application", "reprolam"), ("schema_version", str(SCHEMA_VERSION))]


def test_stores_in_separate_schemas_of_one_database(postgres: pg.PgServer, tmp_path: Path) -> None:
    db = postgres.database("schemas")
    a, b = postgres.create_schema(db), postgres.create_schema(db)
    with (
        PostgresStore(a, artifacts_dir=tmp_path) as sa,
        PostgresStore(b, artifacts_dir=tmp_path) as sb,
    ):
        chain(sa, "only-in-a", 2)
        assert [r.id for r in sa.list_runs()] == ["only-in-a"]
        assert sb.list_runs() == []


# -- writes -----------------------------------------------------------------------------------


def test_text_postgres_cannot_hold_is_refused_atomically(store: PostgresStore) -> None:
    store.create_run(make_run())
    small, large = artifact("kept?"), artifact(b"L" * (INLINE_MAX + 1))
    for bad, said in (
        ({"action": "a\x00b"}, "record failed"),
        ({"params": {"lone": "\udc80"}}, "not valid Unicode"),
    ):
        with pytest.raises(StoreError) as info:
            store.record(steps=[make_step("run-a", 0, **bad)], artifacts=[small, large])
        one_line_store_error(info, said)
        assert store.own_steps("run-a") == []  # the artifact rows sent before went too
        assert not store.has_artifact(small[0].digest)
        assert not store.has_artifact(large[0].digest)
    store.record(steps=[make_step("run-a", 0)], artifacts=[small])  # still usable
    assert store.has_artifact(small[0].digest)


def test_a_dropped_connection_is_replaced(store: PostgresStore, pg_dsn: str) -> None:
    chain(store, "before", 1)
    with admin(pg_dsn) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = 'reprolam' AND datname = current_database()"
        )
    assert store.get_run("before").id == "before"  # reads retry once on a new connection
    chain(store, "after", 2)
    assert len(store.own_steps("after")) == 2


def test_numbers_keep_their_exact_type_in_sql(store: PostgresStore, pg_dsn: str) -> None:
    store.create_run(make_run(seed=2**70, created_at=1_700_000_000))
    store.record(steps=[make_step("run-a", 0, duration=3, seed=-1, started_at=1.0)])
    run, (step,) = store.get_run("run-a"), store.own_steps("run-a")
    assert (run.seed, type(run.created_at), type(step.duration)) == (2**70, int, int)
    assert step.hash == step_hash(step)
    with admin(pg_dsn) as conn:  # and the columns stay usable from SQL
        row = conn.execute("SELECT started_at::float8, params::jsonb FROM steps").fetchone()
    assert row == (1.0, {})


# -- concurrent writers and readers -------------------------------------------------------


def _write_runs(dsn: str, artifacts: str, worker: int, runs: int) -> list[str]:
    with open_store(dsn, artifacts=artifacts) as store:
        engine = Engine(store)
        return [
            engine.run(FLOW, planner=RulesPlanner(), seed=worker * 1000 + i).id for i in range(runs)
        ]


def _read_runs(dsn: str, artifacts: str, until: int) -> list[int]:
    """List runs and read their traces until ``until`` runs are listed; the counts seen."""
    seen: list[int] = []
    deadline = time.monotonic() + 120
    with open_store(dsn, artifacts=artifacts) as store:
        while time.monotonic() < deadline:
            runs = store.list_runs()
            seen.append(len(runs))
            for run in runs[:5]:
                store.steps(run.id)
            if len(runs) >= until:
                break
            time.sleep(0.02)
    return seen


WORKERS, RUNS_EACH = 8, 25


def test_concurrent_writers_and_readers(pg_dsn: str, tmp_path: Path) -> None:
    artifacts = str(tmp_path / "artifacts")
    PostgresStore(pg_dsn, artifacts_dir=artifacts).close()  # the schema, so readers can start
    total = WORKERS * RUNS_EACH
    context = multiprocessing.get_context("spawn")  # no fork of a process holding threads
    with context.Pool(WORKERS + 2) as pool:
        readers = [pool.apply_async(_read_runs, (pg_dsn, artifacts, total)) for _ in range(2)]
        writers = [
            pool.apply_async(_write_runs, (pg_dsn, artifacts, w, RUNS_EACH)) for w in range(WORKERS)
        ]
        written = [run_id for w in writers for run_id in w.get(timeout=120)]
        seen = [r.get(timeout=120) for r in readers]
    assert len(set(written)) == total
    for counts in seen:  # readers saw committed runs only, and never lost one
        assert counts == sorted(counts)
        assert counts[-1] == total
    with PostgresStore(pg_dsn, artifacts_dir=artifacts) as store:
        runs = store.list_runs()
        assert sorted(r.id for r in runs) == sorted(written)
        for run in runs:
            assert run.status is RunStatus.SUCCEEDED, run
            steps = store.steps(run.id)
            assert [s.index for s in steps] == list(range(FLOW_STEPS))
            previous = run.header_hash or ""  # the chain starts at the run header
            for step in steps:
                assert step.status is StepStatus.SUCCEEDED
                assert step.hash == step_hash(step)
                assert step.prev_hash == previous
                previous = step.hash
                for d in step.outputs.values():
                    store.get_artifact(d)  # verified against its digest
            assert run.environment is not None
            json.loads(store.get_artifact(run.environment)[1])
            report = audit(store, run.id)
            assert report.clean, report.problems


# -- the CLI against a real server --------------------------------------------------------


def test_cli_run_runs_show(pg_dsn: str, tmp_path: Path) -> None:
    artifacts = str(tmp_path / "shared-artifacts")
    base = ["--store", pg_dsn, "--artifacts", artifacts]
    result = invoke(*base, "run", "--json")
    assert result.exit_code == 0, result.output
    run = json.loads(result.stdout)["run"]
    assert run["status"] == "succeeded"
    listed = json.loads(invoke(*base, "runs", "--json").stdout)
    assert [r["id"] for r in listed] == [run["id"]]
    view = json.loads(invoke(*base, "show", run["id"][:13], "--json").stdout)
    assert view["run"] == run
    assert [s["status"] for s in view["steps"]] == ["succeeded"] * 5
    assert 0.9 < view["metrics"]["accuracy"] <= 1.0
    blobs = [p for p in Path(artifacts).rglob("*") if p.is_file()]
    assert blobs  # the dataset arrays are over 32 KiB: they went to the blob directory
    # Another process (REPROLAM_STORE / REPROLAM_ARTIFACTS) sees the same trace.
    env = {"REPROLAM_STORE": pg_dsn, "REPROLAM_ARTIFACTS": artifacts}
    again = invoke("show", run["id"], "--json", env=env)
    assert json.loads(again.stdout) == view
    human = invoke(*base, "runs")
    assert human.exit_code == 0
    assert run["id"][:8] in human.output


def test_psycopgs_own_log_lines_stay_out_of_the_output(pg_dsn: str, tmp_path: Path) -> None:
    """After the server went away mid-pipeline, "error ignored terminating <psycopg.Pipeline
    [BAD]>" reached stderr amid a run's output (Python's last-resort logging handler)."""
    script = (
        "import logging\n"
        "from reprolam.trace import open_store\n"
        f"store = open_store({pg_dsn!r}, artifacts={str(tmp_path)!r})\n"
        "logging.getLogger('psycopg').warning('error ignored terminating pipeline')\n"
        "logging.getLogger('elsewhere').warning('still shown')\n"
        "store.close()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert "error ignored" not in done.stderr
    assert "still shown" in done.stderr  # Python's own fallback, for everything else


@action(outputs=["blob"])
def _big_blob() -> bytes:
    return bytes(range(256)) * 400  # over INLINE_MAX: a blob file


_BLOB_FLOW = workflow("pg-blob", [_big_blob], outputs=["blob"])


def test_reuse_repairs_a_damaged_blob_of_a_postgres_store(pg_dsn: str, tmp_path: Path) -> None:
    import reprolam

    artifacts = tmp_path / "artifacts"
    with reprolam.open(pg_dsn, artifacts=artifacts) as rl:
        first = rl.run(_BLOB_FLOW, planner="script")
    key = first.steps[0].outputs["blob"]
    blob = artifacts / key[:2] / key[2:]
    good = blob.read_bytes()
    blob.write_bytes(b"!" + good[1:])  # the same size: found only by reading it
    with reprolam.open(pg_dsn, artifacts=artifacts) as rl:
        again = rl.run(_BLOB_FLOW, planner="script", reuse=True)
        assert "damaged" in again.steps[0].proposal["cache"]
        assert blob.read_bytes() == good
        assert rl.audit(first.id).clean


def _role(postgres: pg.PgServer, dsn: str, grants: str) -> str:
    """A new login role of the database ``dsn`` names, with ``grants`` run for it; its DSN."""
    name = postgres.unique("role")
    database = dsn.rsplit("/", 1)[1]
    with admin(dsn) as conn:
        conn.execute(f"CREATE ROLE {name} LOGIN PASSWORD 'role-pw'")
        conn.execute(grants.format(role=name))
    return f"postgresql://{name}:role-pw@127.0.0.1:{postgres.port}/{database}"


def test_a_user_who_may_not_create_the_tables_is_told_to_get_the_grant(
    postgres: pg.PgServer, tmp_path: Path
) -> None:
    dsn = _role(postgres, postgres.create_database(), "REVOKE CREATE ON SCHEMA public FROM {role}")
    with pytest.raises(StoreError) as info:
        PostgresStore(dsn, artifacts_dir=tmp_path)
    # it said 'the connection to the server was lost; the store reconnects on the next call'
    one_line_store_error(info, "permission denied", "grant the user CREATE and USAGE")


def test_a_reader_opens_a_store_holding_a_run_whose_process_died(
    postgres: pg.PgServer, tmp_path: Path
) -> None:
    dsn = postgres.create_database()
    with PostgresStore(dsn, artifacts_dir=tmp_path) as writer:
        writer.create_run(make_run("dead", pid=999_999, host="elsewhere"))  # nobody holds it
    reader = _role(postgres, dsn, "GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
    with PostgresStore(reader, artifacts_dir=tmp_path, create=False) as store:
        assert [run.id for run in store.list_runs()] == ["dead"]  # it failed: permission denied
    with PostgresStore(dsn, artifacts_dir=tmp_path) as writer:  # the next writer marks it
        assert writer.get_run("dead").status is RunStatus.INTERRUPTED


def test_a_reader_sees_a_run_whose_process_died_as_interrupted_though_it_may_not_mark_it(
    postgres: pg.PgServer, tmp_path: Path
) -> None:
    """A dashboard's user (SELECT only) found the run's lease free, but cannot write the mark:
    runs and show said `running` for a run nobody runs, until a writer opened the store."""
    from dataclasses import replace

    from reprolam.trace.leases import interrupted_reason

    dsn = postgres.create_database()
    live = PostgresStore(dsn, artifacts_dir=tmp_path)
    with live.lease("alive"):
        live.create_run(make_run("alive", pid=999_998, host="elsewhere"))  # its process holds it
        live.create_run(make_run("dead", pid=999_999, host="elsewhere"))  # nobody holds it
    reader = _role(postgres, dsn, "GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
    with live.lease("alive"), PostgresStore(reader, artifacts_dir=tmp_path, create=False) as store:
        reason = interrupted_reason(999_999, "elsewhere")
        dead = store.get_run("dead")
        assert (dead.status, dead.error) == (RunStatus.INTERRUPTED, reason)
        assert {r.id: r.status for r in store.list_runs()} == {
            "dead": RunStatus.INTERRUPTED,
            "alive": RunStatus.RUNNING,
        }
        with PostgresStore(dsn, artifacts_dir=tmp_path) as writer, writer.lease("dead"):
            resumed = replace(writer.get_run("dead"), status=RunStatus.RUNNING, error=None, pid=7)
            writer.record(run=resumed)
            assert store.get_run("dead").status is RunStatus.RUNNING
    live.close()


def test_a_run_whose_process_ends_while_a_store_is_open_is_interrupted_there(
    postgres: pg.PgServer, tmp_path: Path
) -> None:
    """A dashboard (the UI, a notebook) opened the store while the run was executing; its
    process died later: runs, show and the run's live page said running for as long as the
    dashboard stayed open, though the lease had been free since."""
    from reprolam.trace.leases import interrupted_reason

    dsn = postgres.create_database()
    running = PostgresStore(dsn, artifacts_dir=tmp_path)
    reader = _role(postgres, dsn, "GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
    with running.lease("r"):
        running.create_run(make_run("r", pid=999_999, host="elsewhere"))
        writer = PostgresStore(dsn, artifacts_dir=tmp_path)
        watcher = PostgresStore(reader, artifacts_dir=tmp_path, create=False)
        assert watcher.get_run("r").status is RunStatus.RUNNING  # alive: its lease is held
        assert writer.get_run("r").status is RunStatus.RUNNING
    running.close()  # the process ends
    reason = interrupted_reason(999_999, "elsewhere")
    run = watcher.get_run("r")
    assert (run.status, run.error) == (RunStatus.INTERRUPTED, reason)  # said, not written
    assert [r.status for r in watcher.list_runs()] == [RunStatus.INTERRUPTED]
    (row,) = watcher.query_runs(RunQuery(ids=("r",), limit=1)).rows
    assert row.run.status is RunStatus.INTERRUPTED
    assert writer.get_run("r").status is RunStatus.INTERRUPTED  # marked: resumable
    with admin(dsn) as conn:
        assert conn.execute("SELECT status FROM runs").fetchall() == [("interrupted",)]
    writer.close()
    watcher.close()


class _OddNamePlanner:
    """Proposes one action whose name no store's text column takes as it is, then stops."""

    name = "odd-names"
    instant = True

    def __init__(self) -> None:
        self.proposed = False

    def propose(self, state: Any) -> Any:
        from reprolam import Done, Proposal

        if self.proposed:
            return Done()
        self.proposed = True
        return Proposal("load\x00data\ud800set", params={"k\ud800": "v\x00"}, rationale="\udce9")

    def config(self) -> dict[str, Any]:
        return {"name": self.name}


@pytest.mark.parametrize("backend", ["postgres", "sqlite"])
def test_a_proposal_named_with_a_nul_or_a_lone_surrogate_is_a_recorded_rejection(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    import reprolam
    from reprolam.workflows.breast_cancer import workflow as breast_cancer

    # PostgreSQL text holds no NUL, and no store holds a lone surrogate: recording the
    # rejection failed and the run stopped with a store error
    where = request.getfixturevalue("pg_dsn") if backend == "postgres" else tmp_path / "s"
    with reprolam.open(where, artifacts=tmp_path / "artifacts") as rl:
        result = rl.run(breast_cancer, planner=_OddNamePlanner())
        [step] = rl.show(result.id).steps
        assert step.status.value == "rejected"
        assert step.action == "load\\x00data\\ud800set"
        assert step.params == {"k\\ud800": "v\x00"}
        assert "load\\x00data\\ud800set" in step.error.message
        assert rl.audit(result.id).clean


@action(outputs=["mean"])
def fails_with_a_nul(samples: list[float]) -> float:
    raise ValueError("bad \x00 value \ud800")


@pytest.mark.parametrize("backend", ["postgres", "sqlite"])
def test_an_action_failing_with_a_nul_in_its_message_is_a_recorded_failure(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    import reprolam

    # PostgreSQL text holds no NUL: the failed step's run could not be given its end (the
    # run's error quotes the message), and the run stopped with a store error, interrupted,
    # 'once the store works again, continue it with reprolam resume', which failed the same way
    where = request.getfixturevalue("pg_dsn") if backend == "postgres" else tmp_path / "s"
    flow = workflow("nul-failure", [draw, fails_with_a_nul], outputs=["mean"])
    with reprolam.open(where, artifacts=tmp_path / "artifacts") as rl:
        result = rl.run(flow, planner=RulesPlanner())
        run = rl.show(result.id)
        assert run.run.status is RunStatus.FAILED
        failed = run.steps[1]
        assert failed.status is StepStatus.FAILED
        assert failed.error.message == "bad \\x00 value \\ud800"
        assert "ValueError: bad \\x00 value \\ud800" in failed.error.traceback
        assert "bad \\x00 value" in (run.run.error or "")
        assert rl.audit(result.id).clean


def test_a_reader_of_an_older_store_is_told_its_version_and_who_must_upgrade_it(
    postgres: pg.PgServer, tmp_path: Path
) -> None:
    owner = postgres.create_database()
    PostgresStore(owner, artifacts_dir=tmp_path).close()
    with admin(owner) as conn:
        conn.execute(
            "UPDATE meta SET value = %s WHERE key = 'schema_version'", (str(SCHEMA_VERSION - 1),)
        )
    grants = (
        "GRANT USAGE ON SCHEMA public TO {role}; "
        "GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}"
    )
    reader = _role(postgres, owner, grants)
    with pytest.raises(StoreError) as info:
        PostgresStore(reader, artifacts_dir=tmp_path)
    # it said 'permission denied for table meta: grant the user CREATE and USAGE on the schema'
    one_line_store_error(
        info, f"schema version {SCHEMA_VERSION - 1}", "may not upgrade it", "as a user with rights"
    )
    PostgresStore(owner, artifacts_dir=tmp_path).close()  # the owner upgrades it
    PostgresStore(reader, artifacts_dir=tmp_path).close()  # then the reader reads it
