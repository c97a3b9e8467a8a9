"""Files an action reads itself are observed: recorded with their digest, declared or not,
refused under ``strict``; the Python installation, imports and the temp dir are not."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest
from click.testing import CliRunner

import reprolam
from reads_flow import (
    FLOW,
    INPUT_FLOW,
    PATHS,
    asks_for_access,
    bumps_a_counter,
    checks_for_a_file,
    checks_no_paths,
    globs_for_a_file,
    imports_a_module_reading_data,
    lists_directory,
    load_from,
    load_in,
    looks_for_a_file,
    makes_its_folder,
    reads_a_fifo,
    reads_a_line,
    reads_standard_input,
    reads_temp_and_installed_files,
    reads_what_it_wrote,
    run_one,
    shows_its_own_code,
    use_private_tempdir,
)
from reprolam import Policy, action, file_reads, workflow
from reprolam.cli import render
from reprolam.cli.main import cli
from reprolam.engine.observe import ActionWatch
from reprolam.files import hash_file
from reprolam.history.observed import describe_effect
from reprolam.trace.records import StepRecord, StepStatus


@pytest.fixture(autouse=True)
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return use_private_tempdir(tmp_path, monkeypatch)


def _run(
    tmp_path: Path, fn: Any, *, effects: str = "warn", **params: Any
) -> tuple[str, StepRecord]:
    result = run_one(tmp_path, fn, effects=effects, **params)
    return result.id, result.steps[0]


def _reads(step: StepRecord) -> list[dict[str, Any]]:
    effects = step.proposal.get("observed", {}).get("effects", [])
    return [e for e in effects if e["kind"] == "file_read"]


def test_an_undeclared_read_is_recorded_once_with_the_files_digest(tmp_path: Path) -> None:
    with reprolam.open(tmp_path / "store") as rl:
        result = rl.run(FLOW, planner="script")
    (read,) = _reads(result.steps[0])
    assert read["target"] == str(PATHS["raw"])
    assert read["declared"] is False
    assert read["digest"] == hash_file(PATHS["raw"])  # what it would get as an input
    assert read["size"] == len("1\n2\n3\n")
    assert _reads(result.steps[1]) == []  # total reads its input artifact, nothing else


def test_a_path_handed_as_a_param_is_a_declared_read_strict_lets_through(tmp_path: Path) -> None:
    _, step = _run(tmp_path, load_from, effects="strict", path=str(PATHS["raw"]))
    assert step.status is StepStatus.SUCCEEDED
    (read,) = _reads(step)
    assert read["declared"] is True
    assert read["digest"] == hash_file(PATHS["raw"])  # declared reads are tracked too


def test_the_fix_a_workflow_input_is_not_an_undeclared_read(tmp_path: Path) -> None:
    """Copied, the action reads the store's copy (not a read); with copy=False, it reads the
    original path it is handed (a declared read, still fingerprinted)."""
    with reprolam.open(tmp_path / "store") as rl:
        copied = rl.run(INPUT_FLOW, planner="script", inputs={"table": PATHS["raw"]})
        uncopied = rl.run(
            INPUT_FLOW,
            planner="script",
            inputs={"table": reprolam.InputData(PATHS["raw"], copy=False)},
            policy=Policy(effects="strict"),
        )
    assert copied.succeeded
    assert "observed" not in copied.steps[0].proposal
    assert uncopied.succeeded
    (read,) = _reads(uncopied.steps[0])
    assert (read["target"], read["declared"]) == (str(PATHS["raw"]), True)


def test_a_directory_handed_as_a_param_declares_the_files_read_in_it(
    tmp_path: Path, data: Path
) -> None:
    _, step = _run(tmp_path, load_in, effects="strict", folder=str(data))
    assert step.status is StepStatus.SUCCEEDED
    (read,) = _reads(step)
    assert (read["target"], read["declared"]) == (str(PATHS["raw"]), True)
    # a param naming a directory declares every read under it, whatever it is for (a
    # separator "." declares the working directory): the record says which param did
    assert read["declared_by"] == "param folder"
    assert "(declared by param folder, which names a directory holding it)" in describe_effect(read)
    _, exact = _run(tmp_path, load_from, path=str(PATHS["raw"]))
    assert "declared_by" not in _reads(exact)[0]  # the param names the file itself
    given = ActionWatch(determinism="pure")
    given.inputs, given.params = (), {"folder": str(data), "path": str(PATHS["raw"])}
    effect = {"target": str(PATHS["raw"])}
    given._say_which_param(effect)
    assert "declared_by" not in effect  # named by one param, under another's directory


def test_a_param_naming_a_path_under_the_home_directory_declares_it(
    data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # "~/raw.csv" was taken for a directory named "~" in the working directory: the file
    # the action opened with expanduser was an undeclared read, refused under strict
    monkeypatch.setenv("HOME", str(data))
    assert file_reads.given_paths([], {"path": "~/raw.csv"}) == (str(PATHS["raw"]),)


def test_only_paths_handed_to_the_action_are_the_roots_of_declared_reads(data: Path) -> None:
    raw = str(PATHS["raw"])
    assert file_reads.given_paths([PATHS["raw"]], {}) == (raw,)  # a Path input
    assert file_reads.given_paths([], {"files": [raw, str(data)]}) == (raw, str(data))
    # a dict param's values: files={"train": PATH} handed the action its file, which was
    # an undeclared read (refused under strict)
    assert file_reads.given_paths([], {"files": {"train": raw}}) == (raw,)
    # an input's list of strings is data; a text far longer than a path is not one
    assert file_reads.given_paths([[raw, "b"]], {"text": "x" * 5000}) == ()


def test_strict_refuses_an_undeclared_read_naming_the_file_and_the_fix(tmp_path: Path) -> None:
    with reprolam.open(tmp_path / "store") as rl:
        result = rl.run(FLOW, planner="script", policy=Policy(effects="strict", max_failures=1))
    step = result.steps[0]
    assert step.status is StepStatus.FAILED
    assert step.error is not None
    assert step.error.type == "UndeclaredEffect"
    assert f"file_read: {PATHS['raw']}" in step.error.message
    assert "inputs=[NAME]" in step.error.message  # the fix
    (read,) = _reads(step)  # refused, and still recorded
    assert read["declared"] is False


def test_installed_files_imports_and_the_temp_dir_are_not_reads(tmp_path: Path) -> None:
    _, step = _run(tmp_path, reads_temp_and_installed_files)
    assert step.status is StepStatus.SUCCEEDED
    assert _reads(step) == []


def test_a_module_imported_by_the_action_is_a_declared_read_of_its_file_only(
    tmp_path: Path, data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "code"
    package.mkdir()
    (data / "value.txt").write_text("7")
    (package / "reads_at_import.py").write_text(
        f"from pathlib import Path\nVALUE = Path({str(data / 'value.txt')!r}).read_text()\n"
    )
    monkeypatch.syspath_prepend(str(package))
    monkeypatch.delitem(sys.modules, "reads_at_import", raising=False)
    PATHS["module"] = "reads_at_import"
    _, step = _run(tmp_path, imports_a_module_reading_data)
    assert step.outputs
    assert step.status is StepStatus.SUCCEEDED
    # its code is (a plugin the fingerprint cannot reach); what it read when imported is not
    (read,) = _reads(step)
    module = str(package / "reads_at_import.py")
    assert (read["target"], read["module"], read["declared"]) == (module, "reads_at_import", True)


def test_a_directory_listing_is_a_read_of_its_entries(tmp_path: Path, data: Path) -> None:
    _, step = _run(tmp_path, lists_directory)
    (listing,) = _reads(step)
    assert listing["target"] == str(data)
    assert listing["entries"] == 1
    assert "listing" in listing
    assert "digest" not in listing


def test_reading_back_what_the_action_wrote_is_not_a_read(tmp_path: Path) -> None:
    _, step = _run(tmp_path, reads_what_it_wrote)
    kinds = [e["kind"] for e in step.proposal["observed"]["effects"]]
    assert kinds == ["file_write"]


def test_a_file_looked_for_and_not_found_is_recorded_as_missing(tmp_path: Path, data: Path) -> None:
    PATHS["optional"] = data / "optional.cfg"
    _, step = _run(tmp_path, looks_for_a_file)
    (read,) = _reads(step)
    assert read["missing"] is True
    assert file_reads.read_change(read) is None  # still absent
    (data / "optional.cfg").write_text("x")
    assert file_reads.read_change(read) == "created since the recorded run (it did not exist then)"


def test_a_file_over_the_hash_cap_is_recorded_by_size_and_mtime(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(file_reads, "HASH_CAP", 4)
    with reprolam.open(tmp_path / "store") as rl:
        result = rl.run(FLOW, planner="script")
    (read,) = _reads(result.steps[0])
    assert "digest" not in read  # content not hashed
    assert read["size"] == 6
    assert read["mtime_ns"] == os.stat(PATHS["raw"]).st_mtime_ns
    os.utime(PATHS["raw"], ns=(read["mtime_ns"], read["mtime_ns"] + 10**9))
    assert "content not hashed" in str(file_reads.read_change(read))


def test_a_fifo_is_recorded_without_being_opened_again(tmp_path: Path, data: Path) -> None:
    PATHS["fifo"] = data / "pipe"
    os.mkfifo(PATHS["fifo"])
    _, step = _run(tmp_path, reads_a_fifo)
    assert step.status is StepStatus.SUCCEEDED
    (read,) = _reads(step)
    assert read["special"] == "p"


def test_a_file_that_cannot_be_hashed_leaves_the_step_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreadable(path: object) -> tuple[str, int]:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr("reprolam.files.hashed_file", unreadable)
    with reprolam.open(tmp_path / "store") as rl:
        result = rl.run(FLOW, planner="script")
        assert rl.audit(result.id).problems == []  # the record is whole
    assert [s.status for s in result.steps] == [StepStatus.SUCCEEDED] * 2
    (read,) = _reads(result.steps[0])
    assert read["unreadable"] == "Permission denied"
    assert "cannot be checked" in str(file_reads.read_change(read))  # never vouched for


def test_the_cli_warns_in_one_line_and_show_and_audit_list_the_read(tmp_path: Path) -> None:
    runner = CliRunner()
    store = str(tmp_path / "store")
    ran = runner.invoke(cli, ["--store", store, "run", "reads_flow:FLOW", "--planner", "script"])
    assert ran.exit_code == 0, ran.output
    (run_id,) = re.findall(r"run (\S+) succeeded", ran.stdout)
    said = "".join(ran.stderr.split())  # the step's line, wrapped to the terminal anywhere
    assert f"undeclaredfileread:{PATHS['raw']}" in said
    assert "inputs=[NAME]" in said  # and the fix
    shown = runner.invoke(cli, ["--store", store, "show", run_id])
    digest = hash_file(PATHS["raw"])
    listed = f"step0load:undeclaredfileread:{PATHS['raw']}[blake3{digest[:12]}"
    assert listed in "".join(shown.stdout.split())
    audit = runner.invoke(cli, ["--store", store, "audit", run_id, "--json"])
    (finding,) = json.loads(audit.stdout)["effects"]
    assert finding["kind"] == "file_read"
    assert finding["digest"] == digest


def test_run_reuse_says_on_each_step_where_its_outputs_came_from_or_what_changed(
    tmp_path: Path,
) -> None:
    """``run --reuse`` printed a reused step like an executed one (its time: 0.0 ms) and
    said nothing of why a step ran again; DVC names the stage and the changed dependency."""
    runner = CliRunner()
    store = str(tmp_path / "store")
    argv = ["--store", store, "run", "reads_flow:FLOW", "--planner", "script", "--reuse"]
    first = runner.invoke(cli, argv)
    (first_id,) = re.findall(r"run (\S+) succeeded", first.stdout)
    assert "reused" not in first.stderr  # nothing to reuse yet: no advice, no note
    again = runner.invoke(cli, argv)
    said = "".join(again.stderr.split())  # wrapped to the terminal anywhere
    assert "0loadreusedrows=" in said, again.stderr
    assert f"reusedtheoutputsofstep0ofrun{first_id}" in said
    PATHS["raw"].write_text("1\n2\n4\n")
    changed = "".join(runner.invoke(cli, argv).stderr.split())
    assert re.search(r"0load\d+\.\dms", changed), changed
    where = f"re-executed:differsfromstep0ofrun{first_id}infile{PATHS['raw']}"
    assert where in changed
    assert "contentchanged" in changed


@action(outputs=["n"])
def reads_system_files() -> int:
    """Time zones, mime types and certificates: the OS's files, read by the stdlib."""
    import mimetypes
    import ssl
    import zoneinfo

    zoneinfo.ZoneInfo("Europe/Paris")
    mimetypes.init()
    ssl.create_default_context()
    return 1


