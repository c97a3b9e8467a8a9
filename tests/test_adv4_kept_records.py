"""What a run keeps beside its trace (captured output, the code record and its sources) is
checked as the trace is: an edit to those bytes is a problem ``audit`` reports, and ``show``
never prints edited output as if it had been recorded.

Before, ``audit`` said "clean" of a run whose captured output read "accuracy 0.99" where the
action had printed 0.51, and ``show`` of that run failed outright on the damaged bytes.
"""

from __future__ import annotations

import json
import sqlite3
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from reprolam.cli.main import cli

FLOW = textwrap.dedent(
    """
    from reprolam import action, workflow

    @action(outputs=["x"])
    def make() -> int:
        print("accuracy was 0.51 on the held-out set")
        return 1

    flow = workflow("talk", [make], outputs=["x"])
    """
)


@pytest.fixture
def recorded(tmp_path: Path) -> tuple[str, str]:
    (tmp_path / "talk.py").write_text(FLOW)
    store = str(tmp_path / "store")
    ran = CliRunner().invoke(
        cli,
        ["--store", store, "run", f"{tmp_path / 'talk.py'}:flow", "--planner", "script", "--json"],
    )
    assert ran.exit_code == 0, ran.output
    return store, json.loads(ran.stdout)["run"]["id"]


def _edit(store: str, marker: bytes, old: bytes, new: bytes) -> None:
    """Change the stored bytes of the one artifact that holds ``marker`` (and ``old``)."""
    with sqlite3.connect(Path(store) / "trace.db") as db:
        rows = [
            (seq, data)
            for seq, data in db.execute("SELECT seq, data FROM artifacts WHERE data IS NOT NULL")
            if marker in data and old in data
        ]
        assert len(rows) == 1, [d[:60] for _, d in rows]
        ((seq, data),) = rows
        db.execute("UPDATE artifacts SET data = ? WHERE seq = ?", (data.replace(old, new), seq))


def _audit(store: str, run: str) -> tuple[int, list[str]]:
    done = CliRunner().invoke(cli, ["--store", store, "audit", run, "--json"])
    return done.exit_code, [p["message"] for p in json.loads(done.stdout)["problems"]]


def test_a_clean_run_audits_clean(recorded: tuple[str, str]) -> None:
    assert _audit(*recorded) == (0, [])


def test_edited_captured_output_fails_audit_and_show_says_so(recorded: tuple[str, str]) -> None:
    store, run = recorded
    _edit(store, b'"stdout"', b"0.51", b"0.99")
    code, problems = _audit(store, run)
    assert code == 1
    assert len(problems) == 1
    assert problems[0].startswith("captured output of step 0 (make): artifact ")
    assert "is corrupted" in problems[0]
    shown = CliRunner().invoke(cli, ["--store", store, "show", run])
    assert shown.exit_code == 0, shown.output
    assert "captured output damaged" in shown.stdout
    assert "0.99" not in shown.stdout
    assert "0.51" not in shown.stdout
    data = json.loads(CliRunner().invoke(cli, ["--store", store, "show", run, "--json"]).stdout)
    assert "is corrupted" in data["steps"][0]["captured"]["damaged"]


def test_an_edited_code_record_fails_audit(recorded: tuple[str, str]) -> None:
    store, run = recorded
    _edit(store, b'"units"', b"0.51", b"0.99")
    code, problems = _audit(store, run)
    assert code == 1
    assert [p.split(": artifact ")[0] for p in problems] == [f"code record of run {run}"]


def test_an_edited_source_text_fails_audit(recorded: tuple[str, str]) -> None:
    store, run = recorded
    _edit(store, b"from reprolam import action", b"0.51", b"0.99")
    code, problems = _audit(store, run)
    assert code == 1
    assert len(problems) == 1
    assert problems[0].startswith("source of ")
    assert "talk.py in the code record of run" in problems[0]
