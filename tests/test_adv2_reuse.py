"""Reuse never launders an edited step.

A reused step records another step's outputs instead of executing, and its own record is
hashed as it is taken: a run built from a step whose outputs were pointed at other (intact)
bytes verified and audited clean, its metrics those other bytes. Reuse takes outputs only
from a record that still holds its hash (store-wide and a fork's counterpart alike), and
audit checks every reused step against its source, so a run that reused before the edit was
caught (or from an older reprolam) is reported.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import reprolam
from reprolam import ActionContext, action, workflow
from reprolam.cli.main import cli
from reprolam.cli.render import _cache_note
from reprolam.engine import cache


@action(outputs=["base"])
def base(*, level: int = 1) -> int:
    return level


@action(outputs=["score"])
def score(base: int) -> dict[str, float]:
    return {"accuracy": base / 10}


FLOW = workflow("scores", [base, score], outputs=["score"], metrics="score")


def _sql(root: Path, statement: str, *args: object) -> None:
    with closing(sqlite3.connect(root / "trace.db")) as con:
        assert con.execute(statement, args).rowcount == 1
        con.commit()


def _edited_store(root: Path) -> tuple[str, str, str]:
    """Run A (level 1) and B (level 9); A's scoring step then says it output B's score."""
    with reprolam.open(root) as rl:
        a = rl.run(FLOW, planner="script")
        b = rl.run(FLOW, planner="script", set={"base.level": 9})
    honest, better = a.steps[1].outputs["score"], b.steps[1].outputs["score"]
    _sql(
        root,
        "UPDATE steps SET outputs = ? WHERE run_id = ? AND idx = 1",
        f'{{"score":"{better}"}}',
        a.id,
    )
    return a.id, honest, better


def test_a_store_wide_reuse_executes_an_edited_step_instead_of_taking_its_outputs(
    tmp_path: Path,
) -> None:
    _a, honest, _better = _edited_store(tmp_path)
    with reprolam.open(tmp_path) as rl:
        c = rl.run(FLOW, planner="script", reuse=True)
        assert c.steps[1].outputs["score"] == honest
        assert rl.metrics(c.id) == {"accuracy": 0.1}
        # Only A's edit shows (its step no longer outputs what the store says it produced).
        assert {p.kind for p in rl.audit(c.id).problems} == {"lineage"}


def test_a_fork_does_not_reuse_its_parents_edited_step_and_says_why(tmp_path: Path) -> None:
    a, honest, _better = _edited_store(tmp_path)
    with reprolam.open(tmp_path) as rl:
        fork = rl.fork(a, at=1, reuse=True, workflow=FLOW)
    cache = fork.steps[1].proposal["cache"]
    assert cache["edited"] is True
    assert cache["reused"] is False
    assert fork.steps[1].outputs["score"] == honest
    assert "was edited after it was recorded" in _cache_note(cache)  # what fork prints


def test_audit_reports_a_run_that_reused_an_edited_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run an older reprolam recorded: A's edited step reused as it stood."""
    a, _honest, better = _edited_store(tmp_path)
    with monkeypatch.context() as old:
        old.setattr(cache, "_intact", lambda step: True)
        with reprolam.open(tmp_path) as rl:
            c = rl.run(FLOW, planner="script", reuse=True)
    assert c.steps[1].outputs["score"] == better
    with reprolam.open(tmp_path) as rl:
        assert rl.replay(c.id).verified  # its own record is intact: only audit can tell
        [problem] = rl.audit(c.id).problems
    assert (problem.check, problem.kind) == ("lineage", "reused")
    assert (problem.step, problem.run) == (1, c.id)
    assert f"step 1 of run {a}" in problem.message
    assert "its hash no longer holds" in problem.message
    done = CliRunner().invoke(cli, ["--store", str(tmp_path), "audit", c.id])
    assert done.exit_code == 1
    assert "reused the outputs" in " ".join(done.output.split())


