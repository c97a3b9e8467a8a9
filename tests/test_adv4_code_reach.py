"""Hole: a change to what an action reads went unnoticed by its code record and fingerprint.

The code capture followed an action to the functions and classes it reaches and to the
plain scalars (and short tuples) it reads at module level. Anything else it read was not
recorded: a module-level table (a dict or list), a compiled regex, a numpy array, a value
reached through a user package's submodule (``pkg.sub.X``), a value frozen in a closure cell
(an action built by a factory), and a second module-level lambda (every lambda was the unit
``module:<lambda>``, so only the first one reached was recorded). Changing such a value left
the action's fingerprint as it was: ``run --reuse`` took the stale outputs, and ``diff`` /
``reproduce`` could not name the change. Each such value is now recorded in the manifest's
``values`` (canonical JSON of a table, pattern and flags of a regex, dtype, shape and digest
of an array's bytes, ...) and covered by the fingerprint; a lambda is a unit of its own.
"""

from __future__ import annotations

import json
import linecache
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import reprolam
from reprolam.cli.main import cli
from reprolam.engine.code_capture import capture_code

IMPORTS = """
import re

import numpy as np
import pandas as pd

from reprolam import action, workflow
"""

OTHER = """

@action(outputs=["other"])
def other() -> int:
    return 1
"""

TAIL = """
flow = workflow("reach", [other, target], outputs=["other", "result"])
"""

TARGET = """
@action(outputs=["result"])
def target() -> object:
    return {body}
"""


@dataclass(frozen=True)
class Case:
    """A workflow whose ``target`` action reads something; ``old`` -> ``new`` changes it."""

    flow: str  # definitions before ``target`` (and ``target`` itself when it has no body)
    body: str | None  # what ``target`` returns; None: ``flow`` defines ``target``
    old: str
    new: str
    named: str  # what the change is called in diff and reproduce
    edit: str = "flow"  # the file edited: "flow" or a helper's name
    helpers: tuple[tuple[str, str], ...] = ()  # (relative path, text)


