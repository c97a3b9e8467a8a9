"""Run rlam 0.1.0's own tests, unmodified, against ``reprolam.compat.rlam``.

Only the import is redirected: while this directory's test modules are imported,
``rlam`` and each of its submodules in ``sys.modules`` is the compatibility layer's module of
the same name. The real ``rlam`` (installed with the ``bench`` extra) is put back once
collection is over, so nothing else in the session is affected.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType

import pytest

SUBMODULES = ("action", "executor", "trace", "replay", "fork", "utils")
NAMES = ("rlam", *(f"rlam.{name}" for name in SUBMODULES))

_displaced: dict[str, ModuleType | None] = {}


def _redirect() -> None:
    for name in NAMES:
        _displaced[name] = sys.modules.get(name)
        sys.modules[name] = importlib.import_module(f"reprolam.compat.{name}")


def pytest_collection_finish(session: pytest.Session) -> None:
    for item in session.items:  # the redirect took: every rlam name the tests hold is ours
        module = getattr(item, "module", None)
        if module is None or not module.__name__.startswith("rlam_suite."):
            continue
        for attr, value in vars(module).items():
            origin = getattr(value, "__module__", "") or ""
            if origin == "rlam" or origin.startswith("rlam."):
                raise pytest.UsageError(f"{module.__name__}.{attr} is the real {origin}")
    _restore()


def _restore() -> None:
    for name, module in _displaced.items():
        if module is None:
            sys.modules.pop(name, None)
        else:
            sys.modules[name] = module
    _displaced.clear()


@pytest.fixture(autouse=True)
def _in_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    """rlam's traces live in memory: make sure no store from the environment is used."""
    monkeypatch.delenv("REPROLAM_STORE", raising=False)


_redirect()
