"""Undeclared effects: observed while an action runs, recorded on its step, governed by policy."""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

import reprolam
from reprolam import Policy, action, file_reads, workflow
from reprolam.cli.main import cli
from reprolam.engine import observe
from reprolam.engine.observe import ActionWatch, rng_marks
from reprolam.trace.memory import MemoryStore
from reprolam.trace.records import StepRecord, StepStatus

TARGET: dict[str, Any] = {}  # where the file-writing action writes (set per test)


@pytest.fixture(autouse=True)
def _private_tempdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The OS temp dir is allowed: give this test its own, so tmp_path counts as outside it."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    TARGET["path"] = str(tmp_path / "out.txt")
    TARGET["scratch"] = str(scratch / "ok.txt")


@action(outputs=["n"])
def writes_file() -> int:
    Path(TARGET["path"]).write_text("written")
    return 1


@action(outputs=["n"])
def writes_temp() -> int:
    Path(TARGET["scratch"]).write_text("fine")
    return 1


@action(outputs=["n"])
def connects() -> int:
    with socket.create_connection(("127.0.0.1", TARGET["port"]), timeout=5):
        pass
    return 1


@action(outputs=["n"])
def spawns() -> int:
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return 1


@action(outputs=["n"])
def draws_random() -> float:
    return random.random()


@action(outputs=["n"])
def draws_numpy() -> float:
    return float(np.random.rand())


@action(outputs=["n"])
def reads_clock() -> float:
    return time.time() * 0.0


@action(outputs=["n"], determinism="seeded")
def seeded_draw() -> float:
    return random.random()


@action(outputs=["n"], determinism="external", side_effects=["writes out.txt"])
def declared_write() -> int:
    Path(TARGET["path"]).write_text("declared")
    return 1


@action(outputs=["n"])
def quiet() -> int:
    return sum(range(10))


def _run(fn: Any, *, effects: str = "warn") -> StepRecord:
    flow = workflow("fx", [fn], outputs=["n"])
    with reprolam.open(MemoryStore()) as rl:
        result = rl.run(flow, planner="rules", policy=Policy(effects=effects, max_failures=1))
    (step,) = result.steps
    return step


def _effects(step: StepRecord) -> list[dict[str, Any]]:
    return list(step.proposal.get("observed", {}).get("effects", []))


@pytest.fixture
def listener() -> Any:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    TARGET["port"] = server.getsockname()[1]
    yield server
    server.close()


@pytest.mark.parametrize(
    ("fn", "kind", "target_part"),
    [
        (writes_file, "file_write", "out.txt"),
        (spawns, "subprocess", sys.executable),
        (draws_random, "global_rng", "random module"),
        (draws_numpy, "global_rng", "numpy.random"),
        (reads_clock, "clock", "time.time()"),
    ],
)
def test_each_undeclared_effect_is_observed_and_recorded(
    fn: Any, kind: str, target_part: str
) -> None:
    step = _run(fn)
    assert step.status is StepStatus.SUCCEEDED  # warn: recorded, not refused
    (effect,) = [e for e in _effects(step) if e["kind"] == kind]
    assert target_part in effect["target"]
    assert effect["declared"] is False
    assert effect["count"] >= 1


def test_network_connection_is_observed(listener: Any) -> None:
    step = _run(connects)
    (effect,) = _effects(step)
    assert effect["kind"] == "network"
    assert effect["target"] == f"connect 127.0.0.1:{TARGET['port']}"


def test_quiet_actions_and_the_temp_dir_record_nothing() -> None:
    assert "observed" not in _run(quiet).proposal
    assert "observed" not in _run(writes_temp).proposal


def test_seeded_actions_may_use_global_rngs_and_declared_effects_are_marked() -> None:
    assert "observed" not in _run(seeded_draw).proposal
    (effect,) = _effects(_run(declared_write))
    assert effect["kind"] == "file_write"
    assert effect["declared"] is True


def test_strict_refuses_the_write_where_it_happens_and_fails_the_step() -> None:
    step = _run(writes_file, effects="strict")
    assert step.status is StepStatus.FAILED
    assert step.error is not None
    assert step.error.type == "UndeclaredEffect"
    assert "file_write" in step.error.message
    assert "out.txt" in step.error.message
    assert "side_effects" in step.error.message  # the fix is named
    assert not Path(TARGET["path"]).exists()  # the audit hook stopped the write itself
    assert step.outputs == {}


def test_strict_fails_steps_whose_effects_are_seen_afterwards() -> None:
    step = _run(draws_random, effects="strict")
    assert step.status is StepStatus.FAILED
    assert step.error is not None
    assert "global_rng" in step.error.message
    declared_ok = _run(declared_write, effects="strict")
    assert declared_ok.status is StepStatus.SUCCEEDED