CASES = {
    "table_in_flow": Case(
        'TABLE = {"a": [1, 2], "b": 3}\n',
        'sum(TABLE["a"])',
        '"a": [1, 2]',
        '"a": [1, 5]',
        ":TABLE",
    ),
    "list_in_flow": Case("STEPS = [1, 2, 3]\n", "sum(STEPS)", "[1, 2, 3]", "[1, 2, 4]", ":STEPS"),
    "long_tuple_in_flow": Case(
        "GRID = tuple(range(200))\n", "sum(GRID)", "range(200)", "range(201)", ":GRID"
    ),
    "table_in_helper_module": Case(
        "import {h}\n",
        '{h}.TABLE["k"]',
        '"k": 1',
        '"k": 2',
        "{h}:TABLE",
        edit="{h}.py",
        helpers=(("{h}.py", 'TABLE = {"k": 1}\n'),),
    ),
    "table_imported_from_helper": Case(
        "from {h} import TABLE\n",
        'TABLE["k"]',
        '"k": 1',
        '"k": 2',
        ":TABLE",
        edit="{h}.py",
        helpers=(("{h}.py", 'TABLE = {"k": 1}\n'),),
    ),
    "compiled_regex": Case(
        'PAT = re.compile(r"a+")\n', 'PAT.findall("caaab")', 'r"a+"', 'r"a"', ":PAT"
    ),
    "regex_flags": Case(
        'PAT = re.compile(r"A")\n',
        'PAT.findall("aA")',
        'r"A")',
        'r"A", re.IGNORECASE)',
        ":PAT",
    ),
    "numpy_array": Case(
        "WEIGHTS = np.array([1.0, 2.0, 3.0])\n",
        "float(WEIGHTS.sum())",
        "3.0])",
        "3.5])",
        ":WEIGHTS",
    ),
    "numpy_array_dtype": Case(
        "WEIGHTS = np.array([1, 2, 3], dtype=np.int64)\n",
        "WEIGHTS.tobytes().hex()",
        "np.int64",
        "np.int32",
        ":WEIGHTS",
    ),
    "pandas_frame": Case(
        'LOOKUP = pd.DataFrame({"k": [1, 2], "v": [0.5, 1.5]})\n',
        'float(LOOKUP["v"].sum())',
        "1.5]",
        "2.5]",
        ":LOOKUP",
    ),
    "pandas_frame_column_renamed": Case(
        'LOOKUP = pd.DataFrame({"k": [1, 2], "v": [0.5, 1.5]})\n',
        "list(LOOKUP.columns)",
        '"v": [0.5',
        '"w": [0.5',
        ":LOOKUP",
    ),
    "pandas_series_dtype": Case(
        'SCALE = pd.Series([1, 2, 3], dtype="int64")\n',
        "str(SCALE.dtype)",
        '"int64"',
        '"int32"',
        ":SCALE",
    ),
    "submodule_attribute_chain": Case(
        "import {h}.sub\n",
        "{h}.sub.X",
        "X = 3",
        "X = 4",
        "{h}.sub:X",
        edit="{h}/sub.py",
        helpers=(("{h}/__init__.py", ""), ("{h}/sub.py", "X = 3\n")),
    ),
    "submodule_function_chain": Case(
        "import {h}.sub\n",
        "{h}.sub.f(2)",
        "x * 2",
        "x * 3",
        "{h}.sub:f",
        edit="{h}/sub.py",
        helpers=(("{h}/__init__.py", ""), ("{h}/sub.py", "def f(x):\n    return x * 2\n")),
    ),
    "module_lambda": Case("scale = lambda x: x * 2\n", "scale(5)", "x * 2", "x * 3", ":scale"),
    "second_module_lambda": Case(
        "scale = lambda x: x * 2\nshift = lambda x: x + 1\n",
        "scale(shift(5))",
        "x + 1",
        "x + 7",
        ":shift",
    ),
    "closure_cell": Case(
        textwrap.dedent(
            """
            def make_target(k):
                @action(outputs=["result"], name="target")
                def act() -> int:
                    return k

                return act


            target = make_target(3)
            """
        ),
        None,
        "make_target(3)",
        "make_target(4)",
        "#k",
    ),
    "two_actions_from_one_factory": Case(
        textwrap.dedent(
            """
            def make(k, name, output):
                @action(outputs=[output], name=name)
                def act() -> int:
                    return k

                return act


            other = make(1, "other", "other")
            target = make(3, "target", "result")
            """
        ),
        None,
        "make(3,",
        "make(4,",
        "#k",
    ),
    "default_argument": Case(
        textwrap.dedent(
            """
            LIMITS = {"high": 3}


            def clip(x, limits=dict(LIMITS)):
                return min(x, limits["high"])
            """
        ),
        "clip(10)",
        '"high": 3',
        '"high": 2',
        ":clip#limits",
    ),
    "user_config_object": Case(
        textwrap.dedent(
            """
            class Config:
                def __init__(self, threshold):
                    self.threshold = threshold


            CONFIG = Config(0.5)
            """
        ),
        "CONFIG.threshold",
        "Config(0.5)",
        "Config(0.25)",
        ":CONFIG",
    ),
    "dispatch_table_of_functions": Case(
        textwrap.dedent(
            """
            def double(x):
                return x * 2


            OPS = {"op": double}
            """
        ),
        'OPS["op"](4)',
        "x * 2",
        "x * 5",
        ":double",
    ),
    "namespace_config": Case(
        "from types import SimpleNamespace\nCFG = SimpleNamespace(k=1)  # json.load(...)\n",
        "CFG.k",
        "k=1",
        "k=2",
        ":CFG",
    ),
    "argparse_namespace_config": Case(
        "import argparse\nARGS = argparse.Namespace(k=1)\n", "ARGS.k", "k=1", "k=2", ":ARGS"
    ),
    "configparser_config": Case(
        'import configparser\nCFG = configparser.ConfigParser()\nCFG.read_string("[m]\\nk = 1")\n',
        'CFG["m"].getint("k")',
        "k = 1",
        "k = 2",
        ":CFG",
    ),
    "date_constant": Case(
        "import datetime\nSTART = datetime.date(2020, 1, 1)\n",
        "START.year",
        "2020, 1, 1",
        "2021, 1, 1",
        ":START",
    ),
    "partial_in_a_table": Case(
        textwrap.dedent(
            """
            from functools import partial


            def scale(x, factor):
                return x * factor


            OPS = {"triple": partial(scale, factor=3)}
            """
        ),
        'OPS["triple"](4)',
        "x * factor",
        "x * factor + 1",
        ":scale",
    ),
    "bound_method_in_a_table": Case(
        textwrap.dedent(
            """
            class Shift:
                def go(self, x):
                    return x + 1


            STEPS = [Shift().go]
            """
        ),
        "STEPS[0](4)",
        "x + 1",
        "x + 2",
        ":Shift",
    ),
    "instance_in_a_table": Case(
        textwrap.dedent(
            """
            class Shift:
                def go(self, x):
                    return x + 1


            MODELS = {"s": Shift()}
            """
        ),
        'MODELS["s"].go(4)',
        "x + 1",
        "x + 2",
        ":Shift",
    ),
    "lru_cached_helper": Case(
        textwrap.dedent(
            """
            from functools import lru_cache


            @lru_cache(maxsize=None)
            def doubled(x):
                return x * 2
            """
        ),
        "doubled(4)",
        "x * 2",
        "x * 5",
        ":doubled",
    ),
    "slots_dataclass_config": Case(
        textwrap.dedent(
            """
            from dataclasses import dataclass


            @dataclass(frozen=True, slots=True)
            class Config:
                lr: float = 0.1


            CONFIG = Config(lr=0.2)
            """
        ),
        "CONFIG.lr",
        "lr=0.2",
        "lr=0.3",
        ":CONFIG",
    ),
    "vectorized_helper": Case(
        textwrap.dedent(
            """
            def _doubled(x):
                return x * 2


            VDOUBLED = np.vectorize(_doubled)
            """
        ),
        "VDOUBLED(np.array([4])).tolist()",
        "x * 2",
        "x * 5",
        ":_doubled",
    ),
    "singledispatch_implementation": Case(
        textwrap.dedent(
            """
            from functools import singledispatch


            @singledispatch
            def area(x):
                raise TypeError(x)


            @area.register(int)
            def _(x):
                return x * 2
            """
        ),
        "area(4)",
        "x * 2",
        "x * 5",
        ":_",
    ),
    "library_method_monkeypatched_by_the_user": Case(
        textwrap.dedent(
            """
            import json


            def patched_findall(self, text):
                return ["patched", len(text)]


            json.JSONEncoder.adv4_patched_findall = patched_findall  # a library class's name
            """
        ),
        'json.JSONEncoder().adv4_patched_findall("aa")',
        '["patched", len(text)]',
        '["patched", len(text) + 1]',
        ":patched_findall",
    ),
    "library_attribute_monkeypatched_by_the_user": Case(
        textwrap.dedent(
            """
            def patched_scale(x):
                return x * 2


            re.adv4_patched_scale = patched_scale  # a library module's name, the user's code
            """
        ),
        "re.adv4_patched_scale(4)",
        "x * 2",
        "x * 5",
        ":patched_scale",
    ),
    "metaclass_of_a_user_class": Case(
        textwrap.dedent(
            """
            class Doubling(type):
                def __call__(cls, *args):
                    made = super().__call__(*args)
                    made.v = made.v * 2
                    return made


            class Thing(metaclass=Doubling):
                def __init__(self):
                    self.v = 5
            """
        ),
        "Thing().v",
        "made.v * 2",
        "made.v * 3",
        ":Doubling.__call__",
    ),
    "helper_of_a_cached_property": Case(
        textwrap.dedent(
            """
            import functools


            def cached_helper(x):
                return x * 2


            class Lazy:
                @functools.cached_property
                def value(self):
                    return cached_helper(3)
            """
        ),
        "Lazy().value",
        "x * 2",
        "x * 5",
        ":cached_helper",
    ),
}