def test_the_operating_systems_files_are_not_reads_and_strict_lets_them_through(
    tmp_path: Path, data: Path
) -> None:
    """``zoneinfo``, ``mimetypes`` and ``ssl`` read /usr/share and /etc: strict refused the
    step for them, and warn printed them as data the action should declare."""
    _, step = _run(tmp_path, reads_system_files, effects="strict")
    assert step.status is StepStatus.SUCCEEDED, step.error
    assert _reads(step) == []


def test_data_in_the_temp_dir_is_a_read_the_actions_own_scratch_there_is_not(
    tmp_path: Path,
) -> None:
    """``/tmp`` was ignored as a whole: data kept there (a pytest ``tmp_path``) was read
    unseen, and ``--reuse`` took a stale result after it changed."""
    import tempfile

    from reads_flow import reads_a_file_in_the_temp_dir, reads_its_own_scratch_dir

    in_temp = Path(tempfile.mkdtemp()) / "data.txt"
    in_temp.write_text("abc")
    PATHS["in_temp"] = in_temp
    _, scratch = _run(tmp_path / "one", reads_its_own_scratch_dir, effects="strict")
    assert scratch.status is StepStatus.SUCCEEDED, scratch.error
    assert _reads(scratch) == []

    flow = workflow("temp_data", [reads_a_file_in_the_temp_dir], outputs=["n"])
    with reprolam.open(tmp_path / "two") as rl:
        first = rl.run(flow, planner="rules")
        [read] = _reads(first.steps[0])
        assert read["target"] == os.path.realpath(in_temp)
        assert read["digest"] == hash_file(in_temp)
        in_temp.write_text("abcd")
        again = rl.run(flow, planner="rules", reuse=True)
    assert not again.steps[0].proposal.get("cache", {}).get("reused")
    assert again.outputs["n"] == 4


