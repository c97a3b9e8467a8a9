"""open_store: from a location to a backend."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import reprolam
from reprolam import ActionContext, action, workflow
from reprolam.errors import StoreError
from reprolam.trace import MemoryStore, SQLiteStore, open_store


def test_default_location(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("REPROLAM_STORE", raising=False)
    with open_store() as store:
        assert isinstance(store, SQLiteStore)
        assert store.location == ".reprolam"
    assert (tmp_path / ".reprolam" / "trace.db").is_file()
    assert (tmp_path / ".reprolam" / "artifacts").is_dir()


def test_environment_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPROLAM_STORE", str(tmp_path / "from-env"))
    with open_store() as store:
        assert store.location == str(tmp_path / "from-env")
    monkeypatch.setenv("REPROLAM_STORE", "memory:")
    with open_store() as store:
        assert isinstance(store, MemoryStore)


def test_memory() -> None:
    with open_store("memory:") as store:
        assert isinstance(store, MemoryStore)
        assert store.location == "memory:"
    with pytest.raises(StoreError, match="memory"):
        open_store("memory:", artifacts="/tmp/blobs")


def test_directory_as_path_object(tmp_path: Path) -> None:
    with open_store(tmp_path / "a" / "b", artifacts=str(tmp_path / "blobs")) as store:
        assert isinstance(store, SQLiteStore)
        assert store.blobs.path == tmp_path / "blobs"
    assert (tmp_path / "a" / "b" / "trace.db").is_file()


@pytest.mark.parametrize(
    "dsn", ["postgresql://user:secret@db.example/trace", "postgres://db.example/trace"]
)
def test_postgres_needs_an_artifacts_directory(dsn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REPROLAM_ARTIFACTS", raising=False)
    with pytest.raises(StoreError, match="pass artifacts=PATH or set REPROLAM_ARTIFACTS") as info:
        open_store(dsn)  # refused before connecting: tests/test_store_postgres.py has the rest
    assert "secret" not in str(info.value)


@pytest.mark.parametrize("where", ["rlam", "verb", "notebook"])
def test_a_dsn_where_no_artifacts_can_be_passed_names_the_ways_that_work(
    where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """rlam's ExecutionTrace(store=DSN), reprolam.runs(store=DSN) and notebook.trace(DSN, ...)
    said 'pass artifacts=PATH', which none of them takes."""
    import reprolam
    from reprolam.compat import rlam
    from reprolam.notebook import trace

    monkeypatch.delenv("REPROLAM_ARTIFACTS", raising=False)
    dsn = "postgresql://user:secret@db.example/trace"
    call = {
        "rlam": lambda: rlam.ExecutionTrace(store=dsn).store,
        "verb": lambda: reprolam.runs(store=dsn),
        "notebook": lambda: trace(dsn, "0196"),
    }[where]
    with pytest.raises(StoreError) as info:
        call()  # refused before connecting
    message = str(info.value)
    assert "set REPROLAM_ARTIFACTS" in message
    assert "store=reprolam.open(DSN, artifacts=PATH)" in message
    assert "secret" not in message


@pytest.mark.parametrize("location", ["", "  "])
def test_an_empty_location_is_refused_not_read_as_the_current_directory(
    location: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """reprolam.open(''), --store '' and `store copy SRC ''` made a store in the current
    directory (trace.db and artifacts/ among the user's files)."""
    from click.testing import CliRunner

    from reprolam.cli.main import cli

    monkeypatch.chdir(tmp_path)
    SQLiteStore(tmp_path / "src").close()
    with pytest.raises(StoreError, match=r"store location .* is empty: pass a directory"):
        open_store(location)
    for args in (
        ["--store", location, "run", "--planner", "script"],
        ["store", "copy", "src", location],
    ):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 2, result.output
        assert f"error: store location {location!r} is empty: pass a directory" in result.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["src"]


def test_unknown_scheme() -> None:
    with pytest.raises(StoreError, match="unsupported store location"):
        open_store("s3://bucket/trace")


def test_importing_the_trace_package_stays_light() -> None:
    code = (
        "import sys, reprolam.trace; "
        "print(sorted(m for m in ('numpy', 'pandas', 'sklearn') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@action(outputs=["a"])
def _wander(*, to: str = "") -> int:
    os.chdir(to)  # legacy simulation code often runs in a directory of its own
    return 1


@action(outputs=["f"])
def _write_file(a: int, *, ctx: ActionContext) -> Path:
    path = ctx.workdir / "out.txt"
    path.write_text("hi")
    return path


@action(outputs=["text"])
def _read_file(f: Path) -> str:
    return Path(f).read_text()


def test_a_relative_store_survives_an_action_that_changes_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "project").mkdir()
    monkeypatch.chdir(tmp_path / "project")
    flow = workflow("wander", [_wander, _write_file, _read_file], outputs=["text"])
    with reprolam.open(".reprolam") as rl:
        run = rl.run(flow, set={"_wander.to": str(elsewhere)})
        assert run.succeeded
        assert run.outputs["text"] == "hi"
    assert list(elsewhere.iterdir()) == []  # nothing of the store landed in the new directory
    with reprolam.open(tmp_path / "project" / ".reprolam") as rl:
        assert [s.status.value for s in rl.show(run.id).steps] == ["succeeded"] * 3
        assert rl.replay(run.id).verified
        assert rl.audit(run.id).problems == []


@pytest.mark.parametrize(
    "conninfo",
    [
        "host=127.0.0.1 port=5432 user=me password=secret dbname=trace",
        "dbname=trace",
        "service=team password = secret",
    ],
)
def test_a_keyword_value_dsn_is_refused_not_made_a_directory(
    conninfo: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(StoreError, match="write it as a URI, postgresql://") as info:
        open_store(conninfo, artifacts=str(tmp_path / "blobs"))
    assert "secret" not in str(info.value)
    assert list(tmp_path.iterdir()) == []  # no SQLite store under that name, password and all


@pytest.mark.parametrize(
    ("dsn", "shown"),
    [
        ("postgresql://me:s3cret@db:5432/trace", "postgresql://me:***@db:5432/trace"),
        # generated passwords hold / ? @ unencoded: libpq then misreads the DSN and refuses it,
        # and the error named the DSN with the password in clear
        ("postgresql://me:ab/s3cret@db/trace", "postgresql://me:***@db/trace"),
        ("postgres://me:a/b?s3cret@db:5432/trace", "postgres://me:***@db:5432/trace"),
        ("postgresql://me:s3/c?r3st#x@db/trace", "postgresql://me:***@db/trace"),
        ("postgresql://me:a@s3cret@db/trace", "postgresql://me:***@db/trace"),
        ("postgresql://db:5432/trace?user=me@corp", "postgresql://db:5432/trace?user=me@corp"),
        (
            "postgresql://me:pw@db/t?application_name=a@b",
            "postgresql://me:***@db/t?application_name=a@b",
        ),
        (
            "postgresql://me@[::1]:5432/trace?password=s3cret",
            "postgresql://me@[::1]:5432/trace?password=***",
        ),
    ],
)
def test_a_dsn_is_shown_without_its_password(dsn: str, shown: str, tmp_path: Path) -> None:
    from reprolam.trace._dsn import redact

    assert redact(dsn) == shown
    if "://db" in dsn or "@db" in dsn:  # no such host: the error names the DSN, masked
        with pytest.raises(StoreError) as info:
            open_store(
                dsn.replace("@db", "@127.0.0.1:1").replace("://db", "://127.0.0.1:1"),
                artifacts=tmp_path,
            )
        assert "s3cret" not in str(info.value)
        assert "r3st" not in str(info.value)  # libpq quotes the query it misread: "r3st#x@..."


@pytest.mark.parametrize(
    "dsn",
    [
        "postgresql://me:a%2@127.0.0.1:1/trace",
        "postgresql://me@127.0.0.1:1/trace?password=a%2",
        "postgresql://me:a%zz@127.0.0.1:1/trace",
    ],
)
def test_a_short_password_libpq_quotes_is_masked(dsn: str, tmp_path: Path) -> None:
    # libpq quotes the token it refuses; masking only pieces of 4 characters or more left a
    # short password whole in the error ('invalid percent-encoded token: "a%2"')
    with pytest.raises(StoreError, match="not a valid PostgreSQL DSN") as info:
        open_store(dsn, artifacts=tmp_path)
    assert "a%2" not in str(info.value)
    assert "a%zz" not in str(info.value)
    assert '"***"' in str(info.value)


@pytest.mark.parametrize(
    "dsn",
    [
        "postgresql://me:ab@s3cretpw@127.0.0.1:1/trace",  # libpq: cannot resolve 's3cretpw@...'
        "postgresql://me@127.0.0.1:1/trace?password=zz%zzs3cret",  # a token it cannot decode
    ],
)
def test_a_traceback_of_a_refused_dsn_shows_no_password(dsn: str, tmp_path: Path) -> None:
    # The error's own text was masked, but libpq's exception, chained as its cause, went
    # with it: a traceback (logging.exception in the user's application) printed the password
    import traceback

    with pytest.raises(StoreError) as info:
        open_store(dsn, artifacts=tmp_path)
    printed = "".join(traceback.format_exception(info.value))
    assert "s3cret" not in printed
    assert "***" in printed


BIG_FLOW = """
from reprolam import action, workflow

@action(outputs=["big"])
def big() -> str:
    return "x" * 100_000  # stored as a blob file

flow = workflow("big", [big], outputs=["big"])
"""


def test_the_team_artifacts_variable_leaves_a_sqlite_stores_blobs_where_they_belong(
    tmp_path: Path,
) -> None:
    # REPROLAM_ARTIFACTS names the PostgreSQL store's shared directory (README): a SQLite
    # store run from the same shell put its blob files there, and without the variable (or
    # from Python, which never read it for SQLite) the store was missing them
    (tmp_path / "flows.py").write_text(BIG_FLOW)
    shared, mine = tmp_path / "team-artifacts", tmp_path / "mine"
    env = {**os.environ, "REPROLAM_ARTIFACTS": str(shared), "PYTHONPATH": os.pathsep.join(sys.path)}
    made = subprocess.run(
        [sys.executable, "-m", "reprolam", "--store", str(mine), "run", f"{tmp_path}/flows.py"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    assert not shared.exists()
    with reprolam.open(mine) as rl:
        (run,) = rl.runs()
        assert rl.audit(run.id).problems == []