def _forget(folder: Path) -> None:
    """Drop the modules imported from ``folder``: the next run imports them afresh, as a new
    ``reprolam run`` process would."""
    root = str(folder)
    for name, module in list(sys.modules.items()):
        if str(getattr(module, "__file__", None) or "").startswith(root):
            del sys.modules[name]


def _project(tmp_path: Path, case_id: str, case: Case) -> tuple[Path, Path]:
    """Write the case's workflow (and helpers); the workflow file and the file to edit."""
    helper = f"adv4_{case_id}_h"  # one name per case: tests share a process and sys.path
    code = tmp_path / "code"
    code.mkdir()
    for relative, text in case.helpers:
        path = code / relative.replace("{h}", helper)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    head = IMPORTS if "other = make(" in case.flow else IMPORTS + OTHER
    body = case.flow.replace("{h}", helper)
    if case.body is not None:
        body += TARGET.replace("{body}", case.body.replace("{h}", helper))
    flow = code / f"adv4_{case_id}_flow.py"
    flow.write_text(head + "\n" + body + TAIL)
    edited = flow if case.edit == "flow" else code / case.edit.replace("{h}", helper)
    return flow, edited


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, (old, text)
    stat = path.stat()
    path.write_text(text.replace(old, new))
    # as an edit a moment later: the file's time moves on even where the clock is coarse
    # (source is read through linecache, which trusts an unchanged size and time)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))
    linecache.checkcache(str(path))


