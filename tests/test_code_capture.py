"""Code capture: what an action reaches is fingerprinted and stored; divergences show diffs."""

from __future__ import annotations

import importlib
import json
import linecache
import os
import subprocess
import sys
import textwrap
import types
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import reprolam
from reprolam.cli.main import cli
from reprolam.engine.code_capture import capture_code
from reprolam.history.code_diff import code_manifest
from reprolam.history.diff import load_json

FLOW_V1 = """
import numpy as np

from reprolam import action, workflow

OFFSET = 1


def scale(x):
    return x * 2


def transform(values):
    return [scale(v) + OFFSET for v in values]


class Summary:
    def total(self, values):
        return float(np.sum(values))


@action(outputs=["values"])
def make() -> list:
    return transform([1, 2, 3])


@action(outputs=["total"])
def summarize(values: list) -> float:
    return Summary().total(values)


flow = workflow("captured", [make, summarize], outputs=["total"])
"""


def _write(path: Path, text: str) -> None:
    path.write_text(text)
    linecache.checkcache(str(path))


def _module(name: str, text: str, filename: str) -> types.ModuleType:
    """Run ``text`` as a fresh module, its source readable as IPython makes a cell's."""
    linecache.cache[filename] = (len(text), None, text.splitlines(keepends=True), filename)
    module = types.ModuleType(name)
    exec(compile(text, filename, "exec"), module.__dict__)
    return module


def test_fingerprint_covers_helpers_classes_and_constants_but_not_packages() -> None:
    module = _module("cc_reach", FLOW_V1, "<cc-reach>")
    code = capture_code(module.flow)
    make = code.manifest["actions"]["make"]
    assert make["reaches"] == ["cc_reach:scale", "cc_reach:transform"]
    assert make["constants"] == ["cc_reach:OFFSET"]
    assert code.manifest["actions"]["summarize"]["reaches"] == [
        "cc_reach:Summary",
        "cc_reach:Summary.total",
    ]
    assert not any(k.startswith("numpy") for k in code.manifest["units"])
    assert "numpy" in code.manifest["modules"]["cc_reach"]["imports"]
    assert code.manifest["modules"]["cc_reach"]["bindings"]["action"] == "reprolam.actions:action"

    for old, new in (("x * 2", "x * 3"), ("OFFSET = 1", "OFFSET = 2")):
        changed = _module("cc_reach", FLOW_V1.replace(old, new), f"<cc-reach-{new}>")
        fingerprints = capture_code(changed.flow).fingerprints
        assert fingerprints["make"] != code.fingerprints["make"], old
        assert fingerprints["summarize"] == code.fingerprints["summarize"], old


def test_a_changed_helper_is_named_with_its_diff(tmp_path: Path) -> None:
    flow = tmp_path / "cc_helper.py"
    _write(flow, FLOW_V1)
    with reprolam.open(tmp_path / "store") as rl:
        original = rl.run(f"{flow}:flow", planner="rules")
        _write(flow, FLOW_V1.replace("return x * 2", "return x * 3"))
        result = rl.reproduce(original.id)
    assert result.divergence is not None
    assert result.divergence.action == "make"
    (helper,) = [c for c in result.code if c.kind == "helper"]
    assert helper.name.endswith(":scale")
    assert helper.used_by == ("make",)
    assert "-    return x * 2\n+    return x * 3\n" in helper.diff
    assert "helper" in result.summary()
    assert "scale" in result.summary()
    assert [c.kind for c in result.code] == ["helper", "module"]

    runner = CliRunner()
    store = str(tmp_path / "store")
    human = runner.invoke(cli, ["--store", store, "reproduce", original.id])
    assert human.exit_code == 1
    assert "+    return x * 3" in human.output
    as_json = runner.invoke(cli, ["--store", store, "reproduce", original.id, "--json"])
    payload = json.loads(as_json.stdout)
    assert payload["code_changed"] is True
    assert any("+    return x * 3" in c["diff"] for c in payload["code"])