def test_a_reusing_run_imported_without_its_source_audits_clean(tmp_path: Path) -> None:
    with reprolam.open(tmp_path / "a") as rl:
        rl.run(FLOW, planner="script")
        c = rl.run(FLOW, planner="script", reuse=True)
        assert c.steps[1].proposal["cache"]["reused"] is True
        rl.export(c.id, format="rocrate", output=tmp_path / "crate")
    with reprolam.open(tmp_path / "b") as rl:
        rl.import_crate(tmp_path / "crate")
        assert rl.audit(c.id).clean


# -- reuse takes only outputs whose stored bytes verify ---------------------------------------

BIG = 100_000  # a blob file (over the inline limit)


@action(outputs=["blob"])
def big(*, level: int = 1) -> bytes:
    return bytes([level]) * BIG


@action(outputs=["size"])
def measure(blob: bytes) -> int:
    return len(blob)


BIG_FLOW = workflow("blobs", [big, measure], outputs=["size"])


def _damaged_blob(root: Path, damage: str) -> tuple[str, Path, bytes]:
    with reprolam.open(root) as rl:
        a = rl.run(BIG_FLOW, planner="script")
    key = a.steps[0].outputs["blob"]
    path = root / "artifacts" / key[:2] / key[2:]
    good = path.read_bytes()
    if damage == "edited":  # the same size: only reading it tells
        path.write_bytes(b"\2" + good[1:])
    else:
        path.unlink()
    return a.id, path, good


@pytest.mark.parametrize("damage", ["edited", "missing"])
@pytest.mark.parametrize("how", ["store-wide", "fork"])
def test_reuse_executes_a_step_whose_stored_outputs_are_damaged_and_repairs_them(
    tmp_path: Path, damage: str, how: str
) -> None:
    """A damaged output was reused as it stood: the new run took bytes that no longer
    verify (and 'reused' them into every run after it), with nothing said."""
    a, path, good = _damaged_blob(tmp_path, damage)
    with reprolam.open(tmp_path) as rl:
        if how == "fork":
            c = rl.fork(a, at=0, reuse=True, workflow=BIG_FLOW)
        else:
            c = rl.run(BIG_FLOW, planner="script", reuse=True)
        advice = c.steps[0].proposal["cache"]
        assert advice["reused"] is False
        assert advice["damaged"].startswith("output 'blob' (")
        assert c.steps[0].duration > 0  # executed
        assert c.steps[1].proposal["cache"]["reused"] is True  # its input verified: reused
        assert path.read_bytes() == good  # its bytes, recorded again, repaired the blob
        assert rl.audit(a).clean
        assert rl.audit(c.id).clean
        again = rl.run(BIG_FLOW, planner="script", reuse=True)
        assert again.steps[0].proposal["cache"]["reused"] is True
    note = _cache_note(advice)
    assert "re-executed" in note
    assert "missing from the store" in note if damage == "missing" else "damaged" in note


def test_a_damaged_blobs_error_names_a_repair_that_works(tmp_path: Path) -> None:
    a, path, good = _damaged_blob(tmp_path, "edited")
    done = CliRunner().invoke(cli, ["--store", str(tmp_path), "get", a, "blob", "-o", "-"])
    assert done.exit_code == 2
    assert "--reuse" in done.stderr
    with reprolam.open(tmp_path) as rl:  # what it says to do
        rl.run(BIG_FLOW, planner="script", reuse=True)
    assert path.read_bytes() == good
    done = CliRunner().invoke(cli, ["--store", str(tmp_path), "get", a, "blob", "-o", "-"])
    assert done.exit_code == 0


def test_a_fork_past_a_damaged_output_is_told_to_fork_where_it_was_produced(
    tmp_path: Path,
) -> None:
    a, path, good = _damaged_blob(tmp_path, "edited")
    store = ["--store", str(tmp_path)]
    # a fork after the producing step reads the damaged output as an input; it was told
    # 'fork --reuse' without where, and a fork there reads the same damaged bytes again
    late = CliRunner().invoke(cli, [*store, "fork", a, "--at", "1"])
    assert late.exit_code == 2
    assert (
        "with --reuse (a new run of the workflow, or a fork at that step or before it"
        in " ".join(late.stderr.split())
    )
    early = CliRunner().invoke(cli, [*store, "fork", a, "--at", "0", "--reuse"])
    assert early.exit_code == 0, early.stderr
    assert path.read_bytes() == good
    assert CliRunner().invoke(cli, [*store, "fork", a, "--at", "1"]).exit_code == 0


