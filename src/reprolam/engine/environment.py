"""The environment a run executed in: captured once per run, stored as an artifact."""

from __future__ import annotations

import os
import platform
import re
import sys
from functools import cache
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
        "platform": _platform(),
        "machine": platform.machine(),
        "byteorder": sys.byteorder,
        "packages": installed_packages(),
        "env": {k: os.environ[k] for k in _DETERMINISM_VARS if k in os.environ},
        "workflow": {
            "name": workflow.name,
            "source": workflow.source,
            "metrics": workflow.metrics,
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
def _platform() -> str:
    """Like ``platform.platform()`` without its libc probe, which reads the interpreter binary."""
    uname = platform.uname()
    try:
        libc = os.confstr("CS_GNU_LIBC_VERSION") or ""
    except (AttributeError, ValueError, OSError):
        libc = ""
    return "-".join(part for part in (uname.system, uname.release, uname.machine, libc) if part)


@cache
def installed_packages() -> dict[str, str]:
    """Distribution name -> version for everything importable (read once per process).

    Read from the ``NAME-VERSION.dist-info`` / ``.egg-info`` directory names on ``sys.path``
    (first occurrence wins, as for imports): the same answer as parsing every METADATA file
    with ``importlib.metadata``, for a directory listing instead of ~45 ms of file reads.
    """
    found: dict[str, str] = {}
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for name in names:
            stem, dot, suffix = name.rpartition(".")
            if not dot or suffix not in ("dist-info", "egg-info"):
                continue
            project, dash, version = stem.partition("-")
            key = _normalize(project)
            if dash and version and key not in found:
                found[key] = version.split("-")[0]
    return dict(sorted(found.items()))


def _normalize(project: str) -> str:
    """PEP 503 name normalization (``scikit_learn`` -> ``scikit-learn``)."""
    return re.sub(r"[-_.]+", "-", project).lower()
