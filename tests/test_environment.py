"""The richer environment snapshot, and environment differences ranked by what actions import."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import reprolam
from reprolam.cli.main import cli
from reprolam.engine import environment
from reprolam.history.code_diff import rank_environment
from reprolam.workflows.registry import load_workflow

FLOW = """
import sklearn
from sklearn.linear_model import LogisticRegression

from reprolam import action, workflow


@action(outputs=["report"])
def fit() -> str:
    LogisticRegression()
    return f"fitted with scikit-learn {sklearn.__version__}"


flow = workflow("envflow", [fit], outputs=["report"])
"""


def test_snapshot_has_cpu_locale_threadpools_and_code() -> None:
    import sklearn  # noqa: F401  (loads a BLAS, and threadpoolctl, which the snapshot uses)

    snapshot = environment.capture_environment(load_workflow("breast-cancer"), code="abc")
    assert snapshot["cpu"]["count"] >= 1
    assert isinstance(snapshot["cpu"]["flags"], list)
    assert snapshot["locale"]["timezone"]
    assert snapshot["locale"]["encoding"]
    assert any(pool["user_api"] == "blas" for pool in snapshot["threadpools"])
    assert snapshot["code"] == "abc"
    json.dumps(snapshot)  # stored as a json artifact


def test_container_and_gpu_probes_answer_none_or_a_record() -> None:
    for probe in (environment._container, environment._gpu, environment._conda):
        found = probe()
        assert found is None or isinstance(found, dict)


def test_conda_is_the_interpreters_environment_not_the_one_the_shell_activated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A venv's Python run from a shell where a conda environment is active (CONDA_PREFIX,
    the usual '(base)' prompt) recorded that environment's name, prefix and packages as the
    run's, though the run used none of them; a conda Python (or a venv made from one) is
    recorded by its own prefix, named as the shell names it when it is the activated one."""
    shell = tmp_path / "miniconda" / "envs" / "old"
    (shell / "conda-meta").mkdir(parents=True)
    (shell / "conda-meta" / "numpy-1.21.0-py39_0.json").write_text("{}")
    monkeypatch.setenv("CONDA_PREFIX", str(shell))
    monkeypatch.setenv("CONDA_DEFAULT_ENV", "old")
    venv = tmp_path / "venv"
    venv.mkdir()
    monkeypatch.setattr(sys, "prefix", str(venv))
    monkeypatch.setattr(sys, "base_prefix", str(venv))

    def conda() -> Any:
        environment._conda.cache_clear()  # read once per process
        return environment._conda()

    try:
        assert conda() is None
        monkeypatch.setattr(sys, "base_prefix", str(shell))  # a venv made from that conda
        assert conda() == {"name": "old", "prefix": str(shell), "packages": {"numpy": "1.21.0"}}
        monkeypatch.delenv("CONDA_PREFIX")
        assert conda()["name"] == "old"
    finally:
        environment._conda.cache_clear()


def _other_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Simulate a second venv: older scikit-learn, and 19 unrelated packages changed too."""
    import sklearn

    real = dict(environment.installed_packages())
    changed = {**real, "scikit-learn": "1.5.2"}
    # not scikit-learn's requirements: they compute its results too (ranked with it)
    required = environment.with_requirements({"scikit-learn"}, real)
    unrelated = [n for n in real if n not in required and n != "reprolam"]
    for name in unrelated[:19]:
        changed[name] = real[name] + ".post1"
    monkeypatch.setattr(environment, "installed_packages", lambda: changed)
    monkeypatch.setattr(sklearn, "__version__", "1.5.2")


def test_reproduction_in_another_environment_ranks_the_imported_package_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flow = tmp_path / "envflow.py"
    flow.write_text(FLOW)
    store = str(tmp_path / "store")
    with reprolam.open(store) as rl:
        original = rl.run(f"{flow}:flow", planner="rules")
    _other_environment(monkeypatch)
    with reprolam.open(store) as rl:
        result = rl.reproduce(original.id)
    assert result.divergence is not None
    assert result.ranked.relevant == ["packages.scikit-learn"]
    assert len(result.ranked.other_packages) == 19
    assert result.environment["packages.scikit-learn"][1] == "1.5.2"

    runner = CliRunner()
    human = runner.invoke(cli, ["--store", store, "reproduce", original.id])
    assert human.exit_code == 1
    text = human.output
    assert "packages.scikit-learn" in text
    assert "19 other package differences" in text
    assert text.index("packages.scikit-learn") < text.index("19 other package differences")
    payload = json.loads(
        runner.invoke(cli, ["--store", store, "reproduce", original.id, "--json"]).stdout
    )
    assert payload["environment_ranked"]["relevant"] == ["packages.scikit-learn"]


def test_ranking_uses_the_diverging_action_imports_only() -> None:
    manifest: dict[str, Any] = {
        "actions": {
            "a": {"unit": "m:a", "reaches": []},
            "b": {"unit": "n:b", "reaches": []},
        },
        "units": {"m:a": {"module": "m"}, "n:b": {"module": "n"}},
        "modules": {"m": {"imports": ["sklearn"]}, "n": {"imports": ["pandas"]}},
    }
    changes = {
        "packages.pandas": ("1", "2"),
        "packages.scikit-learn": ("1", "2"),
        "python": ("3.11", "3.12"),
        "code": ("x", "y"),
    }
    ranked = rank_environment(changes, [manifest], ["a"])
    assert ranked.relevant == ["packages.scikit-learn"]
    assert ranked.other_packages == ["packages.pandas"]
    assert ranked.system == ["python"]  # code differences are explained by the code diff
    assert rank_environment(changes, [manifest]).relevant == [
        "packages.pandas",
        "packages.scikit-learn",
    ]


def test_two_identical_runs_in_a_fresh_process_record_no_environment_difference(
    tmp_path: Path,
) -> None:
    """The first run of a process starts before scikit-learn is imported (its actions import
    it): its code record named no installed packages and its snapshot no thread pools, so
    `diff` of two identical runs reported two environment differences."""
    script = f"""
