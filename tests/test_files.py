"""Files, directories and every value type through a whole run: record, replay, reproduce, get."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from reprolam import action, workflow
from reprolam.cli.main import cli
from reprolam.context import ActionContext
from reprolam.engine.engine import Engine
from reprolam.errors import IntegrityError
from reprolam.planning.rules import ScriptPlanner
from reprolam.trace.open import open_store
from reprolam.trace.records import RunStatus, StepStatus

TESTS = Path(__file__).parent
ENV = {**os.environ, "PYTHONPATH": str(TESTS)}


def cli_run(
    store: Path, *args: str, cwd: Path | None = None, seed: str = "0"
) -> subprocess.CompletedProcess[str]:
    """The real command in a fresh process (own PYTHONHASHSEED)."""
    return subprocess.run(
        [str(Path(sys.executable).parent / "reprolam"), "--store", str(store), *args],
        env={**ENV, "PYTHONHASHSEED": seed},
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
        check=False,
    )


def invoke(store: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--store", str(store), *args], catch_exceptions=False)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, Path]:
    root = tmp_path_factory.mktemp("files")
    table = root / "table.csv"
    table.write_text("a,b\n1,2\n3,4\n")
    store = root / "store"
    done = cli_run(
        store,
        "run",
        "data_flow:flow",
        "--planner",
        "rules",
        "--input",
        f"table={table}",
        "--json",
        seed="1",
    )
    assert done.returncode == 0, done.stderr
    return store, json.loads(done.stdout)["run"]["id"], root


@pytest.mark.slow
def test_every_type_runs_replays_and_reproduces_bitwise_in_a_fresh_process(
    recorded: tuple[Path, str, Path],
) -> None:
    store, run_id, _ = recorded
    with open_store(store) as trace:
        run = trace.get_run(run_id)
        assert run.status is RunStatus.SUCCEEDED
        codecs = {name: trace.get_artifact_record(key).codec for name, key in run.outputs.items()}
    assert codecs == {
        "values": "tree",
        "png": "bytes",
        "summary": "json",
        "report": "file",
        "bundle": "dir",
    }
    replayed = cli_run(store, "replay", run_id, seed="2")
    assert replayed.returncode == 0, replayed.stderr
    reproduced = cli_run(store, "reproduce", run_id, "--json", seed="3")
    assert reproduced.returncode == 0, reproduced.stderr + reproduced.stdout
    result = json.loads(reproduced.stdout)
    assert result["bitwise"], result["summary"]
    assert result["compared"] == 4


@pytest.mark.slow
def test_downstream_actions_get_read_only_materialised_paths(
    recorded: tuple[Path, str, Path],
) -> None:
    store, run_id, _ = recorded
    with open_store(store) as trace:
        summary_key = trace.get_run(run_id).outputs["summary"]
        from reprolam.codecs import default_serializer

        record, data = trace.get_artifact(summary_key)
        summary = default_serializer().loads_typed(record.codec, data)
    assert summary["files"] == ["b.bin", "empty", "sub", "sub/a.txt"]
    assert summary["report"].startswith("# Report\n\n3 lines")  # the input file, read
    assert summary["writable"] is False
    leftovers = (
        list((store / "files" / "work").glob("*")) if (store / "files" / "work").exists() else []
    )
    assert leftovers == []  # workdirs are removed after each step


@pytest.mark.slow
def test_get_exports_each_kind(recorded: tuple[Path, str, Path]) -> None:
    store, run_id, root = recorded
    out = root / "out"
    out.mkdir()
    from data_flow import PNG

    assert invoke(store, "get", run_id, "png", "-o", str(out / "plot.png")).exit_code == 0
    assert (out / "plot.png").read_bytes() == PNG
    assert invoke(store, "get", run_id, "report", "-o", str(out / "report.md")).exit_code == 0
    assert (out / "report.md").read_text().startswith("# Report")
    assert invoke(store, "get", run_id, "bundle", "-o", str(out / "bundle")).exit_code == 0
    assert (out / "bundle" / "b.bin").read_bytes() == bytes(100_000)
    assert (out / "bundle" / "empty").is_dir()
    got = invoke(store, "get", run_id, "make_values.values", "-o", str(out / "v.json"), "--json")
    assert got.exit_code == 0, got.output
    assert json.loads(got.output)["format"] == "json"
    values = json.loads((out / "v.json").read_text())
    assert values["set"] == sorted(values["set"], key=repr)
    assert values["uuid"].endswith("3039")


# -- failures ---------------------------------------------------------------------------------


class Opaque:
    """Something no codec knows."""


@action(outputs=["numbers"])
def make_numbers() -> list[int]:
    return [1, 2, 3]


@action(outputs=["thing"])
def make_thing(numbers: list[int]) -> Opaque:
    return Opaque()


@action(outputs=["link"])
def make_link(*, ctx: ActionContext) -> Path:
    target = ctx.workdir / "real.txt"
    target.write_text("x")
    (ctx.workdir / "tree").mkdir()
    (ctx.workdir / "tree" / "link").symlink_to(target)
    return ctx.workdir / "tree"


opaque_flow = workflow("opaque", [make_numbers, make_thing], outputs=["thing"])
link_flow = workflow("links", [make_link], outputs=["link"])


def test_unencodable_output_fails_the_step_with_one_line_and_keeps_the_rest(tmp_path: Path) -> None:
    with open_store(tmp_path / "store") as store:
        result = Engine(store).run(
            opaque_flow, planner=ScriptPlanner(["make_numbers", "make_thing"])
        )
        assert result.run.status is RunStatus.FAILED
        first, failed = result.steps[0], result.steps[1]
        assert first.status is StepStatus.SUCCEEDED
        assert store.has_artifact(first.outputs["numbers"])
        assert failed.status is StepStatus.FAILED
        assert failed.error is not None
        message = failed.error.message
        assert "'make_thing'" in message
        assert "'thing'" in message
        assert "Opaque" in message
        assert "register a codec" in message
        assert "trusted=True" in message
        assert "\n" not in message


def test_trusted_engine_pickles_and_records_the_opt_in(tmp_path: Path) -> None:
    from reprolam.codecs import default_serializer
    from reprolam.history.diff import load_json

    with open_store(tmp_path / "store") as store:
        engine = Engine(store, serializer=default_serializer(trusted=True))
        result = engine.run(opaque_flow, planner=ScriptPlanner(["make_numbers", "make_thing"]))
        assert result.succeeded  # the engine decodes its own pickle (no untrusted refusal)
        assert store.get_artifact_record(result.run.outputs["thing"]).codec == "pickle"
        assert load_json(store, result.run.environment)["trust_pickle"] is True


def test_symbolic_links_in_an_output_directory_are_refused(tmp_path: Path) -> None:
    with open_store(tmp_path / "store") as store:
        result = Engine(store).run(link_flow, planner=ScriptPlanner(["make_link"]))
        error = result.steps[0].error
        assert error is not None
        assert "symbolic link" in error.message
        assert "'link'" in error.message


@action(outputs=["link"])
def return_link(*, ctx: ActionContext) -> Path:
    (ctx.workdir / "real.txt").write_text("x")
    (ctx.workdir / "link.txt").symlink_to(ctx.workdir / "real.txt")
    return ctx.workdir / "link.txt"


def test_a_returned_symbolic_link_is_refused_naming_it_and_the_fix(tmp_path: Path) -> None:
    """It said '.../link.txt is not a regular file or directory: pass a file or a
    directory' of a link to a regular file the action wrote."""
    with open_store(tmp_path / "store") as store:
        flow = workflow("returned-link", [return_link], outputs=["link"])
        result = Engine(store).run(flow, planner=ScriptPlanner())
        error = result.steps[0].error
        assert error is not None
        assert "link.txt is a symbolic link" in error.message
        assert "copy the file it points to into ctx.workdir" in error.message


