"""`tag`, `note`, `compare`, `runs --tag/--metric`, and tables that fit the terminal."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from reprolam.cli.main import cli
from reprolam.trace import RunStatus, SQLiteStore

SWEEP = ("0.01", "1.0", "100.0")


def invoke(store: Path, *args: str, width: int = 80) -> Result:
    env = {"COLUMNS": str(width)}
    return CliRunner(env=env).invoke(cli, ["--store", str(store), *args], catch_exceptions=False)


def ok(store: Path, *args: str, width: int = 80) -> Result:
    result = invoke(store, *args, width=width)
    assert result.exit_code == 0, result.output
    return result


def as_json(store: Path, *args: str) -> Any:
    return json.loads(ok(store, *args, "--json").stdout)


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    store = tmp_path_factory.mktemp("store")
    ids = [as_json(store, "run", "--set", f"train_model.C={c}")["run"]["id"] for c in SWEEP]
    return store, ids


def test_tags_and_notes_change_no_hash(sweep: tuple[Path, list[str]]) -> None:
    store, ids = sweep
    before = as_json(store, "show", ids[0])
    tagged = as_json(store, "tag", ids[0][:20], "baseline", "sweep")
    assert [(a["kind"], a["value"]) for a in tagged] == [("tag", "baseline"), ("tag", "sweep")]
    ok(store, "tag", ids[1], "sweep")
    ok(store, "tag", ids[2], "sweep")
    noted = as_json(store, "note", ids[0], "C=0.01 [red]underfits[/]")
    assert noted[-1] == {**noted[-1], "kind": "note", "value": "C=0.01 [red]underfits[/]"}
    assert as_json(store, "show", ids[0]) == before  # annotations live beside the trace
    assert as_json(store, "audit", ids[0])["clean"] is True
    human = ok(store, "note", ids[1], "[bold]markup stays text[/]").output
    assert "[bold]markup stays text[/]" in human


def test_tag_refusals_are_one_line(sweep: tuple[Path, list[str]]) -> None:
    store, ids = sweep
    bad = invoke(store, "tag", ids[0], "two words")
    assert bad.exit_code == 2
    assert bad.stderr.startswith("error: bad tag 'two words'")
    assert len(bad.stderr.strip().splitlines()) == 1
    unknown = invoke(store, "note", "zzzz", "text")
    assert unknown.exit_code == 2
    assert "no run with id or prefix 'zzzz'" in unknown.stderr
    assert invoke(store, "note", ids[0], "   ").exit_code == 2
    assert invoke(store, "tag", ids[0]).exit_code == 2  # click: NAME... is required
    for kind in ("note", "tag"):  # argv from a terminal that is not UTF-8
        undecodable = invoke(store, kind, ids[0], "caf\udce9")
        assert undecodable.exit_code == 2, undecodable.output
        assert "not valid Unicode" in undecodable.stderr


def test_runs_by_tag_and_metric(sweep: tuple[Path, list[str]]) -> None:
    store, ids = sweep
    ok(store, "tag", ids[0], "baseline")
    listed = as_json(store, "runs", "--tag", "baseline")
    assert [r["id"] for r in listed] == [ids[0]]
    assert listed[0]["tags"][0] == "baseline"
    assert listed[0]["steps"] == 5
    assert listed[0]["own_steps"] == 5
    best = as_json(store, "runs", "--metric", "roc_auc")
    values = [r["metrics"]["roc_auc"] for r in best]
    assert values == sorted(values, reverse=True)
    assert as_json(store, "runs", "--metric", "no_such_metric") == []
    table = ok(store, "runs", "--metric", "roc_auc").output
    assert "roc_auc" in table
    assert "accuracy" not in table  # the named metric, not a hard-coded one


def test_compare_table_csv_and_json(sweep: tuple[Path, list[str]]) -> None:
    store, ids = sweep
    payload = as_json(store, "compare", *ids)
    assert payload["runs"] == ids
    assert "train_model.C" in payload["differing"]
    assert "seed" not in payload["differing"]
    assert [row["train_model.C"] for row in payload["rows"]] == [0.01, 1.0, 100.0]
    rows = list(csv.DictReader(io.StringIO(ok(store, "compare", *ids, "--csv").stdout)))
    assert [r["run"] for r in rows] == ids
    assert rows[0]["train_model.C"] == "0.01"
    assert float(rows[0]["metrics.accuracy"]) > 0.5
    table = ok(store, "compare", *ids).output
    assert "train_model.C*" in table
    assert "seed*" not in table
    assert all(len(line) <= 80 for line in table.splitlines())
    assert invoke(store, "compare", ids[0], "--csv", "--json").exit_code == 2
    assert invoke(store, "compare", "zzzz").exit_code == 2


@pytest.mark.parametrize("width", [60, 80, 100, 160])
def test_runs_and_show_fit_the_terminal(sweep: tuple[Path, list[str]], width: int) -> None:
    store, ids = sweep
    for args in (["runs"], ["show", ids[0]]):
        out = ok(store, *args, width=width).output
        lines = out.splitlines()
        assert all(len(line) <= width for line in lines), (args, width)
        # No value broken one character per line: no line made of a lone character.
        assert not [line for line in lines if len(line.strip()) == 1 and line.strip() != "#"]
    show = ok(store, "show", ids[0], width=width).output
    digest = as_json(store, "show", ids[0])["steps"][0]["outputs"]["X"]
    if width >= 70:  # narrower: outputs give way to params (--json has them)
        assert digest[:8] in show
    if width >= 120:
        assert digest[:16] in show
    assert "C=0.01" in show


def test_forks_count_their_inherited_steps(sweep: tuple[Path, list[str]]) -> None:
    store, ids = sweep
    forked = as_json(store, "fork", ids[0], "--at", "train_model", "--set", "train_model.C=3")
    fork_id = forked["run"]["id"]
    row = next(r for r in as_json(store, "runs") if r["id"] == fork_id)
    assert row["steps"] == 5
    assert row["own_steps"] == 2


def test_ui_command_without_the_extra_says_how_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import builtins

    real = builtins.__import__

    def no_starlette(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "starlette":
            raise ImportError("No module named 'starlette'", name="starlette")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_starlette)
    result = invoke(tmp_path, "ui")
    assert result.exit_code == 2
    assert "pip install 'reprolam[ui]'" in result.stderr


def test_ui_help_names_the_defaults(tmp_path: Path) -> None:
    out = ok(tmp_path, "ui", "--help").output
    assert "127.0.0.1" in out
    assert "8765" in out


def test_notebook_reprs_escape_and_show(sweep: tuple[Path, list[str]]) -> None:
    from reprolam import api
    from reprolam.history.audit import audit
    from reprolam.history.comparison import compare_runs
    from reprolam.history.diff import diff_runs
    from reprolam.notebook import trace

    store_dir, ids = sweep
    with SQLiteStore(store_dir) as store:
        view = api.show(ids[0], store=store)
        html = view._repr_html_()
        assert "<table" in html
        assert "train_model" in html
        assert "<script" not in diff_runs(store, ids[0], ids[1])._repr_html_()
        assert "params.C: 0.0100 -&gt; 1.0000" in diff_runs(store, ids[0], ids[1])._repr_html_()
        assert "audit clean" in audit(store, ids[0])._repr_html_()
        compared = compare_runs(store, ids)._repr_html_()
        assert "background:#fff4c2" in compared  # differing columns highlighted
        svg = trace(store, ids[0])._repr_svg_()
        assert svg.startswith("<svg")
        assert 'class="reprolam-trace"' in svg
        result = api.run(
            "breast-cancer", store=store, planner="rules", overrides={"train_model": {"C": 2.0}}
        )
        assert "accuracy" in result._repr_html_()


def test_a_notebooks_trace_takes_the_client_or_the_path_as_the_verbs_do(
    sweep: tuple[Path, list[str]],
) -> None:
    # trace(rl, run) and trace(".reprolam", run) were AttributeErrors ('Client' object has
    # no attribute 'resolve_run_id'); only trace(rl.store, run) worked.
    import reprolam
    from reprolam.notebook import trace

    store_dir, ids = sweep
    with reprolam.open(store_dir) as rl:
        by_store = trace(rl.store, ids[0])._repr_svg_()
        assert trace(rl, ids[0][:13])._repr_svg_() == by_store
        assert rl.runs(limit=1)  # the client is left open
    assert trace(store_dir, ids[0])._repr_svg_() == by_store
    assert trace(str(store_dir), ids[0])._repr_svg_() == by_store


def test_notebook_escapes_markup_and_control_characters() -> None:
    from reprolam.notebook import esc, table

    html = table(["a<b>"], [["<script>alert(1)</script>\x1b[31m"]])
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert "\x1b" not in html
    assert "\\x1b[31m" in html
    assert esc('"onerror=') == "&quot;onerror="


def test_store_copy_carries_tags_and_notes_once(tmp_path: Path) -> None:
    from reprolam.history.annotate import note, tag
    from reprolam.testing import chain
    from reprolam.trace import MemoryStore
    from reprolam.trace.copy import copy_store

    src, dst = MemoryStore(), SQLiteStore(tmp_path / "dst")
    chain(src, "run-a", 2)
    src.record(run=replace(src.get_run("run-a"), status=RunStatus.SUCCEEDED))  # not running
    tag(src, "run-a", ["kept"])
    note(src, "run-a", "a note")
    copy_store(src, dst)
    copy_store(src, dst)  # again: nothing doubled
    assert [(a.kind, a.value) for a in dst.annotations("run-a")] == [
        ("tag", "kept"),
        ("note", "a note"),
    ]
    dst.close()


def test_notebook_tables_cut_a_huge_value() -> None:
    """A 1 MB param was written whole into ``show``'s, ``diff``'s and ``compare``'s HTML
    (the notebook saves every byte of a cell's output); a cell now holds its first
    ``notebook.MAX_CELL`` characters."""
    import reprolam
    from reprolam import action, workflow

    @action(outputs=["metrics"])
    def measure(*, text: str = "short") -> dict[str, float]:
        return {"length": float(len(text))}

    flow = workflow("notebook-huge", [measure], outputs=["metrics"])
    with reprolam.open("memory:") as rl:
        small = rl.run(flow, planner="script")
        huge = rl.run(flow, planner="script", set={"measure.text": "x" * 1_000_000})
        for html in (
            rl.show(huge.id)._repr_html_(),
            rl.compare(small.id, huge.id)._repr_html_(),
            rl.diff(small.id, huge.id)._repr_html_(),
        ):
            assert len(html) < 20_000


def test_notebook_tables_word_small_numbers_as_show_does() -> None:
    """``show``'s, ``diff``'s and ``compare``'s HTML wrote a float with four decimals: a loss
    of 1e-07 read 0.0000, and losses 1e-07 and 2e-07 read 0.0000 against 0.0000, highlighted
    as differing. They read as ``reprolam show`` words them (brief.number_words)."""
    import reprolam
    from reprolam import action, workflow

    @action(outputs=["metrics"])
    def fit(*, rate: float = 1e-07) -> dict[str, float]:
        return {"loss": rate}

    flow = workflow("notebook-tiny", [fit], outputs=["metrics"])
    with reprolam.open("memory:") as rl:
        a = rl.run(flow, planner="script")
        b = rl.run(flow, planner="script", set={"fit.rate": 2e-07})
        shown = rl.show(a.id)._repr_html_()
        compared = rl.compare(a.id, b.id)._repr_html_()
        diffed = rl.diff(a.id, b.id)._repr_html_()
    for html in (shown, compared, diffed):
        assert "1e-07" in html
        assert "0.0000" not in html
    for html in (compared, diffed):
        assert "2e-07" in html


def test_notebook_steps_table_says_a_step_was_reused() -> None:
    """A step reused with --reuse showed '0.0000' in the notebook's ms column, as if it had
    run in no time; ``reprolam show`` says 'reused'. Durations read as show writes them."""
    import reprolam
    from reprolam import action, workflow

    @action(outputs=["metrics"])
    def cheap() -> dict[str, float]:
        return {"score": 1.0}

    flow = workflow("notebook-reuse", [cheap], outputs=["metrics"])
    with reprolam.open("memory:") as rl:
        first = rl.run(flow, planner="script")
        again = rl.run(flow, planner="script", reuse=True)
        computed = rl.show(first.id)._repr_html_()
        shown = rl.show(again.id)._repr_html_()
        ran = again._repr_html_()
    assert ">reused<" in shown
    assert ">reused<" in ran
    assert ">reused<" not in computed
    assert "0.0000" not in shown + computed


def test_control_characters_in_a_note_do_not_reach_the_terminal(
    sweep: tuple[Path, list[str]],
) -> None:
    """A note (anyone with the store can write one, and a crate's error messages come from
    elsewhere) holding escape sequences was echoed raw by ``tag``/``note``: the terminal ran
    them (set its title, cleared the screen). They are shown as ``\\x1b`` now."""
    store, ids = sweep
    hostile = "see \x1b]0;pwned\x07\x1b[2J\x9b31m here \u202eesrever"
    for args in (("note", ids[2], hostile), ("tag", ids[2], "fine")):
        out = ok(store, *args).stdout
        assert not {"\x1b", "\x07", "\x9b", "\u202e"} & set(out)
        assert "see \\x1b]0;pwned\\x07\\x1b[2J\\x9b31m here \\u202eesrever" in out
