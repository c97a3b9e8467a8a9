"""Reuse checks the files a step read: a changed, deleted or unverifiable one means execute."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

import reprolam
from reads_flow import (
    FLOW,
    PATHS,
    bump_counter,
    cache_advice,
    imports_a_plugin,
    lists_then_adds,
    load,
    loads_in_threads,
    number_in,
    reads_every_csv,
    run_one,
    use_private_tempdir,
)
from reprolam import Policy, action, file_reads, workflow
from reprolam.actions import spec_of
from reprolam.engine import observe


def rl_explain(step: Any) -> str:
    """The CLI's note on a step's cache advice (``run --reuse``, ``show``)."""
    from reprolam.cli.render import _cache_note

    return _cache_note(cache_advice(step))


@pytest.fixture(autouse=True)
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return use_private_tempdir(tmp_path, monkeypatch)


def test_reuse_takes_a_step_whose_file_is_unchanged(tmp_path: Path) -> None:
    with reprolam.open(tmp_path / "store") as rl:
        first = rl.run(FLOW, planner="script")
        again = rl.run(FLOW, planner="script", reuse=True)
    assert [cache_advice(s)["reused"] for s in again.steps] == [True, True]
    assert cache_advice(again.steps[0])["counterpart"] == [first.id, 0]
    # the reuse says that the file behind it was checked; the step that read nothing says none
    assert cache_advice(again.steps[0])["reads_checked"] == 1
    assert "reads_checked" not in cache_advice(again.steps[1])
    assert rl_explain(again.steps[0]).endswith("; the 1 file or variable it read unchanged)")


def test_reuse_executes_a_step_whose_file_changed_and_says_which(tmp_path: Path) -> None:
    with reprolam.open(tmp_path / "store") as rl:
        first = rl.run(FLOW, planner="script")
        PATHS["raw"].write_text("1\n2\n4\n")
        again = rl.run(FLOW, planner="script", reuse=True)
    # it read the new content: not the stale result
    assert again.steps[1].outputs["total"] != first.steps[1].outputs["total"]
    load = cache_advice(again.steps[0])
    assert load["reused"] is False
    (why,) = load["changed"]  # type: ignore[misc]
    assert why.startswith(f"file {PATHS['raw']}: content changed since the recorded run")
    # the re-executed step records the new digest: it is the one reused from now on
    assert (
        again.steps[0].proposal["observed"]["effects"][0]["digest"]
        != (first.steps[0].proposal["observed"]["effects"][0]["digest"])
    )


def test_a_file_deleted_after_the_run_is_never_reused(tmp_path: Path) -> None:
    with reprolam.open(tmp_path / "store") as rl:
        first = rl.run(FLOW, planner="script")
        os.remove(PATHS["raw"])
        fork = rl.fork(first.id, at=0, reuse=True, workflow=FLOW)
    load = cache_advice(fork.steps[0])
    assert load["reused"] is False
    assert load["changed"] == [f"file {PATHS['raw']}: deleted since the recorded run"]
    assert fork.steps[0].error is not None
    assert fork.steps[0].error.type == "FileNotFoundError"  # it ran, and found no file


def test_a_fork_checks_the_reads_of_the_step_its_counterpart_reused(tmp_path: Path) -> None:
    """A reused step recorded no reads of its own: those of its source are checked."""
    with reprolam.open(tmp_path / "store") as rl:
        first = rl.run(FLOW, planner="script")
        second = rl.fork(first.id, at=0, reuse=True, workflow=FLOW)
        assert cache_advice(second.steps[0])["reused"] is True
        assert "observed" not in second.steps[0].proposal
        PATHS["raw"].write_text("5\n")
        third = rl.fork(second.id, at=0, reuse=True, workflow=FLOW)
    assert cache_advice(third.steps[0])["reused"] is False
    assert third.steps[0].outputs["rows"] != first.steps[0].outputs["rows"]


def test_a_big_file_is_reused_until_its_size_or_mtime_moves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(file_reads, "HASH_CAP", 4)
    with reprolam.open(tmp_path / "store") as rl:
        rl.run(FLOW, planner="script")
        assert cache_advice(rl.run(FLOW, planner="script", reuse=True).steps[0])["reused"] is True
        os.utime(PATHS["raw"], ns=(0, os.stat(PATHS["raw"]).st_mtime_ns + 10**9))
        load = cache_advice(rl.run(FLOW, planner="script", reuse=True).steps[0])
    assert load["reused"] is False
    assert "content not hashed" in str(load["changed"])


def test_a_file_that_could_not_be_hashed_is_never_vouched_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreadable(path: object) -> tuple[str, int]:
        raise PermissionError(13, "Permission denied", str(path))

    with reprolam.open(tmp_path / "store") as rl:
        with monkeypatch.context() as patched:
            patched.setattr("reprolam.files.hashed_file", unreadable)
            rl.run(FLOW, planner="script")
        load = cache_advice(rl.run(FLOW, planner="script", reuse=True).steps[0])
    assert load["reused"] is False
    assert "could not be read when recorded" in str(load["changed"])


def test_a_step_that_read_more_paths_than_it_lists_is_never_reused(
    tmp_path: Path, data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(observe, "EFFECTS_CAP", 2)
    for name in ("b.csv", "c.csv"):
        (data / name).write_text(name)
    flow = workflow("many", [reads_every_csv], outputs=["n"])
    with reprolam.open(tmp_path / "store") as rl:
        first = rl.run(flow, planner="script")
        effects = first.steps[0].proposal["observed"]["effects"]
        assert [e["target"] for e in effects][:2] == [str(data), str(data / "b.csv")]
        assert effects[-1]["unlisted"] is True  # the listing, b.csv, then "more"
        again = cache_advice(rl.run(flow, planner="script", reuse=True).steps[0])
    assert again["reused"] is False
    assert "more files than the step lists" in str(again["changed"])


@pytest.mark.parametrize(("rewrites", "path"), [(bump_counter, "raw.csv"), (lists_then_adds, ".")])
def test_a_path_the_action_changes_after_reading_is_recorded_as_it_was_read(
    tmp_path: Path, data: Path, rewrites: Any, path: str
) -> None:
    """The state was taken when the action returned: a counter it bumped (a folder it added
    to) was recorded as read with what it left, so the next --reuse found it "unchanged" and
    took the old result, though executing would read the new value."""
    flow = workflow("rewrites", [rewrites], outputs=list(spec_of(rewrites).outputs))
    before = file_reads.file_state(os.path.realpath(data / path))
    with reprolam.open(tmp_path / "store") as rl:
        first = rl.run(flow, planner="script")
        effects = first.steps[0].proposal["observed"]["effects"]
        (read,) = [e for e in effects if e["kind"] == "file_read"]
        assert file_reads.recorded_state(read) == before
        again = rl.run(flow, planner="script", reuse=True)
    step = again.steps[0]
    assert cache_advice(step)["reused"] is False
    assert "changed since the recorded run" in str(cache_advice(step)["changed"])
    assert step.outputs != first.steps[0].outputs  # it read what the first run left


def test_a_module_the_action_imports_by_name_is_a_declared_read_of_its_file(
    tmp_path: Path, data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``importlib.import_module(plugin)`` reaches code the fingerprint's static walk cannot:
    a changed plugin was reused with the old plugin's result."""
    name = f"plugin_{tmp_path.name.replace('-', '_')}"  # new to this process
    source = data / f"{name}.py"
    source.write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(data))
    flow = workflow("plugins", [imports_a_plugin], outputs=["y"])
    with reprolam.open(tmp_path / "store") as rl:
        first = rl.run(flow, planner="rules", set={"imports_a_plugin.plugin": name})
        effects = first.steps[0].proposal["observed"]["effects"]
        (read,) = effects  # json.tool is the standard library's
        assert (read["target"], read["module"], read["declared"]) == (str(source), name, True)
        assert read["digest"] == file_reads.file_state(str(source))["digest"]
        same = rl.run(flow, planner="rules", set={"imports_a_plugin.plugin": name}, reuse=True)
        source.write_text("VALUE = 2\n")
        changed = rl.run(flow, planner="rules", set={"imports_a_plugin.plugin": name}, reuse=True)
    assert cache_advice(same.steps[0])["reused"] is True
    assert cache_advice(changed.steps[0])["reused"] is False
    (why,) = cache_advice(changed.steps[0])["changed"]  # type: ignore[misc]
    assert why.startswith(f"file {source}: content changed")


