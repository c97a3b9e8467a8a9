"""--reuse checks the user code an input names by module and name, not by its bytes.

A pickle holds a class (``helpers.Box``), and a model ``FunctionTransformer(myfunc)``'s
function, by name: the artifact's digest stays the same when that code changes, so a step
that consumed it (and ran that code) was reused although the code it would run changed.
"""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

from reprolam.engine.named_code import named_in

FLOW = """
import numpy as np
from sklearn.preprocessing import FunctionTransformer
from reprolam import action, workflow
import helpers

@action(outputs=["tr"])
def make() -> object:
    return FunctionTransformer(helpers.myfunc)

@action(outputs=["box"])
def box() -> object:
    return helpers.Box(3)

@action(outputs=["y"])
def use(tr: object, box: object) -> float:
    return float(tr.transform(np.array([[1.0]]))[0, 0]) + box.value()

flow = workflow("named", [make, box, use], outputs=["y"])
"""

HELPERS = """
FACTOR = {factor}

def myfunc(x):
    return x * {times}

class Box:
    def __init__(self, v):
        self.v = v

    def value(self):
        return self.v * FACTOR
"""


def _cli(tmp_path: Path, *args: str, code: int = 0) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "reprolam", "--store", "s", "--trust-pickle", *args, "--json"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
        check=False,
    )
    assert done.returncode == code, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _run(tmp_path: Path) -> dict[str, Any]:
    """The step of ``use`` in a new run with --reuse."""
    run = _cli(tmp_path, "run", "flows.py:flow", "--planner", "script", "--reuse")
    step: dict[str, Any] = _cli(tmp_path, "show", run["run"]["id"])["steps"][-1]
    assert step["action"] == "use"
    return step


def test_a_step_is_not_reused_when_code_its_inputs_name_changed(tmp_path: Path) -> None:
    (tmp_path / "flows.py").write_text(FLOW)
    (tmp_path / "helpers.py").write_text(HELPERS.format(factor=2, times=2))
    assert _run(tmp_path)["proposal"].get("cache") is None  # the first computation
    assert _run(tmp_path)["proposal"]["cache"]["reused"]  # nothing changed

    (tmp_path / "helpers.py").write_text(HELPERS.format(factor=2, times=3))
    changed = _run(tmp_path)
    note = changed["proposal"]["cache"]  # executed: myfunc now triples
    assert not note["reused"]
    assert any("code helpers:myfunc (named by input 'tr')" in c for c in note["changed"])
    assert _run(tmp_path)["proposal"]["cache"]["reused"]  # the new computation serves

    (tmp_path / "helpers.py").write_text(HELPERS.format(factor=5, times=3))
    again = _run(tmp_path)
    note = again["proposal"]["cache"]  # a constant the pickled class's method reads
    assert not note["reused"]
    assert any("code helpers:FACTOR (named by input 'box')" in c for c in note["changed"])


class _Named:
    pass


def test_the_code_a_pickle_names_is_read_without_loading_it() -> None:
    value = {"a": _Named(), "b": [_Named(), _Named], "f": named_in}
    for protocol in (2, 5):
        found = named_in("pickle", pickle.dumps(value, protocol=protocol))
        assert f"{__name__}:_Named" in found
        assert "reprolam.engine.named_code:named_in" in found
    assert named_in("pickle", b"not a pickle") == []
    assert named_in("json", b"{}") == []


SCRIPT = """
import sys
import reprolam
from reprolam import action, workflow

class Box:
    def __init__(self, v):
        self.v = v

@action(outputs=["box"])
def make() -> object:
    return Box(3)

flow = workflow("script_box", [make], outputs=["box"])

if __name__ == "__main__":
    with reprolam.open(sys.argv[1], trusted=True) as rl:
        print(rl.run(flow, planner="script").id)
"""