def test_code_changed_outputs_identical_is_said(tmp_path: Path) -> None:
    flow = tmp_path / "cc_same.py"
    _write(flow, FLOW_V1)
    with reprolam.open(tmp_path / "store") as rl:
        original = rl.run(f"{flow}:flow", planner="rules")
        _write(flow, FLOW_V1.replace("return x * 2", "return 2 * x  # commuted"))
        result = rl.reproduce(original.id)
        diff = rl.diff(original.id, result.reproduction.id if result.reproduction else "")
    assert result.bitwise
    assert "code changed, outputs identical" in result.summary()
    assert result.to_dict()["code_changed"] is True
    assert [c.name for c in diff.code if c.kind == "helper"] == ["cc_same:scale"] or any(
        c.name.endswith(":scale") for c in diff.code
    )


def test_unchanged_code_reproduces_without_code_changes(tmp_path: Path) -> None:
    flow = tmp_path / "cc_plain.py"
    _write(flow, FLOW_V1)
    with reprolam.open(tmp_path / "store") as rl:
        original = rl.run(f"{flow}:flow", planner="rules")
        result = rl.reproduce(original.id)
        manifest = code_manifest(rl.store, load_json(rl.store, original.run.environment))
    assert result.bitwise
    assert result.code == []
    assert "code changed" not in result.summary()
    (module,) = [m for m in manifest["modules"].values() if m["file"] == str(flow)]
    (source_key,) = module["sources"].values()
    with reprolam.open(tmp_path / "store") as rl:
        assert load_stored_text(rl, source_key) == FLOW_V1


def load_stored_text(rl: Any, key: str) -> str:
    from reprolam.history.code_rebuild import load_json_text

    return load_json_text(rl.store, key)


NOTEBOOK = """
import random
import numpy as np
from reprolam import action, workflow

SCALE = 3


def helper(values):
    return [v * SCALE for v in values]


@action(outputs=["values"], determinism="seeded")
def draw(*, n: int = 4) -> list:
    rng = np.random.default_rng(7)
    return helper([float(x) for x in rng.random(n)])


@action(outputs=["total"])
def total(values: list) -> float:
    return round(sum(values), 12)


flow = workflow("notebook-flow", [draw, total], outputs=["total"], metrics=None)
"""


def test_a_notebook_workflow_is_reproduced_from_stored_source_in_a_fresh_process(
    tmp_path: Path,
) -> None:
    module = _module("__notebook__", NOTEBOOK, "<ipython-input-1-abc>")
    store = tmp_path / "store"
    with reprolam.open(store) as rl:
        original = rl.run(module.flow, planner="rules")
    assert original.succeeded
    env = {**os.environ, "PYTHONPATH": ""}  # a fresh process: the notebook's module is gone

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "reprolam", "--store", str(store), *args],
            check=False,
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
            cwd=tmp_path,
        )

    untrusted = cli("reproduce", original.id)
    assert untrusted.returncode == 2
    assert "--trust-pickle" in untrusted.stderr  # the way to allow running stored code

    done = cli("--trust-pickle", "reproduce", original.id, "--json")
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert payload["bitwise"] is True
    assert payload["compared"] == 2
    assert payload["code"] == []  # the same source ran again, reached the same code
    verbs = (
        ["fork", original.id, "--at", "draw", "--set", "draw.n=5"],
        ["sweep", original.id, "--at", "draw", "--grid", "draw.n=2,3"],
    )
    for verb in verbs:  # refused "trust the store to rebuild it" although it was trusted
        trusted = cli("--trust-pickle", *verb, "--json")
        assert trusted.returncode == 0, trusted.stderr


