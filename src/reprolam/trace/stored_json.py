"""Reading a stored ``json`` artifact as a dict (environment snapshots, metrics), without
numpy and without the history modules: the engine, ``runs`` and ``show`` all need it."""

from __future__ import annotations

from typing import Any

from reprolam.codecs._json_text import loads_json
from reprolam.trace.contract import TraceStore


def load_json(store: TraceStore, key: str | None) -> dict[str, Any]:
    """A stored JSON dict (environment snapshot, metrics), or {} when absent or not a dict."""
    if not key:
        return {}
    record, data = store.get_artifact(key)
    if record.codec != "json":
        return {}
    value = loads_json(data)
    return value if isinstance(value, dict) else {}