@action(outputs=["figures"])
def make_figures(*, ctx: ActionContext) -> list[Path]:
    paths = [ctx.workdir / "a.png", ctx.workdir / "b.png"]
    for path in paths:
        path.write_bytes(b"\x89PNG")
    return paths


@pytest.mark.parametrize("executor", ["local", "process"])
def test_paths_into_the_workdir_inside_a_list_are_refused_not_lost(
    tmp_path: Path, executor: str
) -> None:
    """A list of the files an action wrote was recorded as a list of paths into its workdir,
    which is removed when the step ends: the run succeeded, the files were gone."""
    from reprolam.engine.executors import LocalExecutor
    from reprolam.engine.process import ProcessExecutor

    runner = LocalExecutor() if executor == "local" else ProcessExecutor()
    with open_store(tmp_path / "store") as store:
        flow = workflow("figures", [make_figures], outputs=["figures"])
        try:
            result = Engine(store, executor=runner).run(flow, planner=ScriptPlanner())
        finally:
            runner.close()
        assert result.run.status is RunStatus.FAILED
        error = result.steps[0].error
        assert error is not None
        assert "'figures'" in error.message
        assert "a.png, a path inside ctx.workdir, within a list" in error.message
        assert "return the directory" in error.message


@action(outputs=["results"])
def fill_workdir(*, ctx: ActionContext) -> Path:
    (ctx.workdir / "table.csv").write_text("a\n1\n")
    return ctx.workdir


