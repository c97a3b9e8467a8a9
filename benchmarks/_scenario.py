"""What the scenario benchmarks share: a chain of trivial steps with values no other run
produced, planners that note when the first new step could start, and a big store.

Everything here goes through the public API (``reprolam.open``, ``Client`` verbs, the CLI,
the store's public methods), so the benchmarks keep working while the internals change.
The one exception is ``big_store``, which copies rows with SQL that discovers the schema at
run time (any table with a ``run_id`` column follows its run), so it does not depend on
which columns or tables a migration adds.
"""

from __future__ import annotations

import atexit
import compileall
import shutil
import sqlite3
import sys
import tempfile
import time
from contextlib import closing, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import reprolam
from reprolam import Done, Policy, Proposal, RunState, action, workflow
from reprolam.ids import uuid7


@action(outputs=["x"])
def start(*, base: int = 0) -> int:
    """The chain's first value; ``base`` makes every run's values new to the store."""
    return base


@action(outputs=["x"])
def inc(x: int) -> int:
    """A trivial step."""
    return x + 1


CHAIN = workflow("chain", [start, inc], outputs=["x"])


class Interrupt(BaseException):
    """Raised by a planner to leave its run interrupted (as a crash or Ctrl-C would)."""


class ChainPlanner:
    """``start`` then ``inc`` until ``steps`` steps; then Done, or ``Interrupt`` if asked."""

    name = "chain"
    instant = True

    def __init__(self, steps: int, *, interrupt: bool = False) -> None:
        self.steps = steps
        self.interrupt = interrupt
        self.proposed = 0
        self.run_id = ""

    def propose(self, state: RunState) -> Proposal | Done:
        self.run_id = state.run_id
        if self.proposed >= self.steps:
            if self.interrupt:
                raise Interrupt
            return Done()
        self.proposed += 1
        return Proposal("inc" if self.proposed > 1 else "start")

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "steps": self.steps}


class FirstProposal:
    """Notes when the engine first asks for a step (the first new step could start now),
    then stops the run: with Done, or by interrupting it so it can be resumed again."""

    name = "first-proposal"
    instant = True

    def __init__(self, *, interrupt: bool = False) -> None:
        self.interrupt = interrupt
        self.asked_at: float | None = None

    def propose(self, state: RunState) -> Done:
        if self.asked_at is None:
            self.asked_at = time.perf_counter()
        if self.interrupt:
            raise Interrupt
        return Done("measured the start only")

    def config(self) -> dict[str, Any]:
        return {"name": self.name}


_bases = iter(range(1, 1 << 62, 1 << 32))


def fresh_base() -> int:
    """A chain start no earlier chain in this process used (so its values are new)."""
    return next(_bases)


def record_chain(client: reprolam.Client, steps: int, *, interrupt: bool = False) -> str:
    """Record a ``steps``-step chain with new values; returns its run id (applied to the
    store, not just journaled). ``interrupt``: leave it interrupted after the last step."""
    planner = ChainPlanner(steps, interrupt=interrupt)
    policy = Policy(max_steps=steps + 10)
    overrides = {"start.base": fresh_base()}
    try:
        result = client.run(CHAIN, planner=planner, policy=policy, set=overrides)
    except Interrupt:
        client.store.flush()
        return planner.run_id
    client.store.flush()
    assert result.succeeded, result
    return result.id


def per_step_recording(client: reprolam.Client, steps: int) -> float:
    """Seconds per step of one ``steps``-step chain, every step applied to the store."""
    t0 = time.perf_counter()
    record_chain(client, steps)
    return (time.perf_counter() - t0) / steps


def per_step_plain(steps: int) -> float:
    """Seconds per step of the same chain as plain function calls (the floor)."""
    t0 = time.perf_counter()
    x = start(base=fresh_base())
    for _ in range(steps - 1):
        x = inc(x)
    return (time.perf_counter() - t0) / steps


def fork_start(client: reprolam.Client, parent: str, at: int) -> float:
    """Seconds from calling ``fork`` until the fork's first new step could start."""
    probe = FirstProposal()
    t0 = time.perf_counter()
    client.fork(parent, at=at, planner=probe, workflow=CHAIN)
    assert probe.asked_at is not None
    return probe.asked_at - t0


def resume_start(client: reprolam.Client, run_id: str) -> float:
    """Seconds from calling ``resume`` on an interrupted run until its next step could start
    (the run is left interrupted again, ready for the next measurement)."""
    probe = FirstProposal(interrupt=True)
    t0 = time.perf_counter()
    with suppress(Interrupt):
        client.resume(run_id, planner=probe, workflow=CHAIN)
    assert probe.asked_at is not None
    return probe.asked_at - t0


# -- command lines -----------------------------------------------------------------------------


