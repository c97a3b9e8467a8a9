"""Printing what the client returns reads as run id, workflow, status and steps.

A researcher at a REPL does ``print(rl.show(run))`` or looks at ``rl.runs()``; these were
dataclass reprs of every field (a RunView printed 5,700 characters of nested records).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

import reprolam
from reprolam import ActionContext, action, workflow


@action(outputs=["samples"], determinism="seeded")
def draw(*, n: int = 5, ctx: ActionContext) -> list[float]:
    return ctx.rng.standard_normal(n).tolist()


@action(outputs=["mean"])
def average(samples: list[float]) -> dict[str, float]:
    return {"mean": sum(samples) / len(samples), "n": float(len(samples))}


flow = workflow("sampling", [draw, average], outputs=["mean"], metrics="mean")


@pytest.fixture
def rl(tmp_path: Path) -> Iterator[reprolam.Client]:
    with reprolam.open(tmp_path / "store") as client:
        yield client


def _one_line(text: str, *, within: int = 400) -> None:
    assert "\n" not in text
    assert len(text) < within, text


def test_a_run_and_its_view_print_as_a_short_trace(rl: reprolam.Client) -> None:
    run = rl.run(flow, seed=3)
    fork = run.fork(at=0, set={"draw.n": 7})
    view = rl.show(fork.id)
    text = str(view)
    lines = text.splitlines()
    assert lines[0] == (
        f"run {fork.id} sampling seed=3 succeeded, fork of {run.id} at step 0, 2 steps"
    )
    assert lines[1].split()[:3] == ["0", "draw", "succeeded"]
    assert lines[2].split()[:3] == ["1", "average", "succeeded"]
    assert lines[-1].startswith("metrics: mean=")
    assert "RunRecord(" not in text
    assert "StepRecord(" not in text
    for shown in (view, fork, run):
        _one_line(repr(shown))
        assert shown.run.id in repr(shown)
        assert "sampling" in repr(shown)
    assert repr(view).endswith("succeeded, fork of " + run.id + " at step 0, 2 steps>")
    # a fork of a later step: the steps it inherits are marked
    later = run.fork(at=1)
    assert "(inherited)" in str(rl.show(later.id)).splitlines()[1]
    assert "(inherited)" not in str(rl.show(later.id)).splitlines()[2]


def test_attributes_and_json_are_untouched(rl: reprolam.Client) -> None:
    run = rl.run(flow, seed=1)
    view = rl.show(run.id)
    assert view.run.workflow == "sampling"
    assert len(view.steps) == 2
    as_dict = view.to_dict()
    assert as_dict["run"]["id"] == run.id
    assert as_dict["run"]["seed"] == 1
    json.dumps(as_dict)  # still plain data
    assert view.steps[0].to_dict()["action"] == "draw"


def test_every_result_the_client_returns_prints_in_one_readable_line(
    rl: reprolam.Client,
) -> None:
    run = rl.run(flow, seed=0)
    other = run.fork(at=0, set={"draw.n": 9})
    records = rl.runs()
    assert repr(records[0]) == (
        f"<RunRecord {other.id} sampling seed=0 succeeded, fork of {run.id} at step 0>"
    )
    assert repr(rl.show(run.id).steps[1]) == f"<StepRecord {run.id} step 1 average succeeded>"
    assert (
        repr(rl.replay(run.id)) == f"<ReplayResult {run.id} sampling: 2 steps replayed, verified>"
    )
    audit = rl.audit(run.id)
    assert repr(audit).startswith(f"<AuditReport {run.id} sampling: clean; reproducibility ")
    assert str(audit).splitlines()[0] == f"audit of {run.id} sampling: clean"
    assert any(line.strip().startswith("hash_chain: ok") for line in str(audit).splitlines())
    reproduction = rl.reproduce(run.id)
    assert str(reproduction) == "reproduced: 2/2 steps bitwise identical"
    assert repr(reproduction) == f"<ReproduceResult of {run.id}: {reproduction.summary()}>"
    diff = rl.diff(run.id, other.id)
    assert repr(diff).startswith(f"<RunDiff {run.id} vs {other.id}: ")
    assert "metrics differ: mean" in repr(diff)
    comparison = rl.compare(run.id, other.id)
    assert repr(comparison) == (
        "<RunComparison of 2 runs; differing: draw.n, metrics.mean, metrics.n>"
    )
    rows = str(comparison).splitlines()
    assert rows[0].startswith(f"run={run.id} seed=0 planner=")
    assert "draw.n=5" in rows[0]
    assert "metrics.n=9.0" in rows[1]  # a float stays a float when it is whole
    page = rl.query(limit=2)
    assert repr(page) == "<RunPage runs 1-2 of 3>"
    assert str(page).splitlines()[1].startswith("  <RunRow ")
    for shown in (*records, audit, diff, comparison, page, *page.rows):
        _one_line(repr(shown))


def test_a_sweep_and_its_points_print_briefly(rl: reprolam.Client) -> None:
    run = rl.run(flow, seed=0)
    sweep = rl.sweep(run.id, at=0, grid={"draw.n": [2, 4]})
    lines = str(sweep).splitlines()
    assert lines[0].startswith(f"<SweepResult {sweep.id} of {run.id} at step 0: 2 points")
    assert lines[1].startswith("  <SweepPoint 0 draw.n=2: ")
    assert "succeeded" in lines[1]
    for point in sweep.points:
        _one_line(repr(point))


def test_a_problem_shows_in_the_line(tmp_path: Path) -> None:
    store = tmp_path / "store"
    with reprolam.open(store) as rl:
        run = rl.run(flow, seed=0)
    digest = run.run.outputs["mean"]
    with closing(sqlite3.connect(store / "trace.db")) as conn, conn:
        (data,) = conn.execute("SELECT data FROM artifacts WHERE digest = ?", (digest,)).fetchone()
        damaged = bytes(data[:-2]) + bytes([data[-2] ^ 1]) + bytes(data[-1:])
        conn.execute("UPDATE artifacts SET data = ? WHERE digest = ?", (damaged, digest))
    with reprolam.open(store) as rl:
        replayed, audit = repr(rl.replay(run.id)), rl.audit(run.id)
    assert replayed.startswith(f"<ReplayResult {run.id} sampling: ")
    assert "1 problem, first: " in replayed or "problems, first: " in replayed
    _one_line(replayed, within=600)
    assert ": clean" not in repr(audit)
    assert "first: " in repr(audit)
    assert any("artifact" in line for line in str(audit).splitlines()[1:])


@action(outputs=["loss"])
def tiny_loss(*, scale: float = 1e-5) -> dict[str, float]:
    return {"loss": 1.234e-5 * scale / 1e-5, "count": 34_567_890.0}


tiny = workflow("tiny-loss", [tiny_loss], outputs=["loss"], metrics="loss")


def test_small_and_large_metrics_keep_their_digits_in_print_and_in_the_cli(
    rl: reprolam.Client,
) -> None:
    """Four decimals read 1.2e-05 as 0.0000: a loss that small must still show its value."""
    from click.testing import CliRunner

    from reprolam.cli.main import cli

    result = rl.run(tiny)
    assert "loss=1.234e-05" in str(rl.show(result.id))
    shown = CliRunner().invoke(
        cli, ["--store", str(rl.store.location), "show", result.id], env={"COLUMNS": "200"}
    )
    assert shown.exit_code == 0, shown.output
    assert "loss=1.234e-05" in shown.output
    assert "count=3.457e+07" in shown.output
    assert "0.0000" not in shown.output


def test_show_prints_a_long_captured_stream_cut_with_how_much_was_left_out() -> None:
    from reprolam.cli.render import SHOWN_LINES, _shown_output

    short = "\n".join(f"line {i}" for i in range(10))
    assert _shown_output(short + "\n") == short
    long = "\n".join(f"line {i}" for i in range(5000))
    shown = _shown_output(long).splitlines()
    assert len(shown) == SHOWN_LINES + 1
    assert shown[0] == "line 0"
    assert shown[-1] == "line 4999"
    assert f"{5000 - SHOWN_LINES} more lines" in shown[SHOWN_LINES // 2]
    wide = _shown_output("x" * 100_000)  # one line, no newline: cut, and said
    assert len(wide) < 300
    assert "cut" in wide