def _steps(result: reprolam.RunResult) -> dict[str, Any]:
    return {s.action: s for s in result.steps}


def _reused(step: Any) -> bool:
    """Whether the step took recorded outputs (an executed step may carry no cache note)."""
    return bool(step.proposal.get("cache", {}).get("reused"))


@pytest.mark.parametrize("case_id", sorted(CASES))
def test_a_changed_dependency_changes_the_fingerprint_is_named_and_is_not_reused(
    tmp_path: Path, case_id: str
) -> None:
    case = CASES[case_id]
    flow, edited = _project(tmp_path, case_id, case)
    named = case.named.replace("{h}", f"adv4_{case_id}_h")
    store = tmp_path / "store"
    try:
        with reprolam.open(store) as rl:
            first = rl.run(f"{flow}:flow", planner="script")
            assert first.succeeded, first.run.error
            _forget(tmp_path)
            same = rl.run(f"{flow}:flow", planner="script", reuse=True)
            # unchanged: everything reused, nothing named
            assert [_reused(s) for s in same.steps] == [True, True]
            assert rl.diff(first.id, same.id).code == []

            _forget(tmp_path)
            _edit(edited, case.old, case.new)
            second = rl.run(f"{flow}:flow", planner="script", reuse=True)
            assert second.succeeded, second.run.error
            before, after = _steps(first), _steps(second)
            assert after["target"].fingerprint != before["target"].fingerprint
            assert after["other"].fingerprint == before["other"].fingerprint
            assert _reused(after["other"])
            assert not _reused(after["target"])
            assert after["target"].outputs != before["target"].outputs

            changes = rl.diff(first.id, second.id).code
            named_changes = [c for c in changes if named in c.name]
            assert named_changes, [c.describe() for c in changes]
            assert all(c.used_by in ((), ("target",)) for c in named_changes)
            assert any(c.kind in ("constant", "helper", "action") for c in named_changes)

            _forget(tmp_path)
            reproduced = rl.reproduce(first.id)
        assert reproduced.divergence is not None
        assert reproduced.divergence.action == "target"
        assert named in reproduced.summary(), reproduced.summary()
    finally:
        _forget(tmp_path)