def test_an_alias_of_the_main_script_is_not_an_imported_module(tmp_path: Path) -> None:
    """multiprocessing (and joblib's loky) registers ``__mp_main__`` for the main script when a
    pool starts: it is not a module the action imported (it read as one, of the script)."""
    import sys
    from types import ModuleType

    alias = ModuleType("__reprolam_test_alias__")
    alias.__file__ = str(PATHS["raw"])

    @action(outputs=["n"])
    def starts_a_pool() -> int:
        sys.modules["__reprolam_test_alias__"] = alias
        return 1

    try:
        step = run_one(tmp_path, starts_a_pool).steps[0]
    finally:
        sys.modules.pop("__reprolam_test_alias__", None)
    assert step.proposal.get("observed") is None


def test_a_step_whose_reused_source_is_not_in_the_store_is_never_reused(tmp_path: Path) -> None:
    """A run imported without the run it reused from: what its outputs were computed from
    cannot be checked. Its reads counted as none, so after the file changed it was reused."""
    with reprolam.open(tmp_path / "store") as rl:
        first = rl.run(FLOW, planner="script")
        again = rl.run(FLOW, planner="script", reuse=True)
        assert cache_advice(again.steps[0])["counterpart"] == [first.id, 0]
        rl.export(again.id, format="rocrate", output=tmp_path / "again.zip")
    PATHS["raw"].write_text("1\n2\n4\n")
    with reprolam.open(tmp_path / "elsewhere") as rl:
        rl.import_crate(tmp_path / "again.zip")
        fresh = rl.run(FLOW, planner="script", reuse=True)
    load = cache_advice(fresh.steps[0])
    assert load["reused"] is False
    (why,) = load["changed"]  # type: ignore[misc]
    assert load["counterpart"] == [again.id, 0]
    assert why.startswith(f"file (the reads of step 0 of run {first.id}): the step whose outputs")
    assert "what its outputs were computed from cannot be checked" in why
    assert fresh.steps[1].outputs["total"] != again.steps[1].outputs["total"]


