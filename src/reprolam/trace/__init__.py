"""Trace stores: runs, steps and content-addressed artifacts, durably.

``open_store`` picks the backend from a location; every backend implements the small
``TraceStore`` contract and passes the same conformance suite (``reprolam.testing``).
Backends are imported only when used: the memory store never loads SQLite.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "SCHEMA_VERSION": "reprolam.trace.contract",
    "Producer": "reprolam.trace.contract",
    "TraceStore": "reprolam.trace.contract",
    "MemoryStore": "reprolam.trace.memory",
    "open_store": "reprolam.trace.open",
    "ArtifactRecord": "reprolam.trace.records",
    "ErrorInfo": "reprolam.trace.records",
    "RunRecord": "reprolam.trace.records",
    "RunStatus": "reprolam.trace.records",
    "StepKind": "reprolam.trace.records",
    "StepRecord": "reprolam.trace.records",
    "StepStatus": "reprolam.trace.records",
    "step_hash": "reprolam.trace.records",
    "Verdict": "reprolam.trace.records",
    "run_header_hash": "reprolam.trace.records",
    "run_seal_hash": "reprolam.trace.records",
    "SQLiteStore": "reprolam.trace.sqlite",
    "StateSnapshot": "reprolam.trace.snapshot",
    "StepHistory": "reprolam.trace.step_history",
}
__all__ = [
    "SCHEMA_VERSION",
    "ArtifactRecord",
    "ErrorInfo",
    "MemoryStore",
    "Producer",
    "RunRecord",
    "RunStatus",
    "SQLiteStore",
    "StateSnapshot",
    "StepHistory",
    "StepKind",
    "StepRecord",
    "StepStatus",
    "TraceStore",
    "Verdict",
    "open_store",
    "run_header_hash",
    "run_seal_hash",
    "step_hash",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'reprolam.trace' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


if TYPE_CHECKING:
    from reprolam.trace.contract import SCHEMA_VERSION, Producer, TraceStore
    from reprolam.trace.memory import MemoryStore
    from reprolam.trace.open import open_store
    from reprolam.trace.records import (
        ArtifactRecord,
        ErrorInfo,
        RunRecord,
        RunStatus,
        StepKind,
        StepRecord,
        StepStatus,
        Verdict,
        run_header_hash,
        run_seal_hash,
        step_hash,
    )
    from reprolam.trace.snapshot import StateSnapshot
    from reprolam.trace.sqlite import SQLiteStore
    from reprolam.trace.step_history import StepHistory
