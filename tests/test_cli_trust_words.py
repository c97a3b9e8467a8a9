"""The pickle opt-in is named as the interface names it: ``--trust-pickle`` on the command
line, ``trusted=True`` from Python, wherever the refusal reaches the user."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import reprolam
from reprolam.cli.main import cli

FLOW = """
from reprolam import action, workflow

class Opaque:
    def __init__(self, v):
        self.v = v

@action(outputs=["thing"])
def make(*, n: int = 3) -> Opaque:
    return Opaque(n)

@action(outputs=["result"])
def use(thing: Opaque) -> int:
    return thing.v * 2

flow = workflow("pick", [make, use], outputs=["result"])
"""


def invoke(store: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--store", str(store), *args], catch_exceptions=False)


@pytest.fixture(scope="module")
def pickled(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """A store holding a run whose output ``thing`` had to be pickled (recorded trusted)."""
    root = tmp_path_factory.mktemp("trust")
    flow = root / "pick.py"
    flow.write_text(FLOW)
    store = root / "store"
    result = invoke(store, "--trust-pickle", "run", f"{flow}:flow", "--json")
    assert result.exit_code == 0, result.output
    return store, flow, json.loads(result.stdout)["run"]["id"]


def test_replay_names_the_cli_flag_and_python_keeps_its_word(
    pickled: tuple[Path, Path, str],
) -> None:
    store, _flow, run_id = pickled
    shown = invoke(store, "replay", run_id)
    assert shown.exit_code == 1
    assert "--trust-pickle" in shown.stdout
    assert "trusted=True" not in shown.stdout
    as_json = invoke(store, "replay", run_id, "--json")
    payload = json.loads(as_json.stdout)
    assert "--trust-pickle" in payload["first_problem"]["message"]
    assert all("trusted=True" not in p["message"] for p in payload["problems"])
    with reprolam.open(store) as rl:
        result = rl.replay(run_id)
    assert "trusted=True" in result.problems[0].message
    assert "trusted=True" in result.to_dict()["problems"][0]["message"]
    with reprolam.open(store, trusted=True) as rl:
        assert rl.replay(run_id).verified


def test_reproducing_a_pickled_run_without_trust_is_refused_not_recorded_as_diverged(
    pickled: tuple[Path, Path, str],
) -> None:
    store, _flow, run_id = pickled
    before = invoke(store, "runs", "--json").stdout
    refused = invoke(store, "reproduce", run_id)
    assert refused.exit_code == 2, refused.output
    assert refused.stderr.startswith("error: ")
    assert "stored 1 output(s) as pickles" in refused.stderr
    assert "--trust-pickle" in refused.stderr
    assert invoke(store, "runs", "--json").stdout == before  # no reproduction recorded
    with reprolam.open(store) as rl, pytest.raises(reprolam.ReprolamError, match="trusted=True"):
        rl.reproduce(run_id)
    trusted = invoke(store, "--trust-pickle", "reproduce", run_id, "--json")
    assert trusted.exit_code == 0, trusted.output
    assert json.loads(trusted.stdout)["reproduced"] is True


def test_a_step_that_needed_pickles_shows_the_flag_and_records_python_s_word(
    pickled: tuple[Path, Path, str], tmp_path: Path
) -> None:
    _store, flow, _run_id = pickled
    store = tmp_path / "store"
    failed = invoke(store, "run", f"{flow}:flow")
    assert failed.exit_code == 1
    shown_by_run = " ".join(failed.output.split())  # rich wraps long lines
    assert "opt in to pickle with --trust-pickle" in shown_by_run
    assert "trusted=True" not in shown_by_run
    run_id = json.loads(invoke(store, "runs", "--json").stdout)[0]["id"]
    shown = " ".join(invoke(store, "show", run_id).stdout.split())
    assert "opt in to pickle with --trust-pickle" in shown
    assert "trusted=True" not in shown
    recorded = json.loads(invoke(store, "show", run_id, "--json").stdout)
    assert recorded["steps"][0]["error"]["message"].endswith("opt in to pickle with trusted=True")


def test_trusted_replay_of_a_class_the_workflow_file_defines_loads_it_with_workflow(
    pickled: tuple[Path, Path, str],
) -> None:
    """replay failed with ModuleNotFoundError (the file's module is only imported where the
    workflow runs) and named no way to load it, while audit and reproduce passed."""
    store, flow, run_id = pickled
    sys.modules.pop("reprolam_user_workflow_pick", None)  # another process: not imported
    refused = invoke(store, "--trust-pickle", "replay", run_id, "--json")
    assert refused.exit_code == 1
    message = json.loads(refused.stdout)["first_problem"]["message"]
    assert "replay with --workflow pick.py" in message
    loaded = invoke(store, "--trust-pickle", "replay", run_id, "--workflow", str(flow), "--json")
    assert loaded.exit_code == 0, loaded.output
    assert json.loads(loaded.stdout)["verified"] is True
    sys.modules.pop("reprolam_user_workflow_pick", None)
    with reprolam.open(store, trusted=True) as rl:
        assert "workflow='pick.py'" in str(rl.replay(run_id).problems[0].to_dict())
        assert rl.replay(run_id, workflow=str(flow)).verified


def test_a_class_of_a_workflow_file_with_a_dot_in_its_name_is_pickled_when_trusted(
    tmp_path: Path,
) -> None:
    """flow.v2.py was loaded as module reprolam_user_workflow_flow.v2, a submodule of a
    package that does not exist: pickle could not import its classes, so with
    --trust-pickle given the step failed saying to opt in with --trust-pickle."""
    flow = tmp_path / "pick.v2.py"
    flow.write_text(FLOW)
    store = tmp_path / "store"
    result = invoke(store, "--trust-pickle", "run", f"{flow}:flow", "--json")
    assert result.exit_code == 0, result.output
    run_id = json.loads(result.stdout)["run"]["id"]
    assert invoke(store, "--trust-pickle", "replay", run_id).exit_code == 0


def test_trusted_replay_of_a_class_a_script_defined_as_main_loads_it_with_workflow(
    tmp_path: Path,
) -> None:
    """A run recorded by ``python script.py`` pickles ``__main__.Opaque``; replay
    --workflow script.py loaded the file as another module, so the value still could not be
    loaded ("Can't get attribute 'Opaque' on <module '__main__'>") and nothing said how."""
    script, store, run_id = _script_run(tmp_path)
    refused = invoke(store, "--trust-pickle", "replay", run_id, "--json")
    assert refused.exit_code == 1
    message = json.loads(refused.stdout)["first_problem"]["message"]
    assert "replay with --workflow SCRIPT.py" in message
    loaded = invoke(store, "--trust-pickle", "replay", run_id, "--workflow", str(script), "--json")
    assert loaded.exit_code == 0, loaded.output
    assert json.loads(loaded.stdout)["verified"] is True


def _script_run(tmp_path: Path) -> tuple[Path, Path, str]:
    """A run recorded by ``python pick_main.py``: its Opaque pickled as ``__main__``'s."""
    script = tmp_path / "pick_main.py"
    script.write_text(
        "import sys\n"
        + FLOW
        + "\nif __name__ == '__main__':\n"
        + "    import reprolam\n"
        + "    with reprolam.open(sys.argv[1], trusted=True) as rl:\n"
        + "        print(rl.run(flow).id)\n"
    )
    store = tmp_path / "store"
    ran = subprocess.run(
        [sys.executable, str(script), str(store)], capture_output=True, text=True, check=True
    )
    return script, store, ran.stdout.strip()


def test_a_fork_of_a_script_run_loads_the_scripts_pickled_classes(tmp_path: Path) -> None:
    """fork (resume, reproduce) loads the script a run was recorded by, yet the step it
    executed could not be given its input, a pickle of the script's class: 'Can't get
    attribute 'Opaque' on <module '__main__'>' (the error said fork loads that script)."""
    _, store, run_id = _script_run(tmp_path)
    forked = invoke(store, "--trust-pickle", "fork", run_id, "--at", "1", "--json")
    assert forked.exit_code == 0, forked.output
    assert json.loads(forked.stdout)["run"]["status"] == "succeeded"