@action(outputs=["n"])
def looks_up_entry_points() -> int:
    """What narwhals does inside a scikit-learn fit: importlib.metadata lists every sys.path
    entry (the project's directory among them) to find the installed distributions."""
    from importlib import metadata

    metadata.FastPath.__new__.cache_clear()  # type: ignore[attr-defined]  # list them again
    return len(list(metadata.entry_points(group="reprolam.no-such-group")))


def test_an_entry_point_lookup_is_not_a_read_of_the_directories_on_sys_path(
    tmp_path: Path, data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(data))  # a directory of data files on sys.path
    _, step = _run(tmp_path, looks_up_entry_points)
    assert step.status is StepStatus.SUCCEEDED
    assert _reads(step) == []


@pytest.mark.parametrize("backport", [False, True], ids=["stdlib", "importlib_metadata"])
def test_an_entry_point_lookup_past_a_removed_directory_on_sys_path_is_not_a_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backport: bool
) -> None:
    # A Dask cluster adds its scratch directory (in the temp dir) to sys.path and removes it
    # when it closes: importlib.metadata then opened the entry as a zip file (zipfile.Path),
    # an undeclared read of a path that no longer exists in every later step that listed
    # entry points (scikit-learn's fit through narwhals), refused under --effects strict
    # (distributed imports the importlib_metadata backport, whose zipp opens it deeper down)
    if backport:
        pytest.importorskip("importlib_metadata")
    gone = tmp_path / "dask-scratch-space" / "scheduler-x"
    monkeypatch.syspath_prepend(str(gone))
    _, step = _run(tmp_path, looks_up_entry_points)
    assert step.status is StepStatus.SUCCEEDED
    assert _reads(step) == []