def test_a_file_read_in_a_thread_the_action_starts_is_its_read(tmp_path: Path) -> None:
    """A thread pool loading files for the action read them unseen: --reuse took the old
    result after the file changed."""
    flow = workflow("threads", [loads_in_threads], outputs=["rows"])
    with reprolam.open(tmp_path / "store") as rl:
        first = rl.run(flow, planner="script")
        (read,) = first.steps[0].proposal["observed"]["effects"]
        assert (read["kind"], read["target"]) == ("file_read", str(PATHS["raw"]))
        PATHS["raw"].write_text("1\n2\n4\n")
        again = rl.run(flow, planner="script", reuse=True)
        strict = rl.run(flow, planner="script", policy=Policy(effects="strict", max_failures=1))
    assert cache_advice(again.steps[0])["reused"] is False
    assert again.steps[0].outputs != first.steps[0].outputs
    assert strict.steps[0].error is not None  # refused in the pool's thread, the step failed
    assert "UndeclaredEffect" in f"{strict.steps[0].error.type} {strict.steps[0].error.message}"


def test_a_pool_kept_between_steps_reads_for_the_step_that_hands_it_work(tmp_path: Path) -> None:
    """A pool started in one step and used by a later one: what its thread reads for the later
    step is that step's read (recorded, refused under strict), never the finished step's."""
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(max_workers=1)

    @action(outputs=["n"])
    def starts_a_kept_pool() -> int:
        return pool.submit(lambda: 1).result()

    @action(outputs=["text"])
    def reads_through_the_pool(n: int) -> str:
        return str(pool.submit(PATHS["raw"].read_text).result())

    flow = workflow("kept_pool", [starts_a_kept_pool, reads_through_the_pool], outputs=["text"])
    try:
        with reprolam.open(tmp_path / "store") as rl:
            warned = rl.run(flow, planner="script")
            strict = rl.run(flow, planner="script", policy=Policy(effects="strict", max_failures=1))
    finally:
        pool.shutdown()
    assert warned.succeeded, [s.error for s in warned.steps]
    assert warned.steps[0].proposal.get("observed") is None  # the step that started the pool
    (read,) = warned.steps[1].proposal["observed"]["effects"]
    assert (read["kind"], read["target"]) == ("file_read", str(PATHS["raw"]))
    assert strict.steps[0].error is None
    assert strict.steps[1].error is not None  # refused in the pool's thread: the step failed
    assert strict.steps[1].error.type == "UndeclaredEffect"


