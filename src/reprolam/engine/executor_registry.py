"""The executor registry: name -> class, so a run's recorded executor can be built again.

Built-in executors are listed by import path (imported only when used); third-party ones
register with ``register_executor`` or the ``reprolam.executors`` entry point group. A run
records ``executor.config()``; ``executor_from_config`` builds a fresh executor from it.
A class may define ``from_config(config)``; otherwise it is built as ``cls(**settings)``.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import Any, TypeVar

from reprolam.engine.executors import Executor
from reprolam.errors import ConfigError

ENTRY_POINT_GROUP = "reprolam.executors"
BUILTIN_EXECUTORS = {
    "local": "reprolam.engine.executors:LocalExecutor",
    "process": "reprolam.engine.process:ProcessExecutor",
    "dask": "reprolam.engine.dask_executor:DaskExecutor",
}
_registered: dict[str, type[Any]] = {}

C = TypeVar("C", bound=type[Any])


def register_executor(name: str, cls: C | None = None) -> Any:
    """Register an executor class under ``name`` (also usable as a class decorator)."""

    def add(executor_cls: C) -> C:
        _registered[name] = executor_cls
        return executor_cls

    return add if cls is None else add(cls)


def executor_names() -> list[str]:
    eps = entry_points(group=ENTRY_POINT_GROUP)
    return sorted({*BUILTIN_EXECUTORS, *_registered, *(ep.name for ep in eps)})


def executor_class(name: str) -> type[Any]:
    if name in _registered:
        return _registered[name]
    target = BUILTIN_EXECUTORS.get(name)
    if target is None:
        eps = entry_points(group=ENTRY_POINT_GROUP)
        target = next((ep.value for ep in eps if ep.name == name), None)
    if target is None:
        raise ConfigError(
            f"unknown executor {name!r}",
            option="executor",
            value=name,
            hint=f"choose one of {', '.join(executor_names())}, or register it with "
            "reprolam.register_executor (or the reprolam.executors entry point)",
        )
    module, _, attr = target.partition(":")
    cls = getattr(importlib.import_module(module), attr)
    _registered.setdefault(name, cls)
    return cls  # type: ignore[no-any-return]


def executor_from_config(config: str | Mapping[str, Any]) -> Executor:
    """A fresh executor from a name or a recorded ``config()``."""
    if isinstance(config, str):
        config = {"name": config}
    name = str(config.get("name") or "local")
    cls = executor_class(name)
    build = getattr(cls, "from_config", None)
    if build is not None:
        return build(config)  # type: ignore[no-any-return]
    settings = {k: v for k, v in config.items() if k != "name"}
    try:
        return cls(**settings)  # type: ignore[no-any-return]
    except TypeError as exc:
        raise ConfigError(
            f"cannot build executor {name!r} from {dict(config)!r}: {exc}",
            hint="give the class a from_config(config) classmethod",
        ) from None
