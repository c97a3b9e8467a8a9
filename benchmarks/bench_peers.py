"""The cost of recording one durable step of a trivial function, reprolam vs its peers.

Same process, interleaved rounds (each round runs every contender once, in turn), medians;
each round is a chain of ``--steps`` steps of ``x + 1``, and the figure is the chain's time
divided by its steps:

* reprolam, SQLite store: ``Client.run`` of the chain (default durability, and ``fsync``);
* DBOS Transact on SQLite: a ``@DBOS.workflow`` calling a ``@DBOS.step`` per step (each
  step's output checkpointed in the system database before the next step starts);
* LangGraph with its SQLite checkpointer (``SqliteSaver``): a one-node graph looping on
  itself, ``durability="sync"`` (each super-step's checkpoint written before the next);
* MLflow with a SQLite tracking store: ``MlflowClient.log_metric`` of each step's value;
* ``rlam`` 0.1.0 (in memory, not durable), for reference.

Then fork start on a 10,000-step history (1,000 with ``--quick``), until the first new step
runs: reprolam's ``Client.fork`` vs LangGraph's (``update_state`` on the last checkpoint,
then ``invoke`` from the branch), both on the crash-durable configuration, interleaved.

Each contender's durable configuration is read back from its own connection where it can
be, and printed. Needs ``pip install 'reprolam[bench-peers]'``.

    python benchmarks/bench_peers.py            # 1,000-step chains, 5 rounds
    python benchmarks/bench_peers.py --quick    # 100-step chains, 2 rounds
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sqlite3
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypedDict

sys.path.insert(0, str(Path(__file__).parent))

import reprolam
from _report import figure, load, ms, us
from _scenario import fork_start, per_step_plain, per_step_recording, record_chain
from _timing import Interleaved, interleaved
from bench_record import per_step_rlam
from reprolam.trace import SQLiteStore


def _pragmas(path: Path, conn: sqlite3.Connection | None = None) -> str:
    """journal_mode (kept in the file) and synchronous (per connection: ``conn``'s, else a
    fresh connection's, which is what a library that sets nothing gets)."""
    with sqlite3.connect(path) as fresh:
        journal = fresh.execute("PRAGMA journal_mode").fetchone()[0]
        sync = (conn or fresh).execute("PRAGMA synchronous").fetchone()[0]
        sync = SYNCHRONOUS.get(path.name, sync)
    fresh.close()
    names = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
    return f"journal_mode={journal}, synchronous={names.get(sync, sync)}"


CRASH = "durable against a process crash (no fsync per step)"
POWER = "durable against power loss (fsync per step)"


SYNCHRONOUS: dict[str, int] = {}  # database file name -> synchronous read back by the hook


def _normal_sqlite(dbapi_conn: Any, record: Any) -> None:
    """SQLAlchemy connect hook: WAL + synchronous=NORMAL on databases named ``*-normal*``
    (what reprolam's default durability is), SQLite's defaults elsewhere."""
    files = [row[2] for row in dbapi_conn.execute("PRAGMA database_list") if row[2]]
    for name in (Path(f).name for f in files):
        if "-normal" in name:
            dbapi_conn.execute("PRAGMA journal_mode=WAL")
            dbapi_conn.execute("PRAGMA synchronous=NORMAL")
            SYNCHRONOUS[name] = dbapi_conn.execute("PRAGMA synchronous").fetchone()[0]


def _hook_sqlalchemy() -> None:
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    if not event.contains(Engine, "connect", _normal_sqlite):
        event.listen(Engine, "connect", _normal_sqlite)


class Peer:
    """One contender: ``measure(steps)`` records a chain and returns seconds per step."""

    label: str
    config: str = ""
    tier: str = CRASH

    def measure(self, steps: int) -> float:
        raise NotImplementedError

    def close(self) -> None:
        return None


class Reprolam(Peer):
    def __init__(self, root: Path, *, fsync: bool) -> None:
        self.label = "reprolam, SQLite" + (" (fsync=True)" if fsync else "")
        self.tier = POWER if fsync else CRASH
        self.store = SQLiteStore(root, fsync=fsync)
        self.client = reprolam.open(self.store)
        per_step_recording(self.client, 10)  # warm: the first run reads what cannot change
        with sqlite3.connect(root / "trace.db") as conn:
            journal = conn.execute("PRAGMA journal_mode").fetchone()[0]
        conn.close()
        self.config = (
            f"journal_mode={journal}, synchronous=FULL (set by reprolam for fsync=True): "
            "each step one SQLite commit"
            if fsync
            else f"journal_mode={journal}, synchronous=NORMAL (reprolam's default): each step "
            "one checksummed write() to a per-process journal before the next step, applied "
            "to SQLite in batches"
        )

    def measure(self, steps: int) -> float:
        return per_step_recording(self.client, steps)

    def close(self) -> None:
        self.client.close()
        self.store.close()


class Dbos(Peer):
    label = "DBOS Transact, SQLite"

    def __init__(self, root: Path, *, normal: bool) -> None:
        from dbos import DBOS

        _hook_sqlalchemy()
        db = root / ("dbos-normal.sqlite" if normal else "dbos.sqlite")
        self.label += " (WAL, synchronous=NORMAL)" if normal else " (SQLite defaults)"
        self.tier = CRASH if normal else POWER
        DBOS(
            config={
                "name": "bench",
                "system_database_url": f"sqlite:///{db}",
                "log_level": "WARNING",
            }
        )

        @DBOS.step()
        def inc_step(x: int) -> int:
            return x + 1

        @DBOS.workflow()
        def chain(steps: int) -> int:
            x = 0
            for _ in range(steps):
                x = inc_step(x)
            return x

        self.chain = chain
        self.dbos = DBOS
        DBOS.launch()
        chain(3)
        self.config = f"{_pragmas(db)}" + (
            " (set by us on DBOS's connections: reprolam's default durability)"
            if normal
            else " (DBOS sets only busy_timeout and foreign_keys: SQLite's defaults)"
        )
        self.config += "; each step's output one transaction, committed before the next step"

    def measure(self, steps: int) -> float:
        t0 = time.perf_counter()
        assert self.chain(steps) == steps
        return (time.perf_counter() - t0) / steps

    def close(self) -> None:
        self.dbos.destroy()


class GraphState(TypedDict):
    x: int
    limit: int


NODE_CALLS: list[float] = []  # when graph_inc ran (for the fork-start comparison)


def graph_inc(state: GraphState) -> dict[str, int]:
    NODE_CALLS.append(time.perf_counter())
    return {"x": state["x"] + 1}


class LangGraph(Peer):
    def __init__(self, root: Path, *, normal: bool) -> None:
        from langgraph.checkpoint.sqlite import SqliteSaver
        from langgraph.graph import END, START, StateGraph

        def route(state: GraphState) -> str:
            return END if state["x"] >= state["limit"] else "inc"

        graph = StateGraph(GraphState)
        graph.add_node("inc", graph_inc)
        graph.add_edge(START, "inc")
        graph.add_conditional_edges("inc", route, ["inc", END])
        db = root / ("langgraph-normal.sqlite" if normal else "langgraph.sqlite")
        self.conn = sqlite3.connect(db, check_same_thread=False)
        saver = SqliteSaver(self.conn)
        saver.setup()
        if normal:
            self.conn.execute("PRAGMA synchronous=NORMAL")
        self.app = graph.compile(checkpointer=saver)
        self.label = "LangGraph SqliteSaver" + (" (synchronous=NORMAL)" if normal else "")
        self.tier = CRASH if normal else POWER
        self.measure(3)
        self.config = f"{_pragmas(db, self.conn)}" + (
            " (synchronous set by us: reprolam's default durability)"
            if normal
            else " (SqliteSaver sets WAL; synchronous is SQLite's default)"
        )
        self.config += "; durability='sync': each super-step's checkpoint committed before the next"

    def measure(self, steps: int) -> float:
        t0 = time.perf_counter()
        self.thread(steps)
        return (time.perf_counter() - t0) / steps

    def thread(self, steps: int) -> Any:
        """A new thread of ``steps`` super-steps; returns its config."""
        config: Any = {
            "configurable": {"thread_id": uuid.uuid4().hex},
            "recursion_limit": steps + 10,
        }
        out = self.app.invoke({"x": 0, "limit": steps}, config, durability="sync")
        assert out["x"] == steps
        NODE_CALLS.clear()
        return self.app.get_state(config).config

    def fork_start(self, checkpoint: Any) -> float:
        """From asking for a branch at ``checkpoint`` until its first new node runs:
        LangGraph's fork (``update_state`` on a past checkpoint, then ``invoke`` from it)."""
        NODE_CALLS.clear()
        t0 = time.perf_counter()
        state = self.app.get_state(checkpoint)
        branch = self.app.update_state(checkpoint, {"limit": state.values["limit"] + 1})
        self.app.invoke(None, branch, durability="sync")
        return NODE_CALLS[0] - t0

    def close(self) -> None:
        self.conn.close()


class Mlflow(Peer):
    def __init__(self, root: Path, *, normal: bool) -> None:
        logging.getLogger("mlflow").setLevel(logging.WARNING)
        logging.getLogger("alembic").setLevel(logging.WARNING)
        from mlflow.tracking import MlflowClient

        _hook_sqlalchemy()
        db = root / ("mlflow-normal.db" if normal else "mlflow.db")
        self.label = "MLflow, SQLite tracking store" + (
            " (WAL, synchronous=NORMAL)" if normal else ""
        )
        self.tier = CRASH if normal else POWER
        self.client = MlflowClient(tracking_uri=f"sqlite:///{db}")
        self.experiment = self.client.create_experiment("bench")
        self.measure(3)
        self.config = f"{_pragmas(db)}" + (
            " (set by us on MLflow's connections: reprolam's default durability)"
            if normal
            else " (MLflow's SQLAlchemy store keeps SQLite's defaults)"
        )
        self.config += "; each log_metric one transaction"

    def measure(self, steps: int) -> float:
        run_id = self.client.create_run(self.experiment).info.run_id
        t0 = time.perf_counter()
        for i in range(steps):
            self.client.log_metric(run_id, "x", i + 1, step=i)
        elapsed = time.perf_counter() - t0
        self.client.set_terminated(run_id)
        return elapsed / steps


def make_peers(root: Path, *, dbos_normal: bool) -> tuple[list[Peer], list[str]]:
    """Every contender that can run here, and why the others cannot. DBOS is a singleton per
    process, so it runs in one configuration only."""
    factories: list[tuple[str, Callable[[], Peer]]] = [
        ("reprolam", lambda: Reprolam(root / "reprolam", fsync=False)),
        ("reprolam fsync", lambda: Reprolam(root / "reprolam-fsync", fsync=True)),
        ("dbos", lambda: Dbos(root, normal=dbos_normal)),
        ("langgraph normal", lambda: LangGraph(root, normal=True)),
        ("langgraph", lambda: LangGraph(root, normal=False)),
        ("mlflow normal", lambda: Mlflow(root, normal=True)),
        ("mlflow", lambda: Mlflow(root, normal=False)),
    ]
    peers, absent = [], []
    for name, make in factories:
        try:
            peers.append(make())
        except ImportError as exc:
            absent.append(f"{name}: {exc.name or exc} not installed")
    return peers, absent


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--dbos-defaults",
        action="store_true",
        help="DBOS on SQLite's defaults (fsync per step) instead of WAL + synchronous=NORMAL",
    )
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    steps, repeats = (100, 2) if args.quick else (args.steps, args.repeats)
    warnings.filterwarnings("ignore")
    root = Path(tempfile.mkdtemp(prefix="reprolam-bench-peers-"))
    try:
        peers, absent = make_peers(root, dbos_normal=not args.dbos_defaults)
        contenders: dict[str, Callable[[int], float]] = {
            "plain function call": lambda i: per_step_plain(steps),
            **{p.label: (lambda i, p=p: p.measure(steps)) for p in peers},
        }
        if per_step_rlam(1) is not None:
            contenders["rlam 0.1.0 (in memory, not durable)"] = lambda i: per_step_rlam(steps) or 0
        runs = interleaved(contenders, repeats)
        forks = fork_starts(peers, 1000 if args.quick else 10_000, repeats)
        for p in peers:
            p.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)

    print(
        f"one durable step of a trivial function: {steps:,}-step chains, {repeats} interleaved "
        f"rounds, same process (medians; ratios: median of per-round ratios); load {load()}"
    )
    for reason in absent:
        print(f"  skipped {reason}")
    figures: dict[str, float] = {name: runs.median(name) for name in contenders}
    for tier in (CRASH, POWER):
        ours = next((p for p in peers if p.tier == tier and p.label.startswith("reprolam")), None)
        if ours is None:
            continue
        print(f"  {tier}:")
        for p in (p for p in peers if p.tier == tier):
            ratio = runs.ratio(p.label, ours.label)
            print(f"    {p.label:44} {runs.median(p.label) * 1e6:9.1f} µs  {ratio:6.1f}x")
            print(f"      {p.config}")
            if p is ours:
                continue
            figure(
                f"one durable step, {p.label} ({steps:,}-step chains)",
                f"{us(runs.median(p.label))} = {ratio:.1f}x reprolam",
                baseline=f"{ours.label} {us(runs.median(ours.label))}; {tier}",
                reproduce="python benchmarks/bench_peers.py",
                echo=False,
            )
    for name in contenders:
        if not any(p.label == name for p in peers):
            print(f"  {name:46} {runs.median(name) * 1e6:9.1f} µs  (reference)")
    if forks is not None:
        length, fork_runs = forks
        ours_s, theirs_s = fork_runs.median("reprolam"), fork_runs.median("langgraph")
        print(
            f"fork start on a {length:,}-step history, until the first new step runs "
            f"({repeats} interleaved rounds, medians): reprolam {ms(ours_s)}, "
            f"LangGraph SqliteSaver {ms(theirs_s)}"
        )
        figure(
            f"fork start on a {length:,}-step history: LangGraph SqliteSaver",
            f"{ms(theirs_s)} = {fork_runs.ratio('langgraph', 'reprolam'):.2f}x reprolam",
            baseline=f"reprolam `Client.fork` {ms(ours_s)}",
            reproduce="python benchmarks/bench_peers.py",
        )
        figures.update(fork_reprolam=ours_s, fork_langgraph=theirs_s)
    return figures


def fork_starts(peers: list[Peer], length: int, repeats: int) -> tuple[int, Interleaved] | None:
    """reprolam's fork start vs LangGraph's on a ``length``-step history, interleaved."""
    ours = next((p for p in peers if isinstance(p, Reprolam) and p.tier == CRASH), None)
    theirs = next((p for p in peers if isinstance(p, LangGraph) and p.tier == CRASH), None)
    if ours is None or theirs is None:
        return None
    parent = record_chain(ours.client, length)
    checkpoint = theirs.thread(length)
    return length, interleaved(
        {
            "reprolam": lambda i: fork_start(ours.client, parent, length - 1),
            "langgraph": lambda i: theirs.fork_start(checkpoint),
        },
        repeats,
    )


if __name__ == "__main__":
    main()