import reprolam
from reprolam.history.diff import environment_diff
from reprolam.trace.stored_json import load_json
with reprolam.open({str(tmp_path)!r}) as rl:
    a, b = (rl.run("breast-cancer", seed=0) for _ in range(2))
    ea, eb = (load_json(rl.store, r.run.environment) for r in (a, b))
    ca, cb = (load_json(rl.store, e["code"]) for e in (ea, eb))
    print(sorted(environment_diff(ea, eb)), ca == cb)
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[] True"


def test_a_damaged_installed_distribution_does_not_stop_the_ranking(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A RECORD with a blank line (hand-edited, a broken installer) made importlib.metadata's
    packages_distributions raise TypeError: reproduce and diff of any run ended in that
    traceback. The damaged distribution is left out; the others still rank."""
    from reprolam.history import code_diff

    damaged = tmp_path / "broken_dist-1.0.dist-info"
    damaged.mkdir()
    (damaged / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-dist\nVersion: 1.0\n")
    (damaged / "RECORD").write_text("broken_mod/__init__.py,,\n\n")
    good = tmp_path / "tiny_dist-2.0.dist-info"
    good.mkdir()
    (good / "METADATA").write_text("Metadata-Version: 2.1\nName: tiny-dist\nVersion: 2.0\n")
    (good / "RECORD").write_text("tinymod/__init__.py,,\n")
    # installed for real: importlib_metadata (which distributed imports) lists only files there
    (tmp_path / "tinymod").mkdir()
    (tmp_path / "tinymod" / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    code_diff._packages_distributions.cache_clear()
    try:
        manifest = {
            "units": {"m:f": {"module": "m"}},
            "modules": {"m": {"imports": ["tinymod"]}},
            "actions": {"f": {"unit": "m:f", "reaches": []}},
        }
        ranked = rank_environment(
            {"packages.tiny-dist": ("1.0", "2.0"), "packages.broken-dist": ("1.0", "1.1")},
            [manifest],
        )
    finally:
        code_diff._packages_distributions.cache_clear()
    assert ranked.relevant == ["packages.tiny-dist"]
    assert ranked.other_packages == ["packages.broken-dist"]


PACKAGED = """
import numpy as np

from reprolam import action, workflow


@action(outputs=["total"])
def total() -> float:
    return float(np.sum([1.0, 2.0]))


flow = workflow("packaged", [total], outputs=["total"])
"""


def test_reuse_does_not_take_outputs_computed_under_other_versions_of_imported_packages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A step computed under numpy 1.0 was reused under numpy 2.0 (the cache key has no
    versions): now a hit computed under other versions of the packages its action imports
    is executed, and the advice says which (``packages.numpy: 1.0 -> 2.0``); the run that
    computed it under 2.0 is reused from then on."""
    flow_file = tmp_path / "packaged.py"
    flow_file.write_text(PACKAGED)

    def versions(numpy: str) -> None:
        installed = {**environment.installed_packages(), "numpy": numpy}
        monkeypatch.setattr(environment, "installed_packages", lambda: installed)

    with reprolam.open(tmp_path / "store") as rl:
        versions("1.0")
        first = rl.run(f"{flow_file}:flow")
        versions("2.0")
        fork = rl.fork(first.id, at=0, reuse=True)
        again = rl.run(f"{flow_file}:flow", reuse=True)
        steps = [rl.show(run.id).steps[0].proposal["cache"] for run in (fork, again)]
    assert steps[0]["reused"] is False
    assert steps[0]["changed"] == ["packages.numpy: 1.0 -> 2.0"]
    assert steps[1]["reused"] is True
    assert steps[1]["counterpart"] == [fork.id, 0]


def test_reuse_does_not_take_outputs_computed_under_other_versions_of_required_packages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The action imports scikit-learn, which did not change; threadpoolctl, which
    scikit-learn requires and which sets how many threads compute, did: the step was reused."""
    flow_file = tmp_path / "learned.py"
    flow_file.write_text(
        PACKAGED.replace("import numpy as np", "import sklearn").replace(
            "float(np.sum([1.0, 2.0]))", "float(len(sklearn.__version__))"
        )
    )
    real = environment.installed_packages()

    def versions(threadpoolctl: str) -> None:
        installed = {**real, "threadpoolctl": threadpoolctl}
        monkeypatch.setattr(environment, "installed_packages", lambda: installed)

    with reprolam.open(tmp_path / "store") as rl:
        versions("1.0")
        first = rl.run(f"{flow_file}:flow")
        versions("2.0")
        again = rl.run(f"{flow_file}:flow", reuse=True)
        advice = rl.show(again.id).steps[0].proposal["cache"]
    assert first.run.status == "succeeded"
    assert advice["reused"] is False
    assert advice["changed"] == ["packages.threadpoolctl: 1.0 -> 2.0"]