def cli(*args: str) -> list[str]:
    """``reprolam ARGS`` as a user runs it: the installed console script when there is one,
    reading compiled modules as after ``pip install`` (an editable install from a checkout, or
    ``PYTHONDONTWRITEBYTECODE``, would otherwise make every process compile reprolam)."""
    _compile_once()
    script = Path(sys.executable).with_name("reprolam")
    if script.exists():
        return [str(script), *args]
    return [sys.executable, "-m", "reprolam", *args]


_compiled: list[bool] = []


def _compile_once() -> None:
    if not _compiled:
        compileall.compile_dir(Path(reprolam.__file__).parent, quiet=1)
        _compiled.append(True)


# -- a big store -------------------------------------------------------------------------------


@dataclass(frozen=True)
class BigStore:
    root: Path
    recorded: str  # the run recorded through the engine (the others are copies of it)


_built: dict[tuple[int, int], BigStore] = {}


def big_store(total_steps: int, steps_per_run: int = 10_000) -> BigStore:
    """A SQLite store holding ``total_steps`` steps in runs of ``steps_per_run`` (built once
    per process, removed at exit).

    One run is recorded through the engine; the others are copies of its rows under new run
    ids, with new random digests for its artifacts, so the artifact B-tree holds as many keys
    at random positions as a store of that many genuinely recorded steps would. Copied runs
    are for size only (their hash chains name the original run and do not verify).
    """
    key = (total_steps, steps_per_run)
    if key in _built:
        return _built[key]
    root = Path(tempfile.mkdtemp(prefix="reprolam-bench-big-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    with reprolam.open(root) as client:
        original = record_chain(client, steps_per_run)
    copies = max(0, total_steps // steps_per_run - 1)
    with closing(sqlite3.connect(root / "trace.db", isolation_level=None)) as conn:
        conn.execute("PRAGMA cache_size = -262144")  # 256 MiB while building
        conn.execute("BEGIN")
        for _ in range(copies):
            _copy_run(conn, original, uuid7())
        _merge_recent_keys(conn)
        conn.execute("COMMIT")
        conn.execute("ANALYZE")
    _built[key] = BigStore(root, original)
    return _built[key]


def copied_columns(conn: sqlite3.Connection, table: str) -> list[str]:
    """The columns to copy: all but a rowid alias (``seq INTEGER PRIMARY KEY``: new rows get
    new ones, in order)."""
    info = list(conn.execute(f"PRAGMA table_info({table})"))
    rowid_alias = [row[1] for row in info if row[5] == 1 and row[2].upper() == "INTEGER"]
    if len(rowid_alias) != 1 or sum(row[5] > 0 for row in info) != 1:
        rowid_alias = []
    return [row[1] for row in info if row[1] not in rowid_alias]


def _tables(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def _merge_recent_keys(conn: sqlite3.Connection) -> None:
    """Schema 7 keeps lookup keys in levels (small tables merged into the main one now and
    then): leave them as the store would after merging, the main tables holding all the
    steps' keys at random positions."""
    tables = _tables(conn)
    for main in ("artifact_keys", "step_keys"):
        for level in ("_recent", "_middle"):
            if main in tables and f"{main}{level}" in tables:
                conn.execute(f"INSERT OR IGNORE INTO {main} SELECT * FROM {main}{level}")
                conn.execute(f"DELETE FROM {main}{level}")


def _copy_run(conn: sqlite3.Connection, run_id: str, new_id: str) -> None:
    tables = sorted(t for t in _tables(conn) if not t.startswith("sqlite_"))
    for table in tables:
        columns = copied_columns(conn, table)
        if table == "runs":
            select = ["?" if c == "id" else c for c in columns]
            where = "id = ?"
        elif table == "artifacts":
            select = [
                "lower(hex(randomblob(32)))" if c == "digest" else "?" if c == "producer_run" else c
                for c in columns
            ]
            where = "producer_run = ?"
        elif "run_id" in columns:
            select = ["?" if c == "run_id" else c for c in columns]
            where = "run_id = ?"
        else:
            continue
        conn.execute(
            f"INSERT INTO {table} ({', '.join(columns)}) "
            f"SELECT {', '.join(select)} FROM {table} WHERE {where}",
            (new_id, run_id),
        )
    if "artifact_keys" in tables:  # schema 7: the new digests are found by their keys
        conn.execute(
            "INSERT INTO artifact_keys (key, seq) SELECT substr(digest, 1, 8), seq "
            "FROM artifacts WHERE producer_run = ?",
            (new_id,),
        )
    if "step_keys" in tables:  # and the copied steps by their cache keys (run by number)
        conn.execute(
            "INSERT INTO step_keys (key, num, idx) SELECT key, "
            "(SELECT num FROM run_numbers WHERE run_id = ?), idx FROM step_index "
            "WHERE num = (SELECT num FROM run_numbers WHERE run_id = ?)",
            (new_id, run_id),
        )
