"""Hole 2: a materialised file copy edited after it was made.

Actions read file artifacts in place, from one read-only copy per store and digest. An
action that made its input writable and wrote into it, or a hand in the store's
``files/`` directory, changed what every later reader saw (a later step, a fork, a
reproduction) while the record said they read the stored digest. Each hand-out now checks
the copy (its stamp, by stat) and one that was written to is made again from the store.
"""

from __future__ import annotations

from pathlib import Path

from reprolam import action, files, workflow
from reprolam.context import ActionContext
from reprolam.engine.engine import Engine
from reprolam.planning.rules import ScriptPlanner
from reprolam.trace.open import open_store


@action(outputs=["report"])
def write_report(*, ctx: ActionContext) -> Path:
    out = ctx.workdir / "report.txt"
    out.write_text("recorded")
    return out


@action(outputs=["vandalised"])
def vandalise(report: Path) -> bool:
    report.chmod(0o644)
    report.write_text("rewritten by an action")
    return True


@action(outputs=["seen"])
def read_report(report: Path) -> str:
    return report.read_text()


flow = workflow("kept-copies", [write_report, vandalise, read_report], outputs=["seen", "report"])
PLAN = ["write_report", "vandalise", "read_report"]


def test_a_later_step_reads_the_recorded_file_after_an_action_wrote_into_it(
    tmp_path: Path,
) -> None:
    with open_store(tmp_path / "store") as store:
        engine = Engine(store)
        result = engine.run(flow, planner=ScriptPlanner(PLAN))
        assert result.succeeded, result.steps[-1].error
        assert engine.load(result.run.outputs["seen"]) == "recorded"
        kept = engine.load(result.run.outputs["report"])
        assert kept.read_text() == "recorded"
        assert kept.stat().st_mode & 0o222 == 0  # made again read-only


def test_a_hand_edit_in_the_files_directory_is_undone_for_the_next_reader(
    tmp_path: Path,
) -> None:
    with open_store(tmp_path / "store") as store:
        engine = Engine(store)
        first = engine.run(flow, planner=ScriptPlanner(["write_report"]))
        key = first.steps[0].outputs["report"]
        copy = engine.load(key)
        copy.chmod(0o644)
        copy.write_text("recorded")  # same size and bytes, new mtime: kept after a read
        assert Engine(store).load(key).read_text() == "recorded"
        copy.chmod(0o644)
        copy.write_text("RECORDED")  # same size, other bytes
        again = Engine(store).load(key)
        assert again == copy
        assert again.read_text() == "recorded"


def test_a_file_added_to_a_materialised_directory_is_removed(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "a.txt").write_text("a")
    with open_store(tmp_path / "store") as store:
        manifest = files.store_path(store, tree)
        key = "ab" + "0" * 62
        home = files.materialize(store, manifest, key)
        (home / "sub").chmod(0o755)
        (home / "sub" / "intruder.txt").write_text("x")
        again = files.materialize(store, manifest, key)
        assert sorted(p.name for p in (again / "sub").iterdir()) == ["a.txt"]
        assert files.materialize(store, manifest, key) == again  # stamped: kept as is