@action(outputs=["text"])
def reads_through_a_process() -> str:
    import subprocess

    return subprocess.run(
        ["cat", str(PATHS["raw"])], check=True, capture_output=True, text=True
    ).stdout


@action(outputs=["text"], side_effects=("runs cat on the data",))
def reads_through_a_declared_process() -> str:
    import subprocess

    return subprocess.run(
        ["cat", str(PATHS["raw"])], check=True, capture_output=True, text=True
    ).stdout


@action(outputs=["n"])
def reads_from_a_socket() -> int:
    import socket

    with socket.create_connection(("127.0.0.1", PATHS["port"])) as connection:
        return len(connection.recv(16))


def test_a_step_that_read_through_an_undeclared_process_is_never_reused(tmp_path: Path) -> None:
    """``cat`` reads the file in another process: the watch cannot check it, so --reuse must
    not take the recorded text once the file may have changed (it did, here)."""
    flow = workflow("process", [reads_through_a_process], outputs=["text"])
    with reprolam.open(tmp_path / "store") as rl:
        first = rl.run(flow, planner="script")
        PATHS["raw"].write_text("1\n2\n4\n")
        again = rl.run(flow, planner="script", reuse=True)
    advice = cache_advice(again.steps[0])
    assert advice["reused"] is False
    (why,) = advice["changed"]
    assert why.startswith(f"file (read by `subprocess.Popen: cat {PATHS['raw']}`): a process")
    assert "declare the effect in the action's side_effects" in why
    assert again.steps[0].outputs != first.steps[0].outputs  # the new content


def test_a_declared_process_is_reused_by_its_cache_key(tmp_path: Path) -> None:
    flow = workflow("declared_process", [reads_through_a_declared_process], outputs=["text"])
    with reprolam.open(tmp_path / "store") as rl:
        first = rl.run(flow, planner="script")
        again = rl.run(flow, planner="script", reuse=True)
    assert cache_advice(again.steps[0])["reused"] is True
    assert again.steps[0].outputs == first.steps[0].outputs


def _sums_in_workers(start_method: str) -> int:
    """A multiprocessing pool whose workers read the file: processes whose reads the watch
    never sees. By fork (Linux's default to Python 3.13) they raise ``os.fork``; by spawn
    (macOS's default; forkserver is Linux's from 3.14) they are new interpreters, started
    without an audit event."""
    import functools
    import multiprocessing

    with multiprocessing.get_context(start_method).Pool(2) as pool:
        return sum(pool.map(functools.partial(number_in, str(PATHS["raw"])), range(3)))


@action(outputs=["total"])
def sums_in_forked_workers() -> int:
    return _sums_in_workers("fork")


@action(outputs=["total"])
def sums_in_spawned_workers() -> int:
    return _sums_in_workers("spawn")


@action(outputs=["total"])
def sums_with_joblib(*, backend: str = "loky") -> int:
    """joblib's workers for n_jobs (loky: spawned; multiprocessing: forked): processes an
    installed package starts and manages."""
    from joblib import Parallel, delayed

    return int(sum(Parallel(n_jobs=2, backend=backend)(delayed(abs)(-i) for i in range(8))))


@pytest.mark.parametrize(
    ("fn", "started"),
    [
        (sums_in_forked_workers, "os.fork: a copy of this process"),
        (sums_in_spawned_workers, "multiprocessing: a new Python process, started by spawn"),
    ],
)
def test_a_step_whose_worker_processes_read_data_is_never_reused(
    tmp_path: Path, fn: Any, started: str
) -> None:
    """Neither start raised an effect: the step was reused with the total of the old file."""
    flow = workflow("workers", [fn], outputs=["total"])
    with reprolam.open(tmp_path / "store") as rl:
        first = rl.run(flow, planner="script")
        PATHS["raw"].write_text("10\n20\n30\n")
        again = rl.run(flow, planner="script", reuse=True)
        strict = rl.run(flow, planner="script", policy=Policy(effects="strict"))
    advice = cache_advice(again.steps[0])
    assert advice["reused"] is False
    assert advice["changed"][0].startswith(f"file (read by `{started}")
    assert first.steps[0].outputs != again.steps[0].outputs  # 6, then 60
    assert strict.steps[0].error is not None
    assert strict.steps[0].error.type == "UndeclaredEffect"
    assert started in strict.steps[0].error.message


