"""The command's own process (reprolam.cli.process): collection held during start-up and on
again for the actions, and a quick exit that loses nothing (codes, output, exit handlers,
threads), while a program calling ``cli`` keeps its interpreter as it was."""

from __future__ import annotations

import atexit
import gc
import json
import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from reprolam.cli.main import cli
from reprolam.trace import SQLiteStore

FLOW = """
import atexit, gc, threading, time
from pathlib import Path
from reprolam import action, workflow

OUT = Path(__file__).with_name("out")


@action(outputs=["report"], side_effects=["filesystem"], determinism="external")
def observe() -> dict:
    def late() -> None:  # a non-daemon thread still working when the command ends
        time.sleep(0.3)
        (OUT / "thread").write_text("joined")

    threading.Thread(target=late).start()
    atexit.register(lambda: (OUT / "atexit").write_text("ran"))
    log = open(OUT / "buffered", "w")  # closed by its exit handler, as it should be
    log.write("x" * 100)
    atexit.register(log.close)
    return {"gc_enabled": gc.isenabled(), "frozen": gc.get_freeze_count()}


flow = workflow("process-flow", [observe], outputs=["report"])
"""


def _command(tmp_path: Path, *args: str, prelude: str = "") -> subprocess.CompletedProcess[str]:
    """``reprolam ARGS`` through its real entry point, in a fresh interpreter."""
    code = f"{prelude}\nimport sys\nsys.argv = ['reprolam', *{list(args)!r}]\n"
    code += "from reprolam.cli import start\nsys.exit(start())\n"
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=env,
        cwd=tmp_path,
    )


def _flow(tmp_path: Path) -> None:
    (tmp_path / "process_flow.py").write_text(FLOW)
    (tmp_path / "out").mkdir()


def test_actions_run_with_collection_on_and_exit_handlers_and_threads_finish(
    tmp_path: Path,
) -> None:
    _flow(tmp_path)
    store = str(tmp_path / "store")
    done = _command(tmp_path, "--store", store, "run", "process_flow:flow", "--json")
    assert done.returncode == 0, done.stderr
    run_id = json.loads(done.stdout)["run"]["id"]
    out = tmp_path / "out"
    assert (out / "atexit").read_text() == "ran"
    assert (out / "thread").read_text() == "joined"
    assert (out / "buffered").read_text() == "x" * 100
    shown = _command(tmp_path, "--store", store, "show", run_id, "--json")
    assert shown.returncode == 0, shown.stderr
    report = json.loads(shown.stdout)["steps"][0]["outputs"]["report"]
    assert isinstance(report, str)
    got = _command(tmp_path, "--store", store, "get", run_id, "report", "-o", "report.json")
    assert got.returncode == 0, got.stderr
    values = json.loads((tmp_path / "report.json").read_text())
    assert values["gc_enabled"] is True  # held only during start-up, never for the actions
    assert values["frozen"] > 10_000  # the start-up imports are frozen


def test_exit_codes_and_long_output_survive_the_quick_exit(tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    SQLiteStore(store).close()  # an empty store: only run and import create one
    unknown = _command(tmp_path, "--store", store, "show", "nope")
    assert unknown.returncode == 2
    assert unknown.stderr.startswith("error: no run")
    bad = _command(tmp_path, "bogus")
    assert bad.returncode == 2
    assert "No such command" in bad.stderr
    # A few KB to a pipe: still in stdout's 8 KiB buffer when the command returns.
    listed = _command(tmp_path, "actions", "--tools")
    assert listed.returncode == 0, listed.stderr
    assert 2_000 < len(listed.stdout) < 8_192
    assert json.loads(listed.stdout)  # complete: flushed before the process ended
    helped = _command(tmp_path, "--help")
    assert helped.returncode == 0
    assert helped.stdout.rstrip().endswith("List installed workflows.")


def test_an_uncaught_exception_ends_the_ordinary_way_with_its_traceback(tmp_path: Path) -> None:
    prelude = (
        "import reprolam.cli.main as m\n"
        "def boom(*a, **k):\n"
        "    raise RuntimeError('kaboom')\n"
        "m.Ctx.open = boom\n"
    )
    done = _command(tmp_path, "--store", str(tmp_path / "s"), "runs", prelude=prelude)
    assert done.returncode == 1
    assert "RuntimeError: kaboom" in done.stderr


def test_an_exit_handler_registered_before_the_command_still_runs(tmp_path: Path) -> None:
    """A handler registered earlier (coverage of subprocesses, a site customization) would run
    after the quick exit: then the process ends the ordinary way, and it runs."""
    marker = tmp_path / "early"
    prelude = f"import atexit, pathlib\natexit.register(pathlib.Path({str(marker)!r}).touch)\n"
    done = _command(tmp_path, "--help", prelude=prelude)
    assert done.returncode == 0
    assert marker.exists()


def test_a_program_calling_cli_keeps_its_collector_and_exit(tmp_path: Path) -> None:
    SQLiteStore(tmp_path).close()  # an empty store: only run and import create one
    handlers = atexit._ncallbacks()
    frozen = gc.get_freeze_count()
    done = CliRunner().invoke(cli, ["--store", str(tmp_path), "runs", "--json"])
    assert done.exit_code == 0, done.output
    assert gc.isenabled()
    assert gc.get_freeze_count() == frozen
    assert atexit._ncallbacks() == handlers