def test_the_cli_diff_names_a_changed_table(tmp_path: Path) -> None:
    flow, edited = _project(tmp_path, "cli_table", CASES["table_in_flow"])
    store = str(tmp_path / "store")
    runner = CliRunner()
    try:
        runs = []
        for round_ in range(2):
            _forget(tmp_path)
            if round_:
                _edit(edited, '"a": [1, 2]', '"a": [1, 5]')
            done = runner.invoke(
                cli, ["--store", store, "run", f"{flow}:flow", "--planner", "script", "--json"]
            )
            assert done.exit_code == 0, done.output
            runs.append(json.loads(done.stdout)["run"]["id"])
        shown = runner.invoke(cli, ["--store", store, "diff", *runs])
    finally:
        _forget(tmp_path)
    text = " ".join(shown.output.split())
    assert ":TABLE (reached by target)" in text, shown.output
    assert "[1, 5]" in text


STABLE = """
import re
import numpy as np
import pandas as pd
from reprolam import action, workflow

TAGS = {"b", "a", "c", "d", "e"}
TABLE = {"z": 1, "a": (1, 2), 3: frozenset({"x", "y"})}
PAT = re.compile(rb"a+")
GRID = np.arange(6, dtype=np.float32).reshape(2, 3)
MISSING = float("nan")
NAMES = pd.DataFrame({"name": ["b", "a"], "n": [1, 2]}).set_index("name")


@action(outputs=["result"])
def target() -> object:
    return [sorted(TAGS), TABLE["z"], PAT.pattern, GRID.shape, MISSING, NAMES.shape]


flow = workflow("stable", [target], outputs=["result"])
"""


def test_recorded_values_do_not_depend_on_the_process(tmp_path: Path) -> None:
    """Sets, mixed keys, bytes and NaN are recorded alike in any process (hash seeds
    differ), so an unchanged workflow never reads as changed nor misses its cache."""
    (tmp_path / "adv4_stable.py").write_text(STABLE)
    probe = (
        "import json, sys; sys.path.insert(0, sys.argv[1]); import adv4_stable as m; "
        "from reprolam.engine.code_capture import capture_code; c = capture_code(m.flow); "
        "print(json.dumps([c.fingerprints, c.manifest['values']], sort_keys=True))"
    )
    outputs = set()
    for seed in ("1", "2", "3"):
        done = subprocess.run(
            [sys.executable, "-c", probe, str(tmp_path)],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        )
        outputs.add(done.stdout)
    assert len(outputs) == 1
    _fingerprints, values = json.loads(outputs.pop())
    assert sorted(values) == [
        "adv4_stable:GRID",
        "adv4_stable:NAMES",
        "adv4_stable:PAT",
        "adv4_stable:TABLE",
        "adv4_stable:TAGS",
    ]
    grid = values["adv4_stable:GRID"]
    assert grid["numpy.ndarray"][:2] == ["<f4", [2, 3]]


def test_a_user_module_named_like_a_standard_library_module_is_user_code(
    tmp_path: Path,
) -> None:
    """A statistics.py (here sched.py) beside the workflow file shadows the standard
    library's: it is the user's code, walked and fingerprinted. Judged by its name it was
    the standard library's, so an edit to it left the fingerprint as recorded (--reuse took
    the old output, reproduce blamed the action's own nondeterminism)."""
    (tmp_path / "sched.py").write_text("def k(x):\n    return x + 1\n")
    flow = IMPORTS + "import sched\n" + OTHER + TARGET.replace("{body}", "sched.k(4)") + TAIL
    (tmp_path / "adv4_shadow.py").write_text(flow)
    probe = (
        "import json, sys; sys.path.insert(0, sys.argv[1]); import adv4_shadow as m; "
        "assert m.sched.__file__.startswith(sys.argv[1]); "
        "from reprolam.engine.code_capture import capture_code; c = capture_code(m.flow); "
        "print(json.dumps(c.manifest['actions']['target']['reaches']))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, str(tmp_path)], capture_output=True, text=True, check=True
    )
    assert json.loads(done.stdout) == ["sched:k"]