def test_a_reproduction_of_a_script_that_pickled_its_class_names_the_cause(
    tmp_path: Path,
) -> None:
    """`python analysis.py` pickles its Box as __main__.Box; the reproduction loads the file
    by path and pickles reprolam_user_workflow_analysis.Box: it diverged with no cause named
    (only 'workflow.source' among the environment differences)."""
    (tmp_path / "analysis.py").write_text(SCRIPT)
    recorded = subprocess.run(
        [sys.executable, "analysis.py", "s"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
        check=True,
    )
    run_id = recorded.stdout.strip()
    command = ["-m", "reprolam", "--store", "s", "--trust-pickle", "reproduce", run_id]
    done = subprocess.run(
        [sys.executable, *command, "--json"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
        check=False,
    )
    summary = json.loads(done.stdout)["summary"]
    assert "the pickle names the script's Box as __main__.Box when recorded" in summary
    assert "as reprolam_user_workflow_analysis.Box now" in summary
    assert "the same value, stored under the other module name" in summary
    assert "define Box in a module the script imports" in summary


LAZY_FLOW = """
from reprolam import action, workflow

@action(outputs=["box"])
def box() -> object:
    import helpers  # imported as it runs: no action reaches helpers.Box in the manifest
    return helpers.Box(3)

@action(outputs=["y"])
def use(box: object) -> int:
    return box.value()

flow = workflow("lazy", [box, use], outputs=["y"])
"""


def test_code_no_action_reaches_is_not_compared_and_the_step_is_reused(tmp_path: Path) -> None:
    """Named code the run that computed the outputs did not record is not known: the step
    is reused by its key as before (it executed every time, 'helpers:Box: not found here',
    in a process that had not imported helpers yet)."""
    (tmp_path / "flows.py").write_text(LAZY_FLOW)
    (tmp_path / "helpers.py").write_text(HELPERS.format(factor=2, times=2))
    _run(tmp_path)
    assert _run(tmp_path)["proposal"]["cache"]["reused"]


MODELS = """
import pydantic

def clean(v: int) -> int:
    return abs(v)

class Cfg(pydantic.BaseModel):
    k: int = 1

    def scaled(self) -> int:
        return self.k * {times}
"""

TYPED_FLOW = """
from typing import Annotated
import pydantic
from reprolam import action, workflow
from models import Cfg, clean

@action(outputs=["y"])
def make(*, cfg: Cfg, n: Annotated[int, pydantic.AfterValidator(clean)] = 1) -> int:
    return cfg.scaled() + n

flow = workflow("typed", [make], outputs=["y"])
"""


def _typed_step(tmp_path: Path) -> dict[str, Any]:
    run = _cli(tmp_path, "run", "flows.py:flow", "--reuse", "--set", 'make.cfg={"k":2}')
    step: dict[str, Any] = _cli(tmp_path, "show", run["run"]["id"])["steps"][0]
    return step


def test_the_classes_and_validators_params_are_declared_with_are_the_actions_code(
    tmp_path: Path,
) -> None:
    """`cfg: Cfg` hands the action a Cfg whose methods it calls, yet a change to Cfg.scaled
    (or to a validator in the param's Annotated) left the fingerprint as it was: --reuse took
    the outputs computed with the old method."""
    (tmp_path / "flows.py").write_text(TYPED_FLOW)
    (tmp_path / "models.py").write_text(MODELS.format(times=10))
    first = _typed_step(tmp_path)
    assert _typed_step(tmp_path)["proposal"]["cache"]["reused"]
    (tmp_path / "models.py").write_text(MODELS.format(times=100))
    method = _typed_step(tmp_path)
    assert "cache" not in method["proposal"]  # no step with its key: executed
    assert method["fingerprint"] != first["fingerprint"]
    (tmp_path / "models.py").write_text(MODELS.format(times=100).replace("abs(v)", "abs(v) + 0"))
    validator = _typed_step(tmp_path)
    assert "cache" not in validator["proposal"]
    assert len({first["fingerprint"], method["fingerprint"], validator["fingerprint"]}) == 3


MODEL_SCRIPT = """
import sys
import reprolam
from reprolam import action, workflow
from sklearn.preprocessing import FunctionTransformer

def myfunc(x):
    return x * 2

@action(outputs=["tr"])
def make() -> object:
    return FunctionTransformer(myfunc)

flow = workflow("script_model", [make], outputs=["tr"])

if __name__ == "__main__":
    with reprolam.open(sys.argv[1]) as rl:
        print(rl.run(flow, planner="script").id)
"""


def test_a_reproduction_of_a_script_whose_model_names_its_function_names_the_cause(
    tmp_path: Path,
) -> None:
    """FunctionTransformer(myfunc) of `python analysis.py` is stored naming __main__:myfunc,
    the reproduction's naming reprolam_user_workflow_analysis:myfunc: no cause was named."""
    (tmp_path / "analysis.py").write_text(MODEL_SCRIPT)
    recorded = subprocess.run(
        [sys.executable, "analysis.py", "s"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
        check=True,
    )
    summary = _cli(tmp_path, "reproduce", recorded.stdout.strip(), code=1)["summary"]
    assert "the model names the script's myfunc as __main__.myfunc when recorded" in summary
    assert "the same value, stored under the other module name" in summary