def test_recorded_effects_are_covered_by_the_hash_chain() -> None:
    from dataclasses import replace

    from reprolam.trace.records import step_hash

    step = _run(reads_clock)
    tampered = replace(step, proposal={k: v for k, v in step.proposal.items() if k != "observed"})
    assert step_hash(tampered) != step.hash


def test_watch_is_cheap_to_leave_and_restores_the_streams() -> None:
    before = (sys.stdout, sys.stderr)
    watch = ActionWatch(determinism="pure").start()
    assert sys.stdout is not before[0]
    assert watch.stop() is None
    assert (sys.stdout, sys.stderr) == before
    assert rng_marks() == rng_marks()


FLOW_FILE = """
import random
from reprolam import action, workflow

@action(outputs=["n"])
def draw() -> float:
    return random.random()

flow = workflow("fx-cli", [draw], outputs=["n"])
"""


def test_cli_effects_strict_fails_the_run_and_audit_reports_warned_effects(
    tmp_path: Path,
) -> None:
    flow = tmp_path / "fxflow.py"
    flow.write_text(FLOW_FILE)
    store = str(tmp_path / "store")
    runner = CliRunner()
    ref = f"{flow}:flow"
    strict = runner.invoke(cli, ["--store", store, "run", ref, "--effects", "strict", "--json"])
    assert strict.exit_code == 1, strict.output
    failed_id = json.loads(strict.stdout)["run"]["id"]
    shown = json.loads(runner.invoke(cli, ["--store", store, "show", failed_id, "--json"]).stdout)
    (step,) = shown["steps"]
    assert step["error"]["type"] == "UndeclaredEffect"
    assert step["effects"][0]["kind"] == "global_rng"

    warned = runner.invoke(cli, ["--store", store, "run", ref, "--json"])
    assert warned.exit_code == 0, warned.output
    run_id = json.loads(warned.stdout)["run"]["id"]
    audit = runner.invoke(cli, ["--store", store, "audit", run_id, "--json"])
    findings = json.loads(audit.stdout)["effects"]
    assert [(f["step"], f["action"], f["kind"]) for f in findings] == [(0, "draw", "global_rng")]
    human = runner.invoke(cli, ["--store", store, "audit", run_id])
    assert "undeclared effect" in human.output

    bad = runner.invoke(cli, ["--store", store, "run", ref, "--effects", "never"])
    assert bad.exit_code == 2
    assert "--effects" in bad.output


@action(outputs=["n", "m"])
def wrong_outputs() -> int:
    return 1


def test_an_action_with_wrong_outputs_leaves_observation_working() -> None:
    assert _run(wrong_outputs).status is StepStatus.FAILED  # its watch was stopped once
    (effect,) = _effects(_run(reads_clock))
    assert effect["kind"] == "clock"


def test_stopping_a_watch_twice_counts_once() -> None:
    watch = ActionWatch(determinism="pure").start()
    watch.stop()
    watch.stop()
    (effect,) = _effects(_run(reads_clock))
    assert effect["kind"] == "clock"