def test_a_nan_constant_is_not_a_change(tmp_path: Path) -> None:
    flow = tmp_path / "adv4_nan_flow.py"
    flow.write_text(STABLE.replace("adv4_stable", "adv4_nan"))
    try:
        with reprolam.open(tmp_path / "store") as rl:
            first = rl.run(f"{flow}:flow", planner="script")
            _forget(tmp_path)
            again = rl.run(f"{flow}:flow", planner="script", reuse=True)
            assert rl.diff(first.id, again.id).code == []
        assert _reused(again.steps[0])
    finally:
        _forget(tmp_path)


def test_a_huge_table_is_recorded_by_digest_and_its_change_still_seen() -> None:
    import types

    source = "BIG = {i: str(i) for i in range(50_000)}\n"
    module = types.ModuleType("adv4_big")
    exec(
        compile(
            source + IMPORTS + OTHER + TARGET.replace("{body}", "len(BIG)") + TAIL, "<adv4>", "exec"
        ),
        module.__dict__,
    )
    first = capture_code(module.flow)
    recorded = first.manifest["values"]["adv4_big:BIG"]
    assert set(recorded) == {"digest", "bytes"}  # not the table itself: the manifest stays small
    module.BIG[7] = "seven"
    second = capture_code(module.flow)
    assert second.fingerprints["target"] != first.fingerprints["target"]
    assert second.fingerprints["other"] == first.fingerprints["other"]


def test_an_edited_code_record_is_neither_exported_nor_imported(tmp_path: Path) -> None:
    """The code record is an artifact like any other: its bytes edited in a crate, the
    import names it and imports nothing; edited in the store, export refuses it."""
    import sqlite3
    import zipfile
    from contextlib import closing

    from reprolam.trace.stored_json import load_json

    flow, _ = _project(tmp_path, "export_table", CASES["table_in_flow"])
    store = tmp_path / "store"
    try:
        with reprolam.open(store) as rl:
            run = rl.run(f"{flow}:flow", planner="script")
            code = load_json(rl.store, run.run.environment)["code"]
    finally:
        _forget(tmp_path)
    runner = CliRunner()
    crate = tmp_path / "crate.zip"
    exported = runner.invoke(
        cli, ["--store", str(store), "export", run.id, "--format", "rocrate", "-o", str(crate)]
    )
    assert exported.exit_code == 0, exported.output
    edited = tmp_path / "edited.zip"
    with zipfile.ZipFile(crate) as source, zipfile.ZipFile(edited, "w") as target:
        names = [n for n in source.namelist() if code in n]
        assert names, "the code record travels with the run"
        for item in source.infolist():
            data = source.read(item)
            if item.filename in names:
                assert b'"a":[1,2]' in data
                data = data.replace(b'"a":[1,2]', b'"a":[1,9]')
            target.writestr(item, data)
    imported = runner.invoke(cli, ["--store", str(tmp_path / "other"), "import", str(edited)])
    assert imported.exit_code == 2
    message = " ".join(imported.output.split())
    assert code in message
    assert "does not verify" in message
    assert "nothing was imported" in message

    with closing(sqlite3.connect(store / "trace.db")) as con:
        (data,) = con.execute("SELECT data FROM artifacts WHERE digest = ?", (code,)).fetchone()
        con.execute(
            "UPDATE artifacts SET data = ? WHERE digest = ?",
            (bytes(data).replace(b'"a":[1,2]', b'"a":[1,9]'), code),
        )
        con.commit()
    again = runner.invoke(
        cli, ["--store", str(store), "export", run.id, "--format", "rocrate", "-o", str(edited)]
    )
    assert again.exit_code == 2
    assert code in " ".join(again.output.split())
    assert "corrupted" in again.output


