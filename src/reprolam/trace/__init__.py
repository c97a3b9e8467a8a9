"""Trace stores: runs, steps and content-addressed artifacts, durably.

``open_store`` picks the backend from a location; every backend implements the small
``TraceStore`` contract and passes the same conformance suite.
"""

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
    step_hash,
)
from reprolam.trace.sqlite import SQLiteStore

__all__ = [
    "SCHEMA_VERSION",
    "ArtifactRecord",
    "ErrorInfo",
    "MemoryStore",
    "Producer",
    "RunRecord",
    "RunStatus",
    "SQLiteStore",
    "StepKind",
    "StepRecord",
    "StepStatus",
    "TraceStore",
    "open_store",
    "step_hash",
]
