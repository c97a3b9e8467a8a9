"""A Workflow object given from Python records where to load it again.

``rl.run(flow)`` with ``from flows import flow`` recorded the workflow by name only
(``source: 'toy'``), so ``run.fork(...)``, ``rl.reproduce`` and ``rl.sweep`` of that very run
failed with ``cannot load workflow 'toy'`` -- even in the same session. The run now records
the module attribute holding the workflow (a local ``flows.py`` by its file, so any process
in any directory loads it again).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import reprolam
from reprolam.workflows.registry import Workflow, load_workflow, workflow

FLOWS = textwrap.dedent(
    """
    from reprolam import action, workflow

    CALLS = []

    @action(outputs=["x"])
    def make(*, n: int = 2) -> int:
        CALLS.append(n)
        return n

    @action(outputs=["y"])
    def double(x: int) -> int:
        return 2 * x

    flow = workflow("toy-source", [make, double], outputs=["y"])
    """
)


@pytest.fixture
def flows_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> object:
    (tmp_path / "qa3_flows.py").write_text(FLOWS)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "qa3_flows", raising=False)
    import qa3_flows  # type: ignore[import-not-found]

    return qa3_flows


def test_a_local_module_is_recorded_by_its_file(flows_module: object, tmp_path: Path) -> None:
    flow = flows_module.flow  # type: ignore[attr-defined]
    assert load_workflow(flow).source == f"{(tmp_path / 'qa3_flows.py').resolve()}:flow"


def test_forks_reproductions_and_sweeps_of_such_a_run_work(
    flows_module: object, tmp_path: Path
) -> None:
    flow = flows_module.flow  # type: ignore[attr-defined]
    store = tmp_path / "store"
    with reprolam.open(store) as rl:
        run = rl.run(flow)
        fork = run.fork(at="make", set={"make.n": 5})
        assert fork.run.status.value == "succeeded"
        assert rl.reproduce(run.id).bitwise
        swept = rl.sweep(run.id, at="make", grid={"make.n": [3, 4]})
        assert [p.run.status.value for p in swept.points if p.run] == ["succeeded", "succeeded"]
    # another process, in another directory, with nothing on its path: the CLI
    ran = subprocess.run(
        [sys.executable, "-m", "reprolam", "--store", str(store), "fork", run.id, "--at", "1"],
        cwd="/",
        capture_output=True,
        text=True,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr


def test_the_same_process_reuses_the_imported_module(flows_module: object, tmp_path: Path) -> None:
    """Not a second copy of the module loaded from its file, with its own state."""
    flow = flows_module.flow  # type: ignore[attr-defined]
    with reprolam.open(tmp_path / "store") as rl:
        run = rl.run(flow)
        run.fork(at="make", set={"make.n": 7})
    assert flows_module.CALLS == [2, 7]  # type: ignore[attr-defined]


def test_a_workflow_no_module_holds_keeps_an_empty_source(flows_module: object) -> None:
    make = flows_module.make  # type: ignore[attr-defined]
    assert load_workflow(workflow("built-here", [make], outputs=["x"])).source == ""


def test_workflows_of_package_modules_are_named_by_module() -> None:
    from reprolam.workflows import breast_cancer

    bare = Workflow(**{**breast_cancer.workflow.__dict__, "source": ""})
    breast_cancer.qa3_alias = bare  # type: ignore[attr-defined]
    try:
        assert load_workflow(bare).source == "reprolam.workflows.breast_cancer:qa3_alias"
    finally:
        del breast_cancer.qa3_alias  # type: ignore[attr-defined]


def test_a_workflow_file_that_no_longer_imports_is_named_with_the_reason(tmp_path: Path) -> None:
    """A module the workflow file imports was deleted: the error said only "cannot load
    workflow" (the file is there) and hid the ImportError that says which module is gone."""
    (tmp_path / "qa3_gone_helper.py").write_text("def scale(x):\n    return 2 * x\n")
    (tmp_path / "qa3_uses_helper.py").write_text(
        "import qa3_gone_helper\n" + FLOWS.replace("toy-source", "toy-helper")
    )
    store = tmp_path / "store"
    script = f"""
import reprolam
with reprolam.open({str(store)!r}) as rl:
    print(rl.run({str(tmp_path / "qa3_uses_helper.py") + ":flow"!r}, planner="script").id)
"""
    done = subprocess.run(
        [sys.executable, "-c", script], check=False, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    run_id = done.stdout.split()[-1]
    (tmp_path / "qa3_gone_helper.py").unlink()
    from reprolam.errors import WorkflowError

    with reprolam.open(store) as rl, pytest.raises(WorkflowError) as failed:
        rl.reproduce(run_id)
    assert "No module named 'qa3_gone_helper'" in str(failed.value)
