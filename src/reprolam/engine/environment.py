"""The environment a run executed in: captured once per run, stored as an artifact."""

from __future__ import annotations

import os
import platform
import sys
from functools import cache
from importlib.metadata import distributions
from typing import Any

from reprolam.workflows.registry import Workflow

# Variables that change numerical results or hashing without touching code.
_DETERMINISM_VARS = (
    "PYTHONHASHSEED",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "CUBLAS_WORKSPACE_CONFIG",
)


def capture_environment(workflow: Workflow) -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "byteorder": sys.byteorder,
        "packages": installed_packages(),
        "env": {k: os.environ[k] for k in _DETERMINISM_VARS if k in os.environ},
        "workflow": {
            "name": workflow.name,
            "source": workflow.source,
            "actions": {
                spec.name: {
                    "version": spec.version,
                    "fingerprint": spec.fingerprint,
                    "determinism": spec.determinism,
                }
                for spec in workflow.actions
            },
        },
    }


@cache
def installed_packages() -> dict[str, str]:
    """Distribution name -> version for everything importable (read once per process)."""
    found: dict[str, str] = {}
    for dist in distributions():
        name = dist.metadata["Name"]
        if name:
            found[name.lower()] = dist.version
    return dict(sorted(found.items()))