@action(outputs=["m", "blob"])
def two_outputs() -> tuple[int, bytes]:
    return 1, b"x"


def test_a_steps_outputs_are_listed_in_one_order_executed_or_reused(tmp_path: Path) -> None:
    """The live line listed an executed step's outputs as declared (m, blob) and a reused
    one's as stored (blob, m)."""
    flow = workflow("two", [two_outputs], outputs=["m"])
    with reprolam.open(tmp_path / "store") as rl:
        lines = []
        for _ in range(2):
            progress = render.RunProgress(enabled=True)
            with patch.object(render, "err_console") as console:
                rl.run(flow, planner="rules", reuse=True, on_step=progress.step)
                printed = [str(c.args[0]) for c in console.print.call_args_list]
            lines.append(printed[-1])
    executed, reused = (re.search(r"blob=\w+ m=\w+", line) for line in lines)
    assert executed is not None
    assert reused is not None
    assert "reused" in lines[1]


def test_a_path_checked_before_it_is_opened_is_a_read_even_when_absent(
    tmp_path: Path, data: Path
) -> None:
    # os.path.exists and Path.is_file raise no audit event: the absence an action checked
    # for was not recorded, so --reuse took the -1 computed without the file once it was there
    PATHS["optional"] = data / "optional.cfg"
    _, step = _run(tmp_path, checks_for_a_file)
    (read,) = _reads(step)
    assert read["target"] == str(data / "optional.cfg")
    assert read["missing"] is True
    assert read["declared"] is False
    (data / "optional.cfg").write_text("x")
    again = run_one(tmp_path, checks_for_a_file, reuse=True).steps[0]
    assert not again.reused
    assert again.outputs != step.outputs
    strict = run_one(tmp_path, checks_for_a_file, effects="strict").steps[0]
    assert strict.status is StepStatus.FAILED


