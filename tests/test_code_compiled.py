"""An action calling compiled code of the user's: a function of an extension module (Cython,
pybind11, f2py) has no source and no bytecode, so its fingerprint is its module file's bytes;
a shared library loaded with ``ctypes`` is described by its file's digest. Before, both
looked the same after a rebuild, and ``--reuse`` took the old kernel's result."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler")

KERNEL = """
#include <Python.h>
static PyObject *value(PyObject *self, PyObject *args) { return PyLong_FromLong(VALUE); }
static PyMethodDef methods[] = {{"value", value, METH_NOARGS, NULL}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "kernel", NULL, -1, methods};
PyMODINIT_FUNC PyInit_kernel(void) { return PyModule_Create(&module); }
"""

FLOW = """
import kernel
from reprolam import action, workflow

@action(outputs=["n"])
def compute() -> int:
    return kernel.value()

flow = workflow("compiled", [compute], outputs=["n"])
"""


def _build(folder: Path, value: int) -> None:
    (folder / "kernel.c").write_text(KERNEL)
    target = folder / f"kernel{sysconfig.get_config_var('EXT_SUFFIX')}"
    include = sysconfig.get_paths()["include"]
    command = ["cc", "-shared", "-fPIC", f"-DVALUE={value}", f"-I{include}", "kernel.c"]
    subprocess.run([*command, "-o", str(target)], cwd=folder, check=True, timeout=120)


def _reprolam(folder: Path, *args: str) -> dict[str, Any]:
    command = [sys.executable, "-m", "reprolam", "--store", str(folder / "store"), *args]
    done = subprocess.run(
        [*command, "--json"], cwd=folder, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def _step(folder: Path, *args: str) -> dict[str, Any]:
    """The one step of a run of ``flows.py:flow``, as ``show --json`` gives it."""
    run = _reprolam(folder, "run", "flows.py:flow", "--planner", "rules", *args)["run"]
    (step,) = _reprolam(folder, "show", run["id"])["steps"]
    return dict(step)


def test_a_rebuilt_kernel_is_a_code_change_that_reuse_sees(tmp_path: Path) -> None:
    (tmp_path / "flows.py").write_text(FLOW)
    _build(tmp_path, 1)
    first = _step(tmp_path)
    same = _step(tmp_path, "--reuse")
    assert same["proposal"]["cache"]["reused"] is True  # the same kernel: reused
    _build(tmp_path, 2)
    rebuilt = _step(tmp_path, "--reuse")
    assert rebuilt["fingerprint"] != first["fingerprint"]
    assert "cache" not in rebuilt["proposal"]  # no step in the store has its cache key now
    assert rebuilt["outputs"]["n"] != first["outputs"]["n"]  # the new kernel's result


LIBRARY = "int compute(void) { return VALUE; }\n"

CTYPES_FLOW = """
import ctypes
from pathlib import Path
from reprolam import action, workflow

LIB = ctypes.CDLL(str(Path(__file__).parent / "libkernel.so"))

@action(outputs=["n"])
def compute() -> int:
    return LIB.compute()

flow = workflow("shared_library", [compute], outputs=["n"])
"""


def test_a_rebuilt_shared_library_loaded_with_ctypes_is_a_code_change(tmp_path: Path) -> None:
    (tmp_path / "flows.py").write_text(CTYPES_FLOW)

    def build(value: int) -> None:
        (tmp_path / "kernel.c").write_text(LIBRARY)
        command = ["cc", "-shared", "-fPIC", f"-DVALUE={value}", "kernel.c", "-o", "libkernel.so"]
        subprocess.run(command, cwd=tmp_path, check=True, timeout=120)

    build(1)
    first = _step(tmp_path)
    assert _step(tmp_path, "--reuse")["proposal"]["cache"]["reused"] is True
    build(2)
    rebuilt = _step(tmp_path, "--reuse")
    assert rebuilt["fingerprint"] != first["fingerprint"]
    assert "cache" not in rebuilt["proposal"]
    assert rebuilt["outputs"]["n"] != first["outputs"]["n"]