@pytest.mark.skipif(not Path("/usr/bin/git").exists(), reason="needs git")
def test_git_commit_and_uncommitted_diff_are_recorded(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    flow = repo / "cc_git.py"
    _write(flow, FLOW_V1)
    git = ["git", "-C", str(repo), "-c", "user.email=t@example.org", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "cc_git.py"], check=True)
    subprocess.run([*git, "commit", "-qm", "v1"], check=True)
    head = subprocess.run(
        [*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()
    _write(flow, FLOW_V1.replace("OFFSET = 1", "OFFSET = 5"))
    # a user's external diff tool must not become the recorded diff
    tool = tmp_path / "fancy-diff"
    tool.write_text("#!/bin/sh\necho 'external tool output'\n")
    tool.chmod(0o755)
    subprocess.run([*git, "config", "diff.external", str(tool)], check=True)
    with reprolam.open(tmp_path / "store") as rl:
        run = rl.run(f"{flow}:flow", planner="rules")
        manifest = code_manifest(rl.store, load_json(rl.store, run.run.environment))
        git_state = manifest["git"]
        assert git_state["commit"] == head
        assert git_state["dirty"] is True
        diff = load_stored_text(rl, git_state["diff"])
    assert "-OFFSET = 1\n+OFFSET = 5\n" in diff
    assert "external tool output" not in diff
    assert git_state["diff_truncated"] is False


GIT_FLOW = """
from reprolam import action, workflow

import cc_git_new
import cc_git_elsewhere


@action(outputs=["y"])
def make() -> int:
    return cc_git_new.f(cc_git_elsewhere.g(1))


flow = workflow("cc_git_files", [make], outputs=["y"])
"""


def test_git_state_says_dirty_for_an_untracked_file_and_names_files_outside_the_tree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A helper never committed (untracked) was recorded as 'dirty: false' at the commit,
    which does not hold it; and one helper imported from outside the work tree made git
    refuse the diff, so a changed, committed workflow file was recorded as clean too."""
    repo, elsewhere = tmp_path / "repo", tmp_path / "elsewhere"
    repo.mkdir()
    elsewhere.mkdir()
    _write(repo / "cc_git_files.py", GIT_FLOW)
    _write(repo / "cc_git_new.py", "def f(x):\n    return x + 1\n")
    _write(elsewhere / "cc_git_elsewhere.py", "def g(x):\n    return x * 2\n")
    monkeypatch.syspath_prepend(str(elsewhere))
    git = ["git", "-C", str(repo), "-c", "user.email=t@example.org", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "cc_git_files.py"], check=True)
    subprocess.run([*git, "commit", "-qm", "v1"], check=True)
    _write(repo / "cc_git_files.py", GIT_FLOW + "# changed\n")
    with reprolam.open(tmp_path / "store") as rl:
        run = rl.run(f"{repo / 'cc_git_files.py'}:flow", planner="rules")
        git_state = code_manifest(rl.store, load_json(rl.store, run.run.environment))["git"]
        diff = load_stored_text(rl, git_state["diff"])
    assert git_state["dirty"] is True
    assert git_state["untracked"] == ["cc_git_new.py"]
    assert git_state["outside"] == [str(elsewhere / "cc_git_elsewhere.py")]
    assert "+# changed" in diff


def test_source_unavailable_still_fingerprints_by_bytecode() -> None:
    module = types.ModuleType("cc_nosource")
    exec(compile(textwrap.dedent(FLOW_V1), "<no-such-cell>", "exec"), module.__dict__)
    code = capture_code(module.flow)
    unit = code.manifest["units"]["cc_nosource:scale"]
    assert unit["source"] is None
    assert unit["digest"]


def test_store_copy_carries_the_code_and_captured_output(tmp_path: Path) -> None:
    from reprolam.trace.copy import copy_store
    from reprolam.trace.sqlite import SQLiteStore

    module = _module(
        "__copied_notebook__",
        NOTEBOOK.replace("return helper", "print('hi')\n    return helper"),
        "<ipython-input-2-def>",
    )
    with reprolam.open(tmp_path / "a") as rl:
        original = rl.run(module.flow, planner="rules")
    src, dst = SQLiteStore(tmp_path / "a"), SQLiteStore(tmp_path / "b")
    try:
        copy_store(src, dst)
    finally:
        src.close()
        dst.close()
    with reprolam.open(tmp_path / "b", trusted=True) as rl:
        assert rl.show(original.id).captured[0]["stdout"] == "hi\n"
        result = rl.reproduce(original.id)
    assert result.bitwise


MAIN_SCRIPT = (
    FLOW_V1
    + """
if __name__ == "__main__":
    import sys

    with reprolam_open(sys.argv[1]) as rl:
        print(rl.run(flow, planner="rules").id)
""".replace("reprolam_open", "__import__('reprolam').open")
)


@pytest.mark.parametrize("helper_changed", [False, True])
def test_a_script_run_as_main_reproduces_from_its_file_without_false_code_changes(
    tmp_path: Path, helper_changed: bool
) -> None:
    """Run as ``python script.py`` its actions are ``__main__:...``; loaded by path they are
    another module's: the same code must pair up, not read as every action removed and added."""
    script = tmp_path / "cc_main.py"
    _write(script, MAIN_SCRIPT)
    store = tmp_path / "store"
    ran = subprocess.run(
        [sys.executable, str(script), str(store)], capture_output=True, text=True, check=True
    )
    run_id = ran.stdout.strip()
    if helper_changed:
        _write(script, MAIN_SCRIPT.replace("return x * 2", "return 2 * x  # commuted"))
    with reprolam.open(store) as rl:
        result = rl.reproduce(run_id, workflow=f"{script}:flow")
    assert result.bitwise
    described = [c.describe() for c in result.code]
    if helper_changed:
        assert described == [
            "helper __main__:scale (reached by make): changed",
            "module __main__: source changed",
        ]
        assert "-    return x * 2" in result.code[0].diff
    else:
        assert described == []
        assert "code changed" not in result.summary()


def test_a_script_run_has_the_fingerprints_of_its_file_loaded_by_path(tmp_path: Path) -> None:
    """Run as ``python script.py`` its helpers are ``__main__:...``; a fork loads the file
    by path, another module's name: the same code is the same fingerprint, so a fork with
    ``reuse`` reuses every unchanged step (it executed each one reaching a helper, said to
    differ 'in fingerprint')."""
    script = tmp_path / "cc_main_reuse.py"
    _write(script, MAIN_SCRIPT)
    store = tmp_path / "store"
    ran = subprocess.run(
        [sys.executable, str(script), str(store)], capture_output=True, text=True, check=True
    )
    with reprolam.open(store) as rl:
        fork = rl.fork(ran.stdout.strip(), at=0, reuse=True)
        steps = rl.show(fork.id).steps
        original = rl.show(ran.stdout.strip()).steps
    assert [s.proposal["cache"]["reused"] for s in steps] == [True, True]
    assert [s.fingerprint for s in steps] == [s.fingerprint for s in original]


def test_a_script_run_as_main_is_rebuilt_from_its_recorded_file(tmp_path: Path) -> None:
    """No ``workflow=`` needed: the file the ``__main__`` module was recorded from is loaded
    as a module (its ``__main__`` block does not run again); a broken script is named."""
    script = tmp_path / "cc_main2.py"
    _write(script, MAIN_SCRIPT)
    store = tmp_path / "store"
    ran = subprocess.run(
        [sys.executable, str(script), str(store)], capture_output=True, text=True, check=True
    )
    run_id = ran.stdout.strip()
    with reprolam.open(store) as rl:
        result = rl.reproduce(run_id)
        assert result.bitwise
        assert len(rl.runs()) == 2  # the script's block did not record another run
        _write(script, MAIN_SCRIPT + "\nraise RuntimeError('broken on purpose')\n")
        with pytest.raises(reprolam.WorkflowError, match=r"recorded by the script .*broken on"):
            rl.reproduce(run_id)
        # moved: named, with the option to say where it is now ('unknown workflow' said
        # nothing of the script)
        script.rename(tmp_path / "elsewhere.py")
        with pytest.raises(reprolam.WorkflowError, match=r"which is not there any more") as e:
            rl.reproduce(run_id)
        assert str(script) in str(e.value)
        assert "workflow='PATH.py:ATTR'" in str(e.value)


DYNAMIC_FLOW = """
import cc_dyn_helpers
from reprolam import action, workflow


@action(outputs=["b"])
def pick(*, name: str = "g") -> int:
    return getattr(cc_dyn_helpers, name)(3)


@action(outputs=["c"])
def named(b: int) -> int:
    return cc_dyn_helpers.h(b)


flow = workflow("cc_dyn", [pick, named], outputs=["c"])
"""


def test_a_helper_module_used_whole_is_fingerprinted_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``getattr(module, name)`` can run any of the module's code: its whole text counts
    (a module only read by named attributes keeps counting just what it reaches)."""
    monkeypatch.syspath_prepend(str(tmp_path))
    helpers = tmp_path / "cc_dyn_helpers.py"
    _write(helpers, "def g(x):\n    return x * 10\n\n\ndef h(x):\n    return x + 1\n")
    _write(tmp_path / "cc_dyn.py", DYNAMIC_FLOW)
    with reprolam.open(tmp_path / "store") as rl:
        original = rl.run(f"{tmp_path / 'cc_dyn.py'}:flow", planner="rules")
        assert original.outputs["c"] == 31
        _write(helpers, "def g(x):\n    return x * 10 + 1000\n\n\ndef h(x):\n    return x + 1\n")
        sys.modules.pop("cc_dyn_helpers")  # as a new process would import it
        result = rl.reproduce(original.id)
        assert result.reproduction is not None
        before, after = (
            {s.action: s.fingerprint for s in rl.show(run).steps}
            for run in (original.id, result.reproduction.id)
        )
    assert before["pick"] != after["pick"]
    assert before["named"] == after["named"]  # reaches h only, which did not change
    assert result.divergence is not None
    assert result.divergence.action == "pick"
    assert result.code, "the divergence is explained by a code change"
    assert "cc_dyn_helpers" in result.summary()


NO_SOURCE = """
def shift(values):
    return [v + 1 for v in values if v not in {"a", "b", "c"}]
"""


def test_a_function_without_source_has_the_same_fingerprint_in_every_process() -> None:
    """Code ``exec``'d from a string has no source: its bytecode is fingerprinted, and the
    text of its nested code (a comprehension) once held that code's memory address."""
    script = (
        "import types\nfrom reprolam.actions import code_fingerprint\n"
        f"ns = {{}}\nexec({NO_SOURCE!r}, ns)\nprint(code_fingerprint(ns['shift']))\n"
    )
    prints = {
        subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout
        for seed in ("1", "2", "3")
    }
    assert len(prints) == 1


def test_actions_exec_d_without_a_module_name_are_recorded(tmp_path: Path) -> None:
    namespace: dict[str, Any] = {"action": reprolam.action}
    exec('@action(outputs=["v"])\ndef make() -> int:\n    return 1\n', namespace)
    flow = reprolam.workflow("execflow", [namespace["make"]], outputs=["v"])
    assert namespace["make"].__module__ is None
    with reprolam.open(tmp_path) as rl:
        run = rl.run(flow)
        assert run.succeeded
        assert rl.reproduce(run.id, workflow=flow).bitwise


def test_an_int_too_long_for_decimal_text_is_fingerprinted_not_a_crash() -> None:
    """Python turns an int into decimal text only up to 4,300 digits; a module-level constant
    (or a table holding one) beyond that was a ValueError out of ``rl.run``."""
    text = """
from reprolam import action, workflow

LIMIT = 10**5000
TABLE = {"limit": 10**5000}


@action(outputs=["value"])
def make() -> int:
    return (LIMIT + TABLE["limit"]) % 7


flow = workflow("long-int", [make], outputs=["value"])
"""
    code = capture_code(_module("cc_long_int", text, "<cc-long-int>").flow)
    changed = _module("cc_long_int", text.replace("LIMIT = 10**5000", "LIMIT = 10**5001"), "<b>")
    assert capture_code(changed.flow).fingerprints["make"] != code.fingerprints["make"]
    json.dumps(code.manifest)  # the manifest is stored as JSON
    with reprolam.open("memory:") as rl:
        assert rl.run(changed.flow).status.value == "succeeded"


def test_a_stored_package_module_that_cannot_run_here_is_one_error_naming_it(
    tmp_path: Path,
) -> None:
    """A run of pkg.flows:wf (which does `from . import K`) reproduced, trusted, where pkg
    is not importable: running its stored text raised ModuleNotFoundError, a traceback."""
    package = tmp_path / "qa5rel"
    package.mkdir()
    (package / "__init__.py").write_text("K = 2\n")
    (package / "flows.py").write_text(
        "from reprolam import action, workflow\nfrom . import K\n\n\n"
        "@action(outputs=['y'])\ndef times(*, x: int = 1) -> int:\n    return x * K\n\n\n"
        "wf = workflow('rel', [times], outputs=['y'])\n"
    )
    store = tmp_path / "store"
    sys.path.insert(0, str(tmp_path))
    try:
        with reprolam.open(store) as rl:
            run_id = rl.run("qa5rel.flows:wf").id
    finally:
        sys.path.remove(str(tmp_path))
        for name in ("qa5rel", "qa5rel.flows"):
            sys.modules.pop(name, None)
    result = CliRunner().invoke(cli, ["--store", str(store), "--trust-pickle", "reproduce", run_id])
    assert result.exit_code == 2, result.output
    assert "the source of module qa5rel.flows stored with run" in result.stderr
    assert "No module named 'qa5rel'" in result.stderr
    assert "--workflow MODULE:ATTR" in result.stderr


EDITED_FLOW = """
from reprolam import action, workflow

import cc_edited_helpers


@action(outputs=["y"])
def make() -> int:
    return cc_edited_helpers.scale(10)


flow = workflow("cc_edited", [make], outputs=["y"])
"""


def test_a_helper_edited_after_import_is_recorded_as_the_code_that_ran(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A notebook imports a helper, its file is edited, the kernel runs the flow without a
    reload: the old code runs, so the record must not show the file's new text as its code;
    it keeps the bytecode that ran, says so, and a reproduction names the change."""
    monkeypatch.syspath_prepend(str(tmp_path))
    helpers = tmp_path / "cc_edited_helpers.py"
    _write(helpers, "def scale(x):\n    return x * 2\n")
    _write(tmp_path / "cc_edited.py", EDITED_FLOW)
    monkeypatch.delitem(sys.modules, "cc_edited_helpers", raising=False)
    with reprolam.open(tmp_path / "store") as rl:
        flows = importlib.import_module("cc_edited")
        _write(helpers, "def scale(x):\n    return x * 3\n")
        with pytest.warns(reprolam.ReprolamWarning, match="cc_edited_helpers.py changed since"):
            original = rl.run(flows.flow, planner="rules")
        assert original.outputs["y"] == 20  # the code imported before the edit ran
        manifest = code_manifest(rl.store, load_json(rl.store, original.run.environment))
        unit = manifest["units"]["cc_edited_helpers:scale"]
        assert unit["source"] is None
        assert unit["changed_since_import"] is True
        assert manifest["modules"]["cc_edited_helpers"]["changed_since_import"] is True
        assert manifest["modules"]["cc_edited_helpers"]["sources"] == {}
        sys.modules.pop("cc_edited_helpers")  # as a new process would import it
        sys.modules.pop("cc_edited")
        result = rl.reproduce(original.id)
    assert result.divergence is not None
    (helper,) = [c for c in result.code if c.kind == "helper"]
    assert "edited after it was imported" in helper.summary
    assert "+    return x * 3" in helper.diff


def test_a_helper_put_back_with_an_old_modification_time_is_still_seen_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``cp -p`` (or an unpacked archive) gives the edited file an old modification time:
    only files written after the process started were compared, so the new text was
    recorded as the code that ran."""
    monkeypatch.syspath_prepend(str(tmp_path))
    helpers = tmp_path / "cc_old_time_helpers.py"
    _write(helpers, "def scale(x):\n    return x * 2\n")
    _write(
        tmp_path / "cc_old_time.py",
        EDITED_FLOW.replace("cc_edited_helpers", "cc_old_time_helpers").replace(
            '"cc_edited"', '"cc_old_time"'
        ),
    )
    for name in ("cc_old_time_helpers", "cc_old_time"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    flows = importlib.import_module("cc_old_time")
    _write(helpers, "def scale(x):\n    return x * 3\n")
    os.utime(helpers, (946684800, 946684800))  # 2000-01-01, before this process started
    with reprolam.open(tmp_path / "store") as rl:
        with pytest.warns(reprolam.ReprolamWarning, match="cc_old_time_helpers.py changed since"):
            original = rl.run(flows.flow, planner="rules")
        manifest = code_manifest(rl.store, load_json(rl.store, original.run.environment))
    assert manifest["units"]["cc_old_time_helpers:scale"]["changed_since_import"] is True
    for name in ("cc_old_time_helpers", "cc_old_time"):
        sys.modules.pop(name, None)


def test_a_helper_reloaded_but_bound_by_name_in_the_flow_is_still_the_code_that_ran(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``from helpers import scale`` in the flow, then ``importlib.reload(helpers)``: the flow
    still holds the old ``scale``, so the old code runs; the warning's fix names the modules
    that imported names from it (reloading the helper alone is not enough)."""
    monkeypatch.syspath_prepend(str(tmp_path))
    helpers = tmp_path / "cc_bound_helpers.py"
    _write(helpers, "def scale(x):\n    return x * 2\n")
    _write(
        tmp_path / "cc_bound.py",
        EDITED_FLOW.replace("import cc_edited_helpers", "from cc_bound_helpers import scale")
        .replace("cc_edited_helpers.scale", "scale")
        .replace('"cc_edited"', '"cc_bound"'),
    )
    for name in ("cc_bound_helpers", "cc_bound"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    flows = importlib.import_module("cc_bound")
    _write(helpers, "def scale(x):\n    return x * 3\n")
    importlib.reload(sys.modules["cc_bound_helpers"])
    with (
        reprolam.open(tmp_path / "store") as rl,
        pytest.warns(reprolam.ReprolamWarning, match="modules that imported names from it"),
    ):
        assert rl.run(flows.flow, planner="rules").outputs["y"] == 20
    for name in ("cc_bound_helpers", "cc_bound"):
        sys.modules.pop(name, None)


def test_a_class_attribute_edited_after_import_is_not_recorded_as_the_code_that_ran(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``class Cfg: FACTOR = 2`` edited to 3 after import changes no method's code: the
    class was recorded by the file's new text (FACTOR = 3) while 2 ran, and a reproduction
    diverged with no code change named."""
    monkeypatch.syspath_prepend(str(tmp_path))
    helpers = tmp_path / "cc_class_helpers.py"
    _write(helpers, "class Cfg:\n    FACTOR = 2\n")
    _write(
        tmp_path / "cc_class.py",
        EDITED_FLOW.replace("cc_edited_helpers.scale(10)", "cc_class_helpers.Cfg.FACTOR * 10")
        .replace("import cc_edited_helpers", "import cc_class_helpers")
        .replace('"cc_edited"', '"cc_class"'),
    )
    for name in ("cc_class_helpers", "cc_class"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    flows = importlib.import_module("cc_class")
    _write(helpers, "class Cfg:\n    FACTOR = 3\n")
    with reprolam.open(tmp_path / "store") as rl:
        with pytest.warns(reprolam.ReprolamWarning, match="cc_class_helpers.py changed since"):
            original = rl.run(flows.flow, planner="rules")
        assert original.outputs["y"] == 20
        manifest = code_manifest(rl.store, load_json(rl.store, original.run.environment))
        assert manifest["units"]["cc_class_helpers:Cfg"]["source"] is None
        for name in ("cc_class_helpers", "cc_class"):
            sys.modules.pop(name)
        result = rl.reproduce(original.id)
    assert result.divergence is not None
    assert [c.name for c in result.code if c.kind == "helper"] == ["cc_class_helpers:Cfg"]


ENUM_AND_MODEL = """
import enum
import pydantic


class Color(enum.Enum):
    RED = {red}


class Cfg(pydantic.BaseModel):
    k: int = {k}
"""


def test_an_enum_or_a_pydantic_model_written_after_start_is_not_taken_for_edited(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file written after the process started is compiled to check its classes' literals:
    an enum's member (RED = 1 holds Color.RED) and a pydantic field's default (taken out of
    the class) never matched, so a notebook's fresh helper module was recorded by bytecode,
    with a warning that it changed since import, every run."""
    from reprolam.engine.stale_code import runs_its_source

    monkeypatch.syspath_prepend(str(tmp_path))
    path = tmp_path / "cc_enum_model.py"
    _write(path, ENUM_AND_MODEL.format(red=1, k=1))
    monkeypatch.delitem(sys.modules, "cc_enum_model", raising=False)
    module = importlib.import_module("cc_enum_model")
    assert runs_its_source(module.Color, str(path))
    assert runs_its_source(module.Cfg, str(path))
    _write(path, ENUM_AND_MODEL.format(red=2, k=5))
    assert not runs_its_source(module.Color, str(path))
    assert not runs_its_source(module.Cfg, str(path))
    sys.modules.pop("cc_enum_model")


TUPLE_AND_SLOTS = """
import dataclasses
from typing import NamedTuple


class Point(NamedTuple):
    x: int = {x}


@dataclasses.dataclass(slots=True)
class Slotted:
    y: int = {y}
"""


def test_a_namedtuple_or_a_slotted_dataclass_written_after_start_is_not_taken_for_edited(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A NamedTuple's field default becomes a tuple getter, a slotted dataclass's a member
    descriptor: neither matched what the body assigned, so the class was taken for edited
    since import (recorded by bytecode, with the warning)."""
    from reprolam.engine.stale_code import runs_its_source

    monkeypatch.syspath_prepend(str(tmp_path))
    path = tmp_path / "cc_tuple_slots.py"
    _write(path, TUPLE_AND_SLOTS.format(x=1, y=2))
    monkeypatch.delitem(sys.modules, "cc_tuple_slots", raising=False)
    module = importlib.import_module("cc_tuple_slots")
    assert runs_its_source(module.Point, str(path))
    assert runs_its_source(module.Slotted, str(path))
    _write(path, TUPLE_AND_SLOTS.format(x=5, y=6))
    assert not runs_its_source(module.Point, str(path))
    assert not runs_its_source(module.Slotted, str(path))
    sys.modules.pop("cc_tuple_slots")


def test_a_default_edited_after_import_is_not_recorded_as_the_code_that_ran(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`def scale(x, k=2)` edited to `k=3` after import changes no code object (a default
    is not in it): the file's new text was recorded as the code that ran, with k=2 running,
    and no warning."""
    from reprolam.engine.stale_code import runs_its_source

    monkeypatch.syspath_prepend(str(tmp_path))
    path = tmp_path / "cc_defaults.py"
    text = (
        "def scale(x, k=2, *, j=(1, 2)):\n    return x * k\n\n\n"
        "class C:\n    def m(self, k=2):\n        return k\n"
    )
    _write(path, text)
    monkeypatch.delitem(sys.modules, "cc_defaults", raising=False)
    module = importlib.import_module("cc_defaults")
    assert runs_its_source(module.scale, str(path))
    assert runs_its_source(module.C, str(path))
    _write(path, text.replace("k=2", "k=3"))
    assert not runs_its_source(module.scale, str(path))
    assert not runs_its_source(module.C, str(path))
    _write(path, text.replace("j=(1, 2)", "j=(1, 5)"))
    assert not runs_its_source(module.scale, str(path))
    sys.modules.pop("cc_defaults")