def test_a_helper_in_a_namespace_package_of_the_user_is_user_code(tmp_path: Path) -> None:
    """A folder without __init__.py (nslab/core.py, imported as nslab.core) is a namespace
    package: no __file__, so it was not user code, the walk stopped at it and an edit to
    nslab/core.py left the fingerprint as recorded (--reuse took the old output)."""
    package = tmp_path / "adv4_nslab"
    package.mkdir()
    (package / "core.py").write_text("def fn(x):\n    return x + 1\n")
    flow = (
        IMPORTS
        + "import adv4_nslab.core\n"
        + OTHER
        + TARGET.replace("{body}", "adv4_nslab.core.fn(4)")
        + TAIL
    )
    (tmp_path / "adv4_ns_flow.py").write_text(flow)
    sys.path.insert(0, str(tmp_path))
    try:
        import adv4_ns_flow  # type: ignore[import-not-found]

        captured = capture_code(adv4_ns_flow.flow)
    finally:
        sys.path.remove(str(tmp_path))
        _forget(tmp_path)
        for name in ("adv4_nslab", "adv4_ns_flow"):
            sys.modules.pop(name, None)
    assert captured.manifest["actions"]["target"]["reaches"] == ["adv4_nslab.core:fn"]
    assert captured.manifest["modules"]["adv4_nslab"]["interactive"] is False


class _WithDictAndSlots:
    __slots__ = ("__dict__", "fields_set")  # as pydantic's BaseModel

    def __init__(self) -> None:
        self.lr = 0.1
        self.fields_set = {"lr"}


def test_an_instance_with_a_dict_is_described_by_it_alone() -> None:
    """Its slots (pydantic's __pydantic_fields_set__) are not added: the description of
    such a config is what runs recorded before slots were read, so they still compare."""
    from reprolam.engine.code_capture import describe

    found = describe(_WithDictAndSlots(), [], lambda v: v is _WithDictAndSlots)
    assert found["state"] == {"lr": 0.1}


class _Proxy:
    """As werkzeug's LocalProxy outside its context: every attribute lookup raises."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError("working outside of the proxy's context")


PROXY = _Proxy()


def test_a_value_whose_attribute_lookup_raises_does_not_stop_the_capture() -> None:
    """Reading __wrapped__ (for @lru_cache, np.vectorize: 72f4f94) looks up an
    attribute of every value an action reads; a proxy that raises there stopped the run."""
    from reprolam import action, workflow

    @action(outputs=["y"])
    def reads_a_proxy() -> int:
        return 1 if PROXY is not None else 0

    captured = capture_code(workflow("proxy", [reads_a_proxy], outputs=["y"]))
    assert "reads_a_proxy" in captured.fingerprints


def test_a_walk_past_its_guard_does_not_crash_and_still_sees_a_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An action reaching more units than the walk's guard (500: a table of 600 helpers)
    made every run of it a KeyError traceback. A unit past the guard counts by its
    module's whole text."""
    from reprolam.engine import code_capture

    monkeypatch.setattr(code_capture, "_MAX_UNITS", 3)
    helpers = "".join(f"def f{i}(x):\n    return x + {i}\n\n\n" for i in range(6))
    helpers += "OPS = {" + ", ".join(f"'f{i}': f{i}" for i in range(6)) + "}\n"
    flow = IMPORTS + "import adv4_many\n" + OTHER
    flow += TARGET.replace("{body}", "adv4_many.OPS['f5'](1)") + TAIL
    (tmp_path / "adv4_many_flow.py").write_text(flow)
    fingerprints = []
    sys.path.insert(0, str(tmp_path))
    try:
        for last in ("x + 5", "x + 50"):
            (tmp_path / "adv4_many.py").write_text(helpers.replace("x + 5", last))
            _forget(tmp_path)
            import adv4_many_flow  # type: ignore[import-not-found]

            captured = capture_code(adv4_many_flow.flow)
            assert captured.manifest["truncated"] is True
            fingerprints.append(captured.fingerprints["target"])
    finally:
        sys.path.remove(str(tmp_path))
        _forget(tmp_path)
    assert fingerprints[0] != fingerprints[1]
