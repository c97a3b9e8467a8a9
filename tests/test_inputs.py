"""External input data: --input NAME=PATH (file or directory, copied or not) with lineage."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

import reprolam
from reprolam import action, workflow
from reprolam.cli.main import cli
from reprolam.engine.engine import Engine
from reprolam.engine.inputs import InputData, changed_inputs
from reprolam.errors import ConfigError, WorkflowError
from reprolam.history.diff import load_json
from reprolam.planning.rules import ScriptPlanner
from reprolam.trace.open import open_store


@action(outputs=["rows"])
def count_rows(table: Path) -> int:
    return len(table.read_text().splitlines())


@action(outputs=["listing"])
def list_dir(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


flow = workflow(
    "inputs-flow", [count_rows, list_dir], outputs=["rows", "listing"], inputs=["table", "folder"]
)


def invoke(store: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--store", str(store), *args], catch_exceptions=False)


@pytest.fixture
def data(tmp_path: Path) -> tuple[Path, Path]:
    table = tmp_path / "table.csv"
    table.write_text("a\n1\n2\n")
    folder = tmp_path / "folder"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "x.txt").write_text("x")
    return table, folder


def _run(tmp_path: Path, table: Path, folder: Path, *extra: str) -> dict[str, Any]:
    result = invoke(
        tmp_path / "store",
        "run",
        f"{__file__}:flow",
        "--planner",
        "script",
        "--input",
        f"table={table}",
        "--input",
        f"folder={folder}",
        "--json",
        *extra,
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.output)["run"]  # type: ignore[no-any-return]


def test_inputs_are_recorded_artifacts_without_a_producer(
    tmp_path: Path, data: tuple[Path, Path]
) -> None:
    table, folder = data
    run = _run(tmp_path, table, folder)
    with open_store(tmp_path / "store") as store:
        env = load_json(store, run["environment"])
        recorded = env["inputs"]
        assert recorded["table"]["path"] == str(table)
        assert recorded["table"]["copied"] is True
        assert recorded["folder"]["codec"] == "dir"
        for item in recorded.values():
            assert store.artifact_producer(item["digest"]) is None  # external: no step made it
        steps = store.steps(run["id"])
        assert steps[0].inputs == {"table": recorded["table"]["digest"]}  # lineage
    assert (
        invoke(
            tmp_path / "store", "get", run["id"], "rows", "-o", str(tmp_path / "r.json")
        ).exit_code
        == 0
    )
    assert json.loads((tmp_path / "r.json").read_text()) == 3


def test_an_edited_input_is_named_with_both_digests_before_reproducing(
    tmp_path: Path, data: tuple[Path, Path]
) -> None:
    table, folder = data
    run = _run(tmp_path, table, folder)
    table.write_text("a\n1\n2\n3\n")
    result = CliRunner().invoke(
        cli,
        ["--store", str(tmp_path / "store"), "reproduce", run["id"], "--json"],
        catch_exceptions=False,
    )
    assert result.exit_code == 1  # rows changed: 3 -> 4
    warning, _, payload = result.output.partition("\n")
    with open_store(tmp_path / "store") as store:
        old = load_json(store, run["environment"])["inputs"]["table"]["digest"]
    [change] = json.loads(payload)["changed_inputs"]
    assert change["name"] == "table"
    assert change["path"] == str(table)
    assert change["old"] == old
    assert change["new"]
    assert change["new"] != old
    assert warning.startswith("warning: input 'table' changed")
    assert old[:12] in warning
    assert json.loads(payload)["divergence"]["step"] == 0
    diff = invoke(tmp_path / "store", "diff", run["id"], json.loads(payload)["reproduction"])
    assert f"inputs.table.digest: {old[:12]}" in diff.output


def test_no_copy_records_digest_and_path_only(tmp_path: Path, data: tuple[Path, Path]) -> None:
    table, folder = data
    run = _run(tmp_path, table, folder, "--no-copy")
    with open_store(tmp_path / "store") as store:
        recorded = load_json(store, run["environment"])["inputs"]
        assert recorded["table"]["copied"] is False
        from reprolam.codecs import default_serializer

        record, raw = store.get_artifact(recorded["table"]["digest"])
        manifest = default_serializer().loads_typed(record.codec, raw)
        assert not store.has_artifact(manifest.content)  # the bytes were not copied
        assert changed_inputs(store, store.get_run(run["id"])) == []


def test_input_mistakes_are_one_line_errors(tmp_path: Path, data: tuple[Path, Path]) -> None:
    table, _ = data
    store = tmp_path / "store"
    missing = invoke(store, "run", f"{__file__}:flow", "--input", f"table={table}")
    assert missing.exit_code == 2
    assert "needs input 'folder'" in missing.output
    unknown = invoke(store, "run", f"{__file__}:flow", "--input", f"nope={table}")
    assert unknown.exit_code == 2
    assert "no input 'nope'" in unknown.output
    absent = invoke(
        store,
        "run",
        f"{__file__}:flow",
        "--input",
        f"table={tmp_path}/x",
        "--input",
        f"folder={tmp_path}",
    )
    assert absent.exit_code == 2
    assert "does not exist" in absent.output
    malformed = invoke(store, "run", f"{__file__}:flow", "--input", "table")
    assert malformed.exit_code == 2
    assert "NAME=PATH" in malformed.output
    other = tmp_path / "other.csv"
    other.write_text("a\n")
    twice = invoke(
        store,
        "run",
        f"{__file__}:flow",
        *("--input", f"table={table}", "--input", f"table={other}"),
        *("--input", f"folder={tmp_path}"),
    )
    assert twice.exit_code == 2  # not the last one silently recorded
    assert f"input 'table' is given twice ({table} and {other})" in twice.output


def test_a_workflow_input_must_be_declared() -> None:
    with pytest.raises(WorkflowError, match=r"produced by no action.*external inputs"):
        workflow("undeclared", [count_rows], outputs=["rows"])


def test_forks_inherit_inputs(tmp_path: Path, data: tuple[Path, Path]) -> None:
    from reprolam.history.fork import fork

    table, folder = data
    with open_store(tmp_path / "store") as store:
        inputs: dict[str, Any] = {"table": InputData(table), "folder": folder}
        first = Engine(store).run(flow, planner=ScriptPlanner(), inputs=inputs)
        assert first.succeeded
        assert first.outputs["rows"] == 3
        child = fork(store, first.id, at=1, workflow=flow, planner=ScriptPlanner())
        assert child.succeeded, child.run.error
        assert child.outputs["listing"] == ["sub", "sub/x.txt"]
        with pytest.raises(ConfigError, match="needs input"):
            Engine(store).run(flow, planner=ScriptPlanner())


def test_audit_counts_recorded_inputs_as_external(tmp_path: Path, data: tuple[Path, Path]) -> None:
    table, folder = data
    run = _run(tmp_path, table, folder)
    result = invoke(tmp_path / "store", "audit", run["id"], "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["clean"], report["problems"]
    assert {link["source"] for link in report["lineage"]} == {"external"}


@action(outputs=["total"])
def add_up(values: Any) -> float:
    return float(sum(values))


sums = workflow("sums", [add_up], outputs=["total"], inputs=["values"])


def test_a_value_from_python_is_an_input_recorded_by_digest(tmp_path: Path) -> None:
    import numpy as np

    import reprolam

    with reprolam.open(tmp_path / "store") as rl:
        run = rl.run(sums, planner="script", inputs={"values": np.arange(4.0)})
        assert run.outputs["total"] == 6.0
        environment = load_json(rl.store, run.run.environment)
        recorded = environment["inputs"]["values"]
        assert recorded["path"] == ""
        assert recorded["codec"] == "npy"
        record, data = rl.store.get_artifact(recorded["digest"])  # digest-checked bytes
        assert np.array_equal(reprolam.Serializer().loads_typed(record.codec, data), np.arange(4.0))
        assert changed_inputs(rl.store, run.run) == []  # a value has no path to read again
        assert rl.reproduce(run.id, workflow=sums).reproduced  # the value, as recorded
        assert rl.audit(run.id).clean
        assert rl.get(run.id, "values", out=tmp_path / "v.npy").step is None
        assert np.array_equal(np.load(tmp_path / "v.npy"), np.arange(4.0))
        with pytest.raises(
            ConfigError, match=r"input 'values': no codec can encode .*a str is a path"
        ):
            rl.run(sums, planner="script", inputs={"values": object()})


def test_input_data_takes_a_path_as_text(tmp_path: Path, data: tuple[Path, Path]) -> None:
    """``InputData("data.csv", copy=False)`` failed with AttributeError: 'str' object has no
    attribute 'expanduser' (only a Path worked)."""
    table, folder = data
    given = reprolam.InputData(str(table), copy=False)
    assert given.path == table
    with reprolam.open(tmp_path / "store") as rl:
        run = rl.run(f"{__file__}:flow", inputs={"table": given, "folder": str(folder)})
        assert run.succeeded


@pytest.mark.parametrize("where", ["table", "folder"])
def test_a_name_that_is_not_utf8_is_refused_naming_it(
    tmp_path: Path, data: tuple[Path, Path], where: str
) -> None:
    """A Latin-1 file name (read by Python as a lone surrogate) was stored in a manifest that
    then failed to decode: 'file manifest is not valid JSON: 'utf-8' codec can't decode'."""
    import os

    table, folder = data
    latin1 = os.fsdecode(b"caf\xe9.csv")
    if where == "table":
        table = table.rename(table.with_name(latin1))
    else:
        (folder / "sub" / latin1).write_text("y")
    result = invoke(
        tmp_path / "store",
        "run",
        f"{__file__}:flow",
        "--input",
        f"table={table}",
        "--input",
        f"folder={folder}",
    )
    assert result.exit_code == 2, result.output
    said = " ".join(result.stderr.split())
    assert "caf\\xe9.csv: its name is not UTF-8" in said
    assert "rename it" in said


def test_a_file_with_a_name_of_the_longest_length_is_an_input(
    tmp_path: Path, data: tuple[Path, Path]
) -> None:
    """A name of 242 to 255 bytes (legal) plus the temporary name's 14 went past the file
    system's limit: the run ended in an 'OSError: File name too long' traceback."""
    table, folder = data
    longest = table.rename(table.with_name("t" * 251 + ".csv"))
    run = _run(tmp_path, longest, folder)
    assert run["status"] == "succeeded"


def test_no_copy_without_an_input_is_refused(tmp_path: Path) -> None:
    """`run --no-copy` with no --input ran and the flag did nothing, without a word."""
    result = CliRunner().invoke(cli, ["--store", str(tmp_path / "store"), "run", "--no-copy"])
    assert result.exit_code == 2, result.output
    assert "no --input is given: add --input NAME=PATH, or drop --no-copy" in result.stderr
    assert not (tmp_path / "store").exists()