@pytest.mark.parametrize("executor", ["local", "process"])
def test_returning_the_workdir_itself_gives_the_same_artifact_every_run(
    tmp_path: Path, executor: str
) -> None:
    """The manifest held the workdir's random name (step0-k2j3...): every run, and every
    reproduction, got another digest for the same files."""
    from reprolam.engine.executors import LocalExecutor
    from reprolam.engine.process import ProcessExecutor

    flow = workflow("whole-workdir", [fill_workdir], outputs=["results"])
    digests = set()
    for _ in range(2):
        runner = LocalExecutor() if executor == "local" else ProcessExecutor()
        with open_store(tmp_path / "store") as store:
            try:
                result = Engine(store, executor=runner).run(flow, planner=ScriptPlanner())
            finally:
                runner.close()
            assert result.succeeded
            digests.add(result.run.outputs["results"])
            assert result.outputs["results"].name == "results"  # named after its output
    assert len(digests) == 1


@action(outputs=["results", "table", "copy"])
def overlapping_paths(*, ctx: ActionContext) -> tuple[Path, Path, Path]:
    results = ctx.workdir / "results"
    results.mkdir()
    (results / "table.csv").write_text("a\n1\n")
    return results, results / "table.csv", results / "table.csv"


@pytest.mark.parametrize("executor", ["local", "process"])
def test_one_file_may_be_several_outputs(tmp_path: Path, executor: str) -> None:
    """A file returned twice, or inside a directory also returned, failed the step: the
    first output moved it into the store, and the next said '.../table.csv does not exist:
    write the file into ctx.workdir before returning its path'."""
    from reprolam.engine.executors import LocalExecutor
    from reprolam.engine.process import ProcessExecutor

    runner = LocalExecutor() if executor == "local" else ProcessExecutor()
    flow = workflow("overlapping", [overlapping_paths], outputs=["results", "table", "copy"])
    with open_store(tmp_path / "store") as store:
        try:
            result = Engine(store, executor=runner).run(flow, planner=ScriptPlanner())
        finally:
            runner.close()
        assert result.succeeded, result.steps[0].error
        assert result.outputs["table"].read_text() == "a\n1\n"
        assert result.outputs["copy"] == result.outputs["table"]
        assert (result.outputs["results"] / "table.csv").read_text() == "a\n1\n"