def test_a_file_globbed_for_without_a_wildcard_is_a_read_of_it(tmp_path: Path, data: Path) -> None:
    # glob("optional.cfg") only checks for the file (os.path.lexists, from the stdlib): not
    # recorded, so --reuse took the count computed before the file was made
    PATHS["optional"] = data / "optional.cfg"
    _, step = _run(tmp_path, globs_for_a_file)
    (read,) = _reads(step)
    assert (read["target"], read["missing"]) == (str(data / "optional.cfg"), True)
    (data / "optional.cfg").write_text("x")
    again = run_one(tmp_path, globs_for_a_file, reuse=True).steps[0]
    assert not again.reused
    assert again.outputs != step.outputs


def test_a_line_read_with_linecache_is_a_read_a_tracebacks_source_lines_are_not(
    tmp_path: Path, data: Path
) -> None:
    # linecache was ignored as the reader of tracebacks' source lines, so data read through
    # it was no dependency
    _, step = _run(tmp_path, reads_a_line)
    assert [r["target"] for r in _reads(step)] == [str(data / "raw.csv")]
    (data / "raw.csv").write_text("1\n7\n3\n")
    again = run_one(tmp_path, reads_a_line, reuse=True).steps[0]
    assert not again.reused
    _, shows = _run(tmp_path, shows_its_own_code)
    assert shows.status is StepStatus.SUCCEEDED
    assert _reads(shows) == []