def test_a_module_stamping_the_time_when_first_imported_is_not_the_actions_clock_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """numpy.f2py reads time.time() at import; a pure action importing it reads no clock."""
    (tmp_path / "stamped_at_import.py").write_text("import time\nSTAMP = time.time()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("stamped_at_import", None)

    @action(outputs=["n"], determinism="pure")
    def imports_a_stamping_module() -> float:
        import stamped_at_import

        return float(stamped_at_import.STAMP > 0)

    # no clock read: only the module, a declared read of its file (code_capture cannot see it)
    effects = _effects(_run(imports_a_stamping_module))
    assert [(e["kind"], e.get("module")) for e in effects] == [("file_read", "stamped_at_import")]
    assert [e["kind"] for e in _effects(_run(reads_clock))] == ["clock"]  # a real read still is


def test_a_clock_read_anywhere_inside_an_import_is_not_the_actions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """dateutil builds its parser when imported, and the parser's __init__ reads the year:
    pandas imported inside a pure action (the bundled workflow's first step, in a fresh
    process) must not make it a clock read."""
    (tmp_path / "built_at_import.py").write_text(
        "import time\n\n\nclass Info:\n    def __init__(self):\n"
        "        self.year = time.localtime().tm_year\n\n\nDEFAULT = Info()\n"
        "\n\ndef this_year():\n    return Info().year\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("built_at_import", None)

    @action(outputs=["n"], determinism="pure")
    def imports_it() -> int:
        import built_at_import

        return int(built_at_import.DEFAULT.year)

    @action(outputs=["n"], determinism="pure")
    def calls_it() -> int:
        import built_at_import

        return int(built_at_import.this_year())  # the module's code, run by the action

    effects = _effects(_run(imports_it))  # no clock read: the module's file, a declared read
    assert [(e["kind"], e.get("module")) for e in effects] == [("file_read", "built_at_import")]
    (effect,) = _effects(_run(calls_it))
    assert effect["kind"] == "clock"
    assert "built_at_import.py:6" in effect["target"]


def test_the_bundled_workflow_has_no_undeclared_effects(tmp_path: Path) -> None:
    with reprolam.open(tmp_path / "store") as rl:
        run = rl.run("breast-cancer")
    assert [(s.action, _effects(s)) for s in run.steps if _effects(s)] == []


def test_the_bundled_workflow_in_a_fresh_process_has_no_undeclared_effects(tmp_path: Path) -> None:
    """The quick start, as a new user runs it: its first action imports pandas (and dateutil,
    which reads the clock when imported), which the test process had long imported."""
    done = subprocess.run(
        [sys.executable, "-m", "reprolam", "--store", str(tmp_path), "run"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "undeclared" not in done.stdout + done.stderr
    with reprolam.open(tmp_path) as rl:
        (run,) = rl.runs()
        assert [s.action for s in rl.show(run.id).steps if _effects(s)] == []


def test_actions_that_never_ask_for_a_workdir_get_no_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Watching an action must not create its workdir (a mkdtemp and rmtree per step)."""
    made: list[str] = []
    real = tempfile.mkdtemp

    def counting(*args: Any, **kwargs: Any) -> str:
        made.append(real(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(tempfile, "mkdtemp", counting)
    with reprolam.open(tmp_path / "store") as rl:
        assert rl.run("breast-cancer").succeeded
    assert made == []


@action(outputs=["n"], determinism="pure")
def sums_in_parallel() -> int:
    """joblib times its batches (``time.time()`` in joblib) to tune their size for ``n_jobs``:
    the library's clock, not one the action's result depends on."""
    from joblib import Parallel, delayed

    return int(sum(Parallel(n_jobs=2, backend="threading")(delayed(abs)(-i) for i in range(50))))


@action(outputs=["n"], determinism="pure")
def uses_shared_memory_scratch() -> int:
    scratch = Path("/dev/shm") / f"reprolam-test-{id(object())}"
    scratch.write_bytes(b"x")
    try:
        return len(scratch.read_bytes())
    finally:
        scratch.unlink()


@action(outputs=["n"], determinism="pure")
def compresses() -> int:
    """gzip writes the time into its header: the standard library's clock read reaches the
    action's output."""
    import gzip

    return len(gzip.compress(b"data"))


def test_a_librarys_own_clock_reads_are_not_the_actions() -> None:
    step = _run(sums_in_parallel, effects="strict")
    assert step.status is StepStatus.SUCCEEDED, step.error
    assert _effects(step) == []
    assert [e["kind"] for e in _effects(_run(reads_clock))] == ["clock"]  # the user's read is
    (stamped,) = _effects(_run(compresses))  # and the standard library's
    assert stamped["kind"] == "clock"
    assert "gzip.py" in stamped["target"]


@pytest.mark.skipif(not Path("/dev/shm").is_dir(), reason="no /dev/shm on this system")
def test_shared_memory_is_scratch_like_the_temp_dir() -> None:
    step = _run(uses_shared_memory_scratch, effects="strict")
    assert step.status is StepStatus.SUCCEEDED, step.error
    assert _effects(step) == []


@action(outputs=["report"])
def writes_a_report(ctx: reprolam.ActionContext) -> Path:
    out = ctx.workdir / "report.txt"
    out.write_text("done\n")
    return out


@action(outputs=["n"])
def makes_a_directory(*, where: str) -> int:
    Path(where).mkdir(parents=True)
    return 1


def test_a_workdir_in_a_fresh_store_outside_the_temp_dir_is_no_effect(tmp_path: Path) -> None:
    """The first ``ctx.workdir`` of a store makes the directories workdirs go in: the engine's,
    not an undeclared write (strict refused the first run of a new store). Stores under the
    OS temp dir hide it: everything there is scratch (``_private_tempdir`` moves it)."""
    store = tmp_path / "outside" / "store"
    flow = workflow("reports", [writes_a_report], outputs=["report"])
    with reprolam.open(store) as rl:
        run = rl.run(flow, planner="script", policy=Policy(effects="strict"))
    assert run.succeeded, run.run.error
    assert run.steps[0].proposal.get("observed") is None
    # any other directory the action makes is still its write
    other = tmp_path / "outside" / "made" / "here"
    with reprolam.open(store) as rl:
        made = rl.run(
            workflow("dirs", [makes_a_directory], outputs=["n"]),
            planner="script",
            set={"makes_a_directory.where": str(other)},
        ).steps[0]
    assert {(e["kind"], e["target"]) for e in _effects(made)} == {
        ("file_write", str(other.parent)),
        ("file_write", str(other)),
    }


_SETS_UP_AT_IMPORT = """
import os, subprocess, sys
from pathlib import Path

CACHE = Path(os.environ["REPROLAM_TEST_CACHE"])
CACHE.mkdir()  # as matplotlib makes its config directory on a machine's first import
(CACHE / "fonts.json").write_text("[]")
subprocess.run([sys.executable, "-c", "pass"], check=True)  # as it runs fc-list


def stamp(where):
    Path(where).write_text("stamped")  # called by the action: the action's write
    return 1
"""


@action(outputs=["n"])
def imports_a_library_that_sets_itself_up(*, where: str = "") -> int:
    import sets_up_at_import

    return sets_up_at_import.stamp(where) if where else 0


def _importable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, installed: bool) -> None:
    """``sets_up_at_import`` importable from ``tmp_path/mods``, as an installed package's
    module (a directory counted as site-packages) or as one of the user's own."""
    mods = tmp_path / "mods"
    mods.mkdir()
    (mods / "sets_up_at_import.py").write_text(_SETS_UP_AT_IMPORT)
    monkeypatch.syspath_prepend(str(mods))
    monkeypatch.setenv("REPROLAM_TEST_CACHE", str(tmp_path / "cache"))
    monkeypatch.delitem(sys.modules, "sets_up_at_import", raising=False)
    if installed:
        roots = (*file_reads.package_roots(), str(mods.resolve()))
        monkeypatch.setattr(file_reads, "package_roots", lambda: roots)
    observe._package_code.cache_clear()


def test_what_a_package_does_when_first_imported_is_not_the_actions_effect(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """matplotlib's first import on a machine makes its config directory and runs fc-list:
    ``--effects strict`` refused the step that first imported it, and ``warn`` recorded a
    process that made the step never reusable. What the action then calls is its own."""
    _importable(tmp_path, monkeypatch, installed=True)
    step = _run(imports_a_library_that_sets_itself_up, effects="strict")
    observe._package_code.cache_clear()
    assert step.error is None, step.error
    assert (tmp_path / "cache" / "fonts.json").exists()
    assert [e for e in _effects(step) if e["kind"] != "file_read"] == []
    out = tmp_path / "stamp.txt"
    flow = workflow("stamps", [imports_a_library_that_sets_itself_up], outputs=["n"])
    with reprolam.open(MemoryStore()) as rl:
        run = rl.run(
            flow,
            planner="script",
            policy=Policy(effects="strict", max_failures=1),
            set={"imports_a_library_that_sets_itself_up.where": str(out)},
        )
    (refused,) = run.steps
    assert refused.error is not None
    assert refused.error.type == "UndeclaredEffect"
    assert str(out) in refused.error.message


def test_what_the_users_own_module_does_at_import_is_the_actions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _importable(tmp_path, monkeypatch, installed=False)
    step = _run(imports_a_library_that_sets_itself_up)
    kinds = {(e["kind"], e["declared"]) for e in _effects(step)}
    assert ("file_write", False) in kinds
    assert ("subprocess", False) in kinds


@action(outputs=["n"])
def saves_atomically(*, where: str, link: str = "") -> int:
    """The safe-write idiom: a temporary file, then ``os.replace`` into place."""
    fd, scratch = tempfile.mkstemp()
    with open(fd, "w") as out:
        out.write("result")
    os.replace(scratch, where)
    if link:
        os.symlink(where, link)
    return 1


@action(outputs=["n"])
def moves_a_file(*, source: str, to: str) -> int:
    os.rename(source, to)
    return 1


def _one(fn: Any, effects: str = "warn", **params: Any) -> StepRecord:
    flow = workflow(f"one_{fn.__name__}", [fn], outputs=["n"])
    with reprolam.open(MemoryStore()) as rl:
        run = rl.run(
            flow,
            planner="script",
            policy=Policy(effects=effects, max_failures=1),
            set={f"{fn.__name__}.{k}": v for k, v in params.items()},
        )
    return run.steps[0]


def test_a_file_replaced_into_place_from_the_temp_dir_is_a_write(tmp_path: Path) -> None:
    """``os.replace(scratch, target)`` raised its event with the scratch file first: the
    write to ``target`` went unrecorded, and strict let it through."""
    target, link = tmp_path / "result.txt", tmp_path / "latest"
    step = _one(saves_atomically, where=str(target), link=str(link))
    assert [(e["kind"], e["target"]) for e in _effects(step)] == [
        ("file_write", str(target)),
        ("file_write", str(link)),
    ]
    target.unlink()
    refused = _one(saves_atomically, effects="strict", where=str(target))
    assert refused.error is not None
    assert refused.error.type == "UndeclaredEffect"
    assert not target.exists()  # stopped before the replace


def test_a_file_moved_writes_both_places(tmp_path: Path) -> None:
    source, to = tmp_path / "a.txt", tmp_path / "b.txt"
    source.write_text("x")
    step = _one(moves_a_file, source=str(source), to=str(to))
    assert {e["target"] for e in _effects(step) if e["kind"] == "file_write"} == {
        str(source),
        str(to),
    }


_STARTS_A_PROCESS = """
import json, sys, tempfile
import reprolam
from reprolam import action, workflow

@action(outputs=["n"])
def starts() -> int:
    import multiprocessing  # first imported here, after the watch was installed

    process = multiprocessing.get_context("spawn").Process(target=int)
    process.start()
    process.join()
    return process.exitcode

assert "multiprocessing" not in sys.modules
with tempfile.TemporaryDirectory() as store, reprolam.open(store) as rl:
    step = rl.run(workflow("late", [starts], outputs=["n"]), planner="script").steps[0]
print(json.dumps([[e["kind"], e["target"]] for e in step.proposal["observed"]["effects"]]))
"""


def test_a_process_started_when_multiprocessing_is_first_imported_by_the_action(
    tmp_path: Path,
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _STARTS_A_PROCESS],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == [
        ["subprocess", "multiprocessing: a new Python process, started by spawn"]
    ]


TEMP_FLOW = """
import os, shutil, tempfile
from reprolam import action, workflow


@action(outputs=["n"])
def scratch() -> int:
    tempfile.tempdir = None  # as in a process where nothing asked for the temp dir yet
    made = tempfile.mkdtemp()  # tempfile probes for it holding a lock: the hook sees the probe
    with open(os.path.join(made, "results.csv"), "w") as f:
        f.write("a,b\\n")
    shutil.rmtree(made)  # deletes by names relative to open directories (dir_fd)
    with tempfile.TemporaryDirectory() as other:
        with open(os.path.join(other, "x.json"), "w") as f:
            f.write("{}")
    return 1


flow = workflow("scratch", [scratch], outputs=["n"])
"""


def test_an_action_using_the_temp_dir_first_runs_and_records_no_effect(tmp_path: Path) -> None:
    """The run hung forever (the hook asked tempfile for the temp dir while tempfile held its
    lock probing for it), and rmtree's deletions were recorded (and refused by strict) as
    writes to files of the working directory."""
    (tmp_path / "scratch_flow.py").write_text(TEMP_FLOW)
    script = (
        "import reprolam\n"
        f"with reprolam.open({str(tmp_path / 'store')!r}) as rl:\n"
        f"    r = rl.run({str(tmp_path / 'scratch_flow.py') + ':flow'!r}, "
        "policy={'effects': 'strict'})\n"
        "    (step,) = rl.show(r.id).steps\n"
        "    print(r.status.value, step.proposal.get('observed', {}).get('effects'))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True,
        cwd=tmp_path,
    )  # fmt: skip
    assert done.stdout.split() == ["succeeded", "None"], done.stdout + done.stderr
    assert not (tmp_path / "results.csv").exists()


def test_a_strict_refusal_names_fixes_that_declare_what_was_refused() -> None:
    """A pure action reading the clock was told to declare side_effects (which do not cover
    the clock), a seeded one drawing OS entropy to declare determinism='seeded'."""
    from reprolam.engine.observe import refusal

    clock = refusal(
        "stamp", [{"kind": "clock", "target": "time.time()", "declared": False}], "strict"
    )
    assert clock is not None
    assert "pass the time as a param" in clock.message
    assert "side_effects" not in clock.message
    entropy = [{"kind": "global_rng", "target": "OS entropy (os.urandom)", "declared": False}]
    drawn = refusal("draw", entropy, "strict")
    assert drawn is not None
    assert "ctx.rng" in drawn.message
    assert "determinism='seeded'" not in drawn.message
    wrote = refusal("save", [{"kind": "file_write", "target": "/x", "declared": False}], "strict")
    assert wrote is not None
    assert "side_effects=[...]" in wrote.message


@action(outputs=["n"])
def formats_now() -> float:
    return float(len(time.strftime("%Y-%m-%d")))


@action(outputs=["n"])
def asks_the_os_for_the_time() -> float:
    return float(time.clock_gettime(time.CLOCK_REALTIME) > 0) + len(time.asctime()) * 0


@action(outputs=["n"])
def formats_a_given_time() -> float:
    return float(len(time.strftime("%Y", time.gmtime(0)))) + time.perf_counter() * 0


def test_every_wall_clock_read_of_the_time_module_is_noted() -> None:
    # strftime(format), asctime() and clock_gettime(CLOCK_REALTIME) read the clock as
    # time.time() does; they were not watched, so a pure action stamping a date read as pure
    assert [e["target"].split(" at ")[0] for e in _effects(_run(formats_now))] == [
        "time.strftime()"
    ]
    targets = sorted(e["target"].split(" at ")[0] for e in _effects(_run(asks_the_os_for_the_time)))
    assert targets == ["time.asctime()", "time.clock_gettime()"]
    strict = _run(formats_now, effects="strict")
    assert strict.status is StepStatus.FAILED
    assert strict.error is not None
    assert strict.error.type == "UndeclaredEffect"
    # a time given to format (gmtime(0): no clock), and a duration, are no clock read
    assert _effects(_run(formats_a_given_time)) == []


@action(outputs=["n"])
def stamps_a_uuid1() -> str:
    import uuid

    return str(uuid.uuid1())


@pytest.mark.skipif(
    getattr(__import__("uuid"), "_generate_time_safe", None) is None,
    reason="uuid1 made in Python (no libuuid): its time.time_ns() is seen as such",
)
def test_a_uuid1_made_by_the_action_is_a_clock_read() -> None:
    # uuid1 reads the time through libuuid (C, not the time module): a pure action returning
    # one, different at every execution, recorded no effect
    (effect,) = _effects(_run(stamps_a_uuid1))
    assert effect["kind"] == "clock"
    assert effect["target"].startswith(f"uuid.uuid1() at {__file__}:")
    assert _run(stamps_a_uuid1, effects="strict").status is StepStatus.FAILED


@action(outputs=["n"])
def thread_fails() -> int:
    def fail() -> None:
        raise ValueError("the thread's own failure")

    worker = threading.Thread(target=fail)
    worker.start()
    worker.join()
    return 1


def test_a_failing_thread_traceback_is_no_read_of_the_action_s_source(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # threading's excepthook (C code, no linecache frame) reads the source lines it prints:
    # they were undeclared reads of this test file (and of missing copies of it along
    # sys.path), and strict refused an action that read nothing
    monkeypatch.setattr(threading, "excepthook", threading.__excepthook__)  # not pytest's
    step = _run(thread_fails)
    assert _effects(step) == []
    strict = _run(thread_fails, effects="strict")
    assert strict.status is StepStatus.SUCCEEDED
    assert _effects(strict) == []


@action(outputs=["n"])
def changes_modes() -> int:
    os.chmod(TARGET["path"], 0o600)
    os.utime(TARGET["path"], (0, 0))
    with open(TARGET["path"]) as handle:  # still the data it was, not what it wrote
        return len(handle.read())


@action(outputs=["n"], determinism="external", side_effects=["sets out.txt's mode"])
def declares_modes() -> int:
    os.chmod(TARGET["path"], 0o644)
    return 1


def test_a_change_of_a_file_s_mode_or_times_is_a_write_and_the_file_still_a_read() -> None:
    # chmod, chown, utime (Path.touch) changed files outside the store unseen, and strict
    # let them through
    Path(TARGET["path"]).write_text("data")
    step = _run(changes_modes)
    found = sorted((e["kind"], e["target"], e["declared"]) for e in _effects(step))
    assert found == [
        ("file_read", str(Path(TARGET["path"]).resolve()), False),
        ("file_write", str(Path(TARGET["path"]).resolve()), False),
    ]
    Path(TARGET["path"]).chmod(0o644)
    strict = _run(changes_modes, effects="strict")
    assert strict.status is StepStatus.FAILED
    assert strict.error is not None
    assert strict.error.type == "UndeclaredEffect"
    assert Path(TARGET["path"]).stat().st_mode & 0o777 != 0o600  # refused where it happened
    assert _run(declares_modes, effects="strict").status is StepStatus.SUCCEEDED


FAILING_FLOW_FILE = """
import random
from reprolam import action, workflow

@action(outputs=["n"])
def draw_then_fail() -> float:
    raise ValueError(f"no good: {random.random() > 2}")

flow = workflow("fx-fails", [draw_then_fail], outputs=["n"])
"""


def test_run_prints_a_failed_step_s_undeclared_effects_under_it(tmp_path: Path) -> None:
    # they were printed only under steps that succeeded: a step that failed of its own
    # error (or of one a refusal caught in its thread led to) showed no effect at all
    flow = tmp_path / "fxfails.py"
    flow.write_text(FAILING_FLOW_FILE)
    store = str(tmp_path / "store")
    runner = CliRunner()
    ref = f"{flow}:flow"
    warned = runner.invoke(cli, ["--store", store, "run", ref, "--max-failures", "1"])
    assert warned.exit_code == 1, warned.output
    assert "ValueError: no good: False" in warned.output
    assert "undeclared global rng: the global random module state" in warned.output
    # a refusal names its effects itself: said once
    (tmp_path / "fxflow.py").write_text(FLOW_FILE)
    strict = runner.invoke(
        cli, ["--store", store, "run", f"{tmp_path / 'fxflow.py'}:flow", "--effects", "strict"]
    )
    assert "undeclared global rng" not in strict.output, strict.output


@action(outputs=["n"])
def reads_clock_in_a_thread() -> float:
    stamps: list[float] = []
    worker = threading.Thread(target=lambda: stamps.append(time.time()))
    worker.start()
    worker.join()
    return stamps[0] * 0.0


def test_a_clock_read_in_a_thread_the_action_started_is_noted() -> None:
    # the clock probe looked for a watch in the reading thread only: a pure action reading
    # the time through a thread it started recorded nothing, and strict let it through
    (effect,) = _effects(_run(reads_clock_in_a_thread))
    assert effect["kind"] == "clock"
    assert effect["target"].startswith(f"time.time() at {__file__}:")
    assert _run(reads_clock_in_a_thread, effects="strict").status is StepStatus.FAILED


@action(outputs=["n"])
def reads_clock_in_a_low_level_thread() -> float:
    import _thread

    stamps: list[float] = []
    done = threading.Event()

    def stamp(into: list[float]) -> None:
        into.append(time.time())
        done.set()

    _thread.start_new_thread(stamp, (stamps,))
    done.wait(10)
    return stamps[0] * 0.0


def test_a_clock_read_in_a_thread_started_with_the_thread_module_is_noted() -> None:
    # only threading.Thread's threads were watched: one started with
    # _thread.start_new_thread read the clock (and files) unseen, and strict let it through
    (effect,) = _effects(_run(reads_clock_in_a_low_level_thread))
    assert effect["kind"] == "clock"
    assert effect["target"].startswith(f"time.time() at {__file__}:")
    assert _run(reads_clock_in_a_low_level_thread, effects="strict").status is StepStatus.FAILED


@action(outputs=["n"], side_effects=["writes the file it is given"])
def writes_for_another(*, path: str) -> int:
    return Path(path).write_text("made")


@action(outputs=["n"])
def runs_another_action(*, path: str) -> int:
    """Runs an action declaring its write: the write is still this undeclaring action's."""
    return reprolam.execute(writes_for_another, params={"path": path}).outputs["n"]


def test_the_effects_of_an_action_run_inside_an_action_are_the_outer_steps_too(
    tmp_path: Path,
) -> None:
    # reprolam.execute inside an action kept what the inner action did to itself: the outer
    # step recorded no write, and strict let it through
    target = str(tmp_path / "out.txt")
    flow = workflow("nested", [runs_another_action], outputs=["n"])
    with reprolam.open("memory:") as rl:
        step = rl.run(flow, planner="rules", set={"runs_another_action.path": target}).steps[0]
        strict = rl.run(
            flow,
            planner="rules",
            set={"runs_another_action.path": target},
            policy=Policy(effects="strict", max_failures=1),
        ).steps[0]
    (effect,) = _effects(step)
    assert (effect["kind"], effect["target"], effect["declared"]) == ("file_write", target, False)
    assert strict.status is StepStatus.FAILED


@action(outputs=["n"])
def moves_away() -> int:
    os.chdir(tempfile.gettempdir())
    return 1


@action(outputs=["n"])
def moves_and_comes_back() -> int:
    here = os.getcwd()
    os.chdir(tempfile.gettempdir())
    os.chdir(here)
    return 1


def test_leaving_the_working_directory_changed_is_a_write(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # every later step's relative paths pointed elsewhere, and the step that moved the
    # process recorded nothing (strict let it through)
    monkeypatch.chdir(tmp_path)
    (effect,) = _effects(_run(moves_away))
    assert effect["kind"] == "file_write"
    assert effect["target"].startswith(f"the working directory of the process (from {tmp_path}")
    os.chdir(tmp_path)
    assert _run(moves_away, effects="strict").status is StepStatus.FAILED
    os.chdir(tmp_path)
    assert _effects(_run(moves_and_comes_back, effects="strict")) == []


class _FailsToClean:
    def __del__(self) -> None:
        raise RuntimeError("cleanup failed")


@action(outputs=["n"])
def drops_a_failing_object() -> int:
    leaky = _FailsToClean()
    del leaky  # Python prints 'Exception ignored in: ...' with the source lines
    return 1


def test_an_exception_ignored_in_del_is_no_read_of_the_action_s_source(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Python's unraisable hook (C code, no linecache frame) read the traceback's source
    # lines: undeclared reads of this file, refused under strict
    monkeypatch.setattr(sys, "unraisablehook", sys.__unraisablehook__)  # not pytest's
    step = _run(drops_a_failing_object, effects="strict")
    assert step.status is StepStatus.SUCCEEDED
    assert _effects(step) == []
    assert sys.unraisablehook is sys.__unraisablehook__  # put back after the run


ECHOING_FLOW_FILE = """
import subprocess, sys
from reprolam import action, workflow

@action(outputs=["n"], determinism="external", side_effects=["runs echo"])
def echoes() -> int:
    subprocess.run([sys.executable, "-c", "print('from a child process')"], check=True)
    print("to the real stdout", file=sys.__stdout__, flush=True)
    return 1

flow = workflow("fx-echo", [echoes], outputs=["n"])
"""


def test_run_json_stays_parseable_when_a_child_process_prints(tmp_path: Path) -> None:
    # a process the action started (and a write to sys.__stdout__) wrote into the command's
    # stdout before the JSON document: `run --json | jq` failed
    flow = tmp_path / "echoing.py"
    flow.write_text(ECHOING_FLOW_FILE)
    store = str(tmp_path / "store")
    command = ["run", f"{flow}:flow", "--planner", "script", "--json"]
    done = subprocess.run(
        [sys.executable, "-m", "reprolam", "--store", store, *command],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["run"]["status"] == "succeeded"
    assert "from a child process" in done.stderr
    assert "to the real stdout" in done.stderr


@action(outputs=["report", "n"])
def writes_and_returns_its_path() -> tuple[Path, int]:
    report = Path(TARGET["path"])
    report.write_text("accuracy 0.9")
    return report, 1


@action(outputs=["path", "n"])
def returns_a_path_it_did_not_write() -> tuple[Path, int]:
    Path(TARGET["path"]).write_text("written")
    return Path(TARGET["scratch"]), 1


def test_a_written_file_returned_by_path_says_its_content_is_not_recorded() -> None:
    """An action that wrote report.txt beside the data and returned its Path recorded the
    path alone (a `tree` value), so replay and reproduce vouched for a report whose content
    nobody kept; the write's record said only "undeclared file write". It now names the
    output and says to write the file into ctx.workdir."""
    from reprolam.history.observed import describe_effect

    (effect,) = _effects(_run(writes_and_returns_its_path))
    assert effect["kind"] == "file_write"
    assert effect["output"] == "report"
    text = describe_effect(effect)
    assert "returned as output 'report': its path is recorded, not its content" in text
    assert "ctx.workdir" in text

    (other,) = _effects(_run(returns_a_path_it_did_not_write))
    assert "output" not in other  # the write and the returned path are different files
    assert "returned as output" not in describe_effect(other)


_IMPORTS_NUMPY = """
import json, reprolam
from reprolam import action

@action(outputs=["x"])
def imports_numpy(*, draw: bool) -> int:
    import numpy
    return int(numpy.random.randint(5)) if draw else 0

steps = [reprolam.execute(imports_numpy, params={"draw": d}) for d in (False, True)]
print(json.dumps([step.observed for step in steps]))
"""


def test_importing_numpy_in_an_action_is_no_use_of_its_global_rng() -> None:
    # numpy's global RNG is made (seeded from OS entropy) as numpy.random is imported: an
    # action importing numpy first in its process was recorded as using it, and strict
    # refused it; a draw after the import still is a use
    done = subprocess.run(
        [sys.executable, "-c", _IMPORTS_NUMPY], capture_output=True, text=True, check=True
    )
    imported, drew = json.loads(done.stdout.splitlines()[-1])
    assert imported is None
    assert [e["target"] for e in drew["effects"]] == ["the global numpy.random state"]
