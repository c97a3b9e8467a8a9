"""Code capture follows what an action calls through partials, bound methods and instances.

``mul = partial(helpers.scale, factor=3)``, ``apply = SCALER.apply`` and ``SCALER = Scaler()``
at module level are common in analysis code; editing the helper behind them must change the
action's fingerprint and be explained by reproduce (it was only "module helpers: source
changed", with the step's fingerprint unchanged).
"""

from __future__ import annotations

import json
import linecache
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from reprolam.cli.main import cli

HELPERS = """
def scale(x, factor=2):
    return x * factor


class Scaler:
    factor = 2

    def apply(self, x):
        return x * self.factor
"""

FLOW = """
from functools import partial

from reprolam import action, workflow

import qa2_helpers as H

MUL = partial(H.scale, factor=3)
SCALER = H.Scaler()
APPLY = H.Scaler().apply


@action(outputs=["a"])
def through_partial(*, x: float = 2.0) -> float:
    return MUL(x)


@action(outputs=["b"])
def through_instance(a: float) -> float:
    return SCALER.apply(a)


@action(outputs=["c"])
def through_bound_method(b: float) -> float:
    return APPLY(b)


flow = workflow("wrappers", [through_partial, through_instance, through_bound_method],
                outputs=["c"])
"""


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    (tmp_path / "qa2_helpers.py").write_text(HELPERS)
    (tmp_path / "flows.py").write_text(FLOW)
    sys.path.insert(0, str(tmp_path))
    yield tmp_path
    sys.path.remove(str(tmp_path))
    for name in ("qa2_helpers",):
        sys.modules.pop(name, None)


def _edit(path: Path, old: str, new: str) -> None:
    path.write_text(path.read_text().replace(old, new))
    linecache.checkcache(str(path))
    sys.modules.pop(path.stem, None)  # the next load reads the edited file


def _reproduce(project: Path, run_id: str) -> dict[str, object]:
    result = CliRunner().invoke(
        cli, ["--store", str(project / "store"), "reproduce", run_id, "--json"]
    )
    assert result.exit_code == 1, result.output  # diverged
    loaded: dict[str, object] = json.loads(result.stdout)
    return loaded


def _run(project: Path) -> str:
    result = CliRunner().invoke(
        cli,
        ["--store", str(project / "store"), "run", f"{project}/flows.py:flow", "--json"],
    )
    assert result.exit_code == 0, result.output
    return str(json.loads(result.stdout)["run"]["id"])


@pytest.mark.parametrize(
    ("old", "new", "step", "unit"),
    [
        ("return x * factor", "return x * factor + 1", 0, "qa2_helpers:scale"),
        ("    factor = 2\n", "    factor = 5\n", 1, "qa2_helpers:Scaler"),
    ],
)
def test_an_edited_helper_behind_a_wrapper_is_named_at_the_step_it_changes(
    project: Path, old: str, new: str, step: int, unit: str
) -> None:
    run_id = _run(project)
    _edit(project / "qa2_helpers.py", old, new)
    report = _reproduce(project, run_id)
    divergence = report["divergence"]
    assert isinstance(divergence, dict)
    assert divergence["step"] == step
    assert "code fingerprint of" in str(divergence["message"])
    code = report["code"]
    assert isinstance(code, list)
    helpers = {c["name"]: c for c in code if c["kind"] == "helper"}
    assert helpers[unit]["summary"] == "changed"
    assert new.strip() in helpers[unit]["diff"]
    if unit.endswith("Scaler"):  # reached through the instance and through the bound method
        assert set(helpers[unit]["used_by"]) >= {"through_instance", "through_bound_method"}


def test_a_partials_frozen_arguments_are_a_recorded_constant(project: Path) -> None:
    run_id = _run(project)
    _edit(project / "flows.py", "factor=3", "factor=4")
    report = _reproduce(project, run_id)
    divergence = report["divergence"]
    assert isinstance(divergence, dict)
    assert divergence["step"] == 0
    assert "code fingerprint of through_partial changed" in str(divergence["message"])
    assert "MUL" in json.dumps(report["code"])


DECORATORS = """
import functools


def tenfold(fn):
    @functools.wraps(fn)
    def wrapper(x):
        return fn(x) * 10
    return wrapper


@tenfold
def shift(x):
    return x + 1
"""

DECORATED_FLOW = """
from reprolam import action, workflow

import qa5_decorators as D


@action(outputs=["a"])
def through_decorated(*, x: float = 2.0) -> float:
    return D.shift(x)


@action(outputs=["b"])
@D.tenfold
def decorated_action(a: float) -> float:
    return a


flow = workflow("decorated", [through_decorated, decorated_action], outputs=["b"])
"""


def test_an_edited_decorator_wrapper_changes_the_fingerprint_and_is_named(
    tmp_path: Path,
) -> None:
    """A ``functools.wraps`` wrapper's body runs too: the walk unwrapped decorated
    functions to the function inspect shows, so editing the wrapper (``* 10`` -> ``* 11``)
    left the fingerprint as recorded, reproduce said only 'module ... source changed' and
    --reuse took the old wrapper's output."""
    (tmp_path / "qa5_decorators.py").write_text(DECORATORS)
    (tmp_path / "flows.py").write_text(DECORATED_FLOW)
    sys.path.insert(0, str(tmp_path))
    try:
        run_id = _run(tmp_path)
        _edit(tmp_path / "qa5_decorators.py", "fn(x) * 10", "fn(x) * 11")
        report = _reproduce(tmp_path, run_id)
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("qa5_decorators", None)
    divergence = report["divergence"]
    assert isinstance(divergence, dict)
    assert divergence["step"] == 0
    assert "code fingerprint of through_decorated changed" in str(divergence["message"])
    code = report["code"]
    assert isinstance(code, list)
    helpers = {c["name"]: c for c in code if c["kind"] == "helper"}
    used_by = set()
    for key in ("wrapper", "wrapper@2"):  # one around the helper, one around the action
        wrapper = helpers[f"qa5_decorators:tenfold.<locals>.{key}"]
        assert wrapper["summary"] == "changed"
        assert "+        return fn(x) * 11" in wrapper["diff"]
        used_by |= set(wrapper["used_by"])
    assert used_by == {"through_decorated", "decorated_action"}
