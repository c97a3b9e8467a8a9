"""A run's headline metrics: the output its workflow declares as ``metrics``.

The declaration is recorded in the run's environment snapshot (``workflow.metrics``), so
listings read it without loading the workflow. Runs recorded before workflows declared it
fall back to an output literally named ``metrics``.
"""

from __future__ import annotations

from typing import Any

from reprolam.errors import ReprolamError
from reprolam.trace.contract import TraceStore
from reprolam.trace.records import RunRecord

_LEGACY_OUTPUT = "metrics"
_UNDECLARED = object()


def metrics_output(store: TraceStore, run: RunRecord) -> str | None:
    """The name of the run's headline-metrics output, or None if its workflow declares none."""
    declared = _declared(store, run.environment)
    if declared is _UNDECLARED:
        return _LEGACY_OUTPUT if _LEGACY_OUTPUT in run.outputs else None
    return declared if isinstance(declared, str) else None


def final_metrics(store: TraceStore, run: RunRecord) -> dict[str, Any] | None:
    """The run's headline metrics, if that output is a JSON object of scalars.

    None also when the record is damaged (a listing shows the rest; audit reports it).
    """
    try:
        name = metrics_output(store, run)
        key = run.outputs.get(name) if name else None
        if key is None:
            return None
        record, data = store.get_artifact(key)
        if record.codec != "json":
            return None
        from reprolam.codecs._json_text import loads_json  # json needs no numpy

        value = loads_json(data)
    except (ReprolamError, ValueError):
        return None
    return value if isinstance(value, dict) else None


_by_environment: dict[str, object] = {}


def _declared(store: TraceStore, environment: str | None) -> object:
    """``workflow.metrics`` of an environment snapshot (cached: runs share snapshots)."""
    if not environment:
        return _UNDECLARED
    if environment not in _by_environment:
        from reprolam.trace.stored_json import load_json

        workflow = load_json(store, environment).get("workflow", {})
        found = workflow.get("metrics", _UNDECLARED)
        if len(_by_environment) > 1024:
            _by_environment.clear()
        _by_environment[environment] = found
    return _by_environment[environment]
