"""The executor registry: name -> class, so a run's recorded executor can be built again.

Built-in executors are listed by import path (imported only when used); third-party ones
register with ``register_executor`` or the ``reprolam.executors`` entry point group. A run
records ``executor.config()``; ``executor_from_config`` builds a fresh executor from it.
A class may define ``from_config(config)``; otherwise it is built as ``cls(**settings)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reprolam._registry import Registry
from reprolam.engine.executors import Executor

BUILTIN_EXECUTORS = {
    "local": "reprolam.engine.executors:LocalExecutor",
    "process": "reprolam.engine.process:ProcessExecutor",
    "dask": "reprolam.engine.dask_executor:DaskExecutor",
}
EXECUTORS = Registry("executor", BUILTIN_EXECUTORS)
register_executor = EXECUTORS.register
executor_names = EXECUTORS.names
executor_class = EXECUTORS.get


def executor_from_config(config: str | Mapping[str, Any]) -> Executor:
    """A fresh executor from a name or a recorded ``config()``."""
    if isinstance(config, str):
        config = {"name": config}
    built: Executor = EXECUTORS.build({**config, "name": config.get("name") or "local"})
    return built