@pytest.mark.parametrize("backend", ["loky", "multiprocessing"])
def test_worker_processes_an_installed_package_manages_are_not_the_actions(
    tmp_path: Path, backend: str
) -> None:
    flow = workflow("joblib", [sums_with_joblib], outputs=["total"])
    with reprolam.open(tmp_path / "store") as rl:
        run = rl.run(
            flow,
            planner="script",
            policy=Policy(effects="strict"),
            set={"sums_with_joblib.backend": backend},
        )
    assert run.steps[0].error is None, run.steps[0].error
    assert run.steps[0].proposal.get("observed") is None


def test_a_step_that_read_from_the_network_is_never_reused(tmp_path: Path) -> None:
    import socket
    import threading

    server = socket.create_server(("127.0.0.1", 0))
    PATHS["port"] = server.getsockname()[1]

    def answer() -> None:
        for _ in range(2):
            connection, _ = server.accept()
            with connection:
                connection.sendall(b"data")

    serving = threading.Thread(target=answer, daemon=True)
    serving.start()
    flow = workflow("network", [reads_from_a_socket], outputs=["n"])
    try:
        with reprolam.open(tmp_path / "store") as rl:
            rl.run(flow, planner="script")
            again = rl.run(flow, planner="script", reuse=True)
    finally:
        server.close()
    (why,) = cache_advice(again.steps[0])["changed"]
    assert why.startswith(f"file (received over `connect 127.0.0.1:{PATHS['port']}`): what")


@action(outputs=["lines"])
def _count_relative() -> int:
    with open("data.csv") as f:  # relative to the working directory
        return len(f.read().splitlines())


def test_a_relative_read_from_another_working_directory_is_not_reused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The recorded (absolute) file was unchanged, so --reuse took its result, though the
    same action run here reads another file; reproduce named no cause."""
    for name, lines in (("a", 2), ("b", 5)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "data.csv").write_text("x\n" * lines)
    flow = workflow("relative", [_count_relative], outputs=["lines"])
    with reprolam.open(tmp_path / "store") as rl:
        monkeypatch.chdir(tmp_path / "a")
        first = rl.run(flow)
        assert first.outputs["lines"] == 2
        (read,) = rl.show(first.id).steps[0].proposal["observed"]["effects"]
        assert read["relative"] == "data.csv"
        monkeypatch.chdir(tmp_path / "b")
        again = rl.run(flow, reuse=True)
        assert again.outputs["lines"] == 5  # executed: here "data.csv" is b's
        result = rl.reproduce(first.id, workflow=flow)
        assert result.divergence is not None
        assert "not the file it read" in result.summary()
        monkeypatch.chdir(tmp_path / "a")
        assert rl.reproduce(first.id, workflow=flow).bitwise
        assert rl.run(flow, reuse=True).outputs["lines"] == 2


def test_strict_takes_no_outputs_computed_with_undeclared_effects(tmp_path: Path) -> None:
    # a step recorded under warn with an undeclared read was reused by run --reuse
    # --effects strict, whose run then succeeded on a read strict refuses
    warned = run_one(tmp_path, load).steps[0]
    assert warned.status.value == "succeeded"
    strict = run_one(tmp_path, load, effects="strict", reuse=True).steps[0]
    assert not strict.reused
    assert strict.status.value == "failed"
    assert strict.error is not None
    assert strict.error.type == "UndeclaredEffect"
    advice = cache_advice(strict)
    assert advice["hit"]
    assert not advice["reused"]
    assert advice["undeclared"].startswith("file_read: ")
    assert "strict effects policy refuses" in rl_explain(strict)
    # under warn it is taken, as before
    assert run_one(tmp_path, load, reuse=True).steps[0].reused