def test_large_files_stream_and_corruption_is_caught_on_read(tmp_path: Path) -> None:
    from reprolam import files
    from reprolam.trace.blobs import CHUNK

    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(2 * CHUNK + 123))
    with open_store(tmp_path / "store") as store:
        manifest = files.store_path(store, big)
        assert manifest.content == files.hash_file(big)
        back = tmp_path / "back.bin"
        files.write_manifest(store, manifest, back)
        assert back.read_bytes() == big.read_bytes()
        blob = store.blobs.path_of(manifest.content)  # type: ignore[attr-defined]
        blob.chmod(0o644)
        with open(blob, "r+b") as f:
            f.seek(CHUNK + 7)
            f.write(b"\x00corrupt")
        with pytest.raises(IntegrityError):
            files.write_manifest(store, manifest, tmp_path / "again.bin")
        assert not (tmp_path / "again.bin").exists()  # nothing half-written is left


def test_memory_store_keeps_files_too(tmp_path: Path) -> None:
    from reprolam import files
    from reprolam.trace.memory import MemoryStore

    folder = tmp_path / "d"
    (folder / "x").mkdir(parents=True)
    (folder / "x" / "f.sh").write_text("echo\n")
    (folder / "x" / "f.sh").chmod(0o755)
    store = MemoryStore()
    manifest = files.store_path(store, folder)
    assert [(e.path, e.mode) for e in manifest.entries] == [("x/f.sh", 0o755)]  # type: ignore[union-attr]
    path = files.materialize(store, manifest, "ab" * 32)
    assert (path / "x" / "f.sh").read_text() == "echo\n"
    assert not (path / "x").stat().st_mode & 0o222  # read-only (mode bits: root ignores them)
    files.remove_tree(path.parent)


def _unused(_: Any) -> None:  # keeps the typed helper import used under strict linters
    return None


@action(outputs=["out"])
def write_in_worker(*, ctx: ActionContext) -> Path:
    path = ctx.workdir / "from-worker.txt"
    path.write_text("made in another process\n")
    return path


@action(outputs=["text"])
def read_back(out: Path) -> str:
    return out.read_text()


worker_flow = workflow("worker-files", [write_in_worker, read_back], outputs=["text"])


def test_file_outputs_from_the_process_executor(tmp_path: Path) -> None:
    from reprolam.engine.process import ProcessExecutor

    executor = ProcessExecutor()
    try:
        with open_store(tmp_path / "store") as store:
            result = Engine(store, executor=executor).run(worker_flow, planner=ScriptPlanner())
            assert result.succeeded, result.steps[-1].error
            assert result.outputs["text"] == "made in another process\n"
            key = result.steps[0].outputs["out"]
            assert store.get_artifact_record(key).codec == "file"
            # the worker's workdir is removed with its step, as a local one is (it was
            # left behind, with whatever scratch files the action wrote there)
            assert list((tmp_path / "store" / "files" / "work").iterdir()) == []
    finally:
        executor.close()


def test_audit_says_when_a_run_holds_pickles(tmp_path: Path) -> None:
    from reprolam.codecs import default_serializer
    from reprolam.history.audit import audit

    with open_store(tmp_path / "store") as store:
        engine = Engine(store, serializer=default_serializer(trusted=True))
        result = engine.run(opaque_flow, planner=ScriptPlanner(["make_numbers", "make_thing"]))
        report = audit(store, result.id)
        assert report.pickles == 1
        assert "1 are pickles" in report.checks()["artifacts"]["summary"]


def test_a_file_is_recorded_with_the_size_of_the_bytes_read(tmp_path: Path) -> None:
    """The size was the stat's, taken before the content was read: a /proc file (stat
    size 0) or a log growing meanwhile was recorded as '0 bytes' with a digest of more,
    and `get` said '(native, 0 bytes, ...)' of the 1 KB it wrote."""
    from reprolam import files

    status = Path("/proc/self/status")
    if not status.is_file():
        pytest.skip("needs Linux's /proc")
    assert files.hash_path(status).size > 0
    with open_store(tmp_path / "store") as store:
        manifest = files.store_path(store, status)
        _record, data = store.get_artifact(manifest.content)
        assert manifest.size == len(data) - len(files.MAGIC) > 0
    # and a read of it, as the effects watch records it: the size of what its digest is of
    from reprolam.file_reads import file_state

    assert file_state(str(status))["size"] > 0