@action(outputs=["report"])
def write_report(*, ctx: ActionContext) -> Path:
    path = ctx.workdir / "report.bin"
    path.write_bytes(bytes(range(256)) * 400)  # its content: a blob file
    return path


@action(outputs=["length"])
def length(report: Path) -> int:
    return len(report.read_bytes())


FILE_FLOW = workflow("file-blobs", [write_report, length], outputs=["length"])


def test_reuse_executes_a_step_whose_output_files_content_is_damaged(tmp_path: Path) -> None:
    """The file's manifest verified, so its damaged content was reused unread."""
    with reprolam.open(tmp_path) as rl:
        a = rl.run(FILE_FLOW, planner="script")
    blobs = [p for p in (tmp_path / "artifacts").rglob("*") if p.is_file()]
    (content,) = [p for p in blobs if p.stat().st_size == 256 * 400 + 4]  # its magic: 4
    good = content.read_bytes()
    content.write_bytes(good[:-1] + b"?")
    with reprolam.open(tmp_path) as rl:
        c = rl.run(FILE_FLOW, planner="script", reuse=True)
        advice = c.steps[0].proposal["cache"]
        assert advice["reused"] is False
        assert "its content" in advice["damaged"]
        assert content.read_bytes() == good
        assert rl.audit(a.id).clean


@action(outputs=["text"])
def spell(*, x: Any = 1) -> str:
    return repr(x)


SPELLED = workflow("spelled", [spell], outputs=["text"])


@pytest.mark.parametrize("value", [True, 1.0, -0.0], ids=["true", "float", "minus-zero"])
def test_a_fork_does_not_reuse_a_param_python_calls_equal_but_the_record_tells_apart(
    tmp_path: Path, value: Any
) -> None:
    # A fork's counterpart was compared with ==, which takes True and 1.0 for 1 and -0.0 for
    # 0: --set x=true --reuse took the outputs computed with x=1 ('1') and recorded them as
    # what x=True gives. The store-wide key (canonical JSON) already told them apart.
    start = 0.0 if value == 0 else 1  # -0.0 == 0.0, True == 1.0 == 1
    with reprolam.open(tmp_path / "store") as rl:
        parent = rl.run(SPELLED, overrides={"spell": {"x": start}})
        fork = rl.fork(parent.id, at="spell", set={"spell.x": value}, reuse=True)
        assert fork.outputs["text"] == repr(value)
        assert fork.steps[-1].proposal["cache"]["changed"] == ["params.x"]


def test_audit_reports_a_fork_that_reused_a_step_of_other_params(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fork the == comparison recorded (x=True taking x=1's outputs): its own record
    and its source are intact and output the same artifacts; only the key differs."""
    with reprolam.open(tmp_path) as rl:
        parent = rl.run(SPELLED, overrides={"spell": {"x": 1}})
        with monkeypatch.context() as old:
            old.setattr(cache, "_same_value", lambda a, b: a == b)
            fork = rl.fork(parent.id, at="spell", set={"spell.x": True}, reuse=True)
        assert fork.outputs["text"] == "1"  # what x=1 gives, recorded as x=True's
        assert rl.replay(fork.id).verified
        [problem] = rl.audit(fork.id).problems
        clean = rl.fork(parent.id, at="spell", set={"spell.x": 1}, reuse=True)
        assert clean.steps[0].proposal["cache"]["reused"] is True
        assert rl.audit(clean.id).clean  # a reuse of the same key is no finding
    assert (problem.check, problem.kind, problem.step) == ("lineage", "reused", 0)
    assert f"step 0 of run {parent.id}, which was computed from other params" in problem.message