def test_a_check_of_what_names_no_file_answers_as_without_the_watch(tmp_path: Path) -> None:
    # os.path.exists("a\\0b") raised ValueError (the watch resolving the name), and
    # lexists("") recorded a read of the working directory
    for effects in ("warn", "strict"):
        step = run_one(tmp_path, checks_no_paths, effects=effects).steps[0]
        assert step.status is StepStatus.SUCCEEDED, step.error
        assert _reads(step) == []


def test_a_missing_path_the_action_then_makes_is_its_output_not_a_read(
    tmp_path: Path, data: Path
) -> None:
    # `if not exists(d): makedirs(d)` in an action declaring its writes: the check was a
    # read of the missing folder, refused under strict where it happened, and a later
    # --reuse saw the folder 'created since' and never reused the step
    PATHS["report"] = data / "report"
    step = run_one(tmp_path, makes_its_folder, effects="strict").steps[0]
    assert step.status is StepStatus.SUCCEEDED, step.error
    assert _reads(step) == []
    assert (data / "report" / "report.txt").read_text() == "done"
    again = run_one(tmp_path, makes_its_folder, effects="strict").steps[0]  # the old report
    assert again.status is StepStatus.SUCCEEDED, again.error
    assert _reads(again) == []


def test_reading_the_standard_input_is_a_read_never_reused_and_refused_under_strict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `cat data | reprolam run ...` with an action reading sys.stdin: the record said it
    # read nothing, so --reuse took the result computed from other data
    import io

    monkeypatch.setattr(sys, "stdin", io.StringIO("1\n2\n"))
    first = run_one(tmp_path, reads_standard_input).steps[0]
    assert first.outputs
    assert sys.stdin.read() == ""  # it read it all, through the watch
    (read,) = _reads(first)
    assert (read["target"], read["declared"]) == ("<stdin>", False)
    assert "cannot be checked" in read["unverifiable"]
    monkeypatch.setattr(sys, "stdin", io.StringIO("5\n"))
    again = run_one(tmp_path, reads_standard_input, reuse=True).steps[0]
    assert again.reused is False
    monkeypatch.setattr(sys, "stdin", io.StringIO("5\n"))
    strict = run_one(tmp_path, reads_standard_input, effects="strict").steps[0]
    assert strict.status is StepStatus.FAILED


def test_a_path_checked_with_os_access_is_a_read(tmp_path: Path, data: Path) -> None:
    # os.access(path, os.R_OK) raises no audit event: the absence the action found was not
    # recorded, and --reuse took False once the file was there
    PATHS["optional"] = data / "optional.cfg"
    _, step = _run(tmp_path, asks_for_access)
    (read,) = _reads(step)
    assert (read["target"], read["missing"]) == (str(data / "optional.cfg"), True)
    (data / "optional.cfg").write_text("x")
    again = run_one(tmp_path, asks_for_access, reuse=True).steps[0]
    assert not again.reused


def test_a_file_opened_to_read_and_write_is_read_first(tmp_path: Path) -> None:
    # open(path, "r+") raised one writing open event: the step recorded a write only, so
    # what it read was no dependency and --reuse took the count of an older file
    before = hash_file(PATHS["raw"])
    first = run_one(tmp_path, bumps_a_counter).steps[0]
    (read,) = _reads(first)
    assert (read["target"], read["digest"], read["declared"]) == (str(PATHS["raw"]), before, False)
    again = run_one(tmp_path, bumps_a_counter, reuse=True).steps[0]
    assert not again.reused  # the file holds what the first step wrote
    assert again.outputs != first.outputs
