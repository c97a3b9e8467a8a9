"""``describe``: a one-line summary of a value, for showing artifacts to an LLM planner.

It must be cheap (it runs for every artifact in a prompt) and must never raise (a
failing summary must not fail a run), so it looks at shapes, dtypes and a few items,
never at whole values, and falls back to the type name.
"""

from __future__ import annotations

import contextlib
import math
import os
import stat
import sys
from pathlib import PurePath
from typing import Any

import numpy as np

MAX_CHARS = 160
_MAX_ITEMS = 8
_MAX_STR = 60
_MAX_NESTED_REPR = 40
_MAX_BYTES = 24
_MAX_WALK = 1000  # directory entries counted for a path's summary


def describe(value: Any) -> str:
    """One line, at most ~160 characters: ``ndarray float64 (569, 30)``, ``dict{acc=0.9561}``."""
    try:
        text = _describe(value, 0)
    except Exception:  # a hostile __repr__ or __len__ must not break a prompt
        text = _type_name(value)
    text = " ".join(text.split())
    return text if len(text) <= MAX_CHARS else text[: MAX_CHARS - 3] + "..."


def _type_name(value: Any) -> str:
    return type(value).__qualname__


def _float(value: float) -> str:
    if not math.isfinite(value):
        return repr(value)
    if value == 0 or 1e-3 <= abs(value) < 1e12:
        return f"{value:.4f}"
    return f"{value:.4g}"


def _describe(value: Any, depth: int) -> str:
    kind = type(value)
    if value is None or kind is bool or kind is int:
        return repr(value)
    if kind is float:
        return _float(value)
    if kind is str:
        return repr(value if len(value) <= _MAX_STR else value[:_MAX_STR] + "...")
    if isinstance(value, np.generic):
        item = value.item()
        return _describe(item, depth) if type(item) is not type(value) else repr(value)
    if kind is np.ndarray:
        return f"ndarray {value.dtype} {value.shape}"
    if kind is dict:
        if depth > 1:
            return f"dict[{len(value)}]"
        parts = [f"{k}={_describe(v, depth + 1)}" for k, v in list(value.items())[:_MAX_ITEMS]]
        more = ", ..." if len(value) > _MAX_ITEMS else ""
        return "dict{" + ", ".join(parts) + more + "}"
    if kind is list or kind is tuple:
        if depth > 1 or not value:
            return f"{kind.__name__}[{len(value)}]"
        parts = [_describe(v, depth + 1) for v in value[:_MAX_ITEMS]]
        more = ", ..." if len(value) > _MAX_ITEMS else ""
        return f"{kind.__name__}[{len(value)}] [" + ", ".join(parts) + more + "]"
    if kind is set or kind is frozenset:
        return f"{kind.__name__}[{len(value)}]"
    if kind is complex:
        return repr(value)
    if kind is bytes:
        if value.startswith(b"\x89PNG\r\n\x1a\n"):
            return f"PNG image ({len(value)} bytes)"
        head = repr(value[:_MAX_BYTES]) + ("..." if len(value) > _MAX_BYTES else "")
        return f"bytes[{len(value)}] {head}"
    if isinstance(value, PurePath):
        return _describe_path(value)
    summary = _describe_library(value, depth)
    if summary is not None:
        return summary
    return f"{_type_name(value)} {repr(value)[:MAX_CHARS]}"


def _describe_path(path: PurePath) -> str:
    """A file or directory an action wrote (or an input it reads): its name, never the
    scratch directory it was written in -- which differs every run -- and its size, read
    from the file system (the store's read-only copy has the same bytes); a directory's
    files are counted up to ``_MAX_WALK`` entries. A path that is gone is named only."""
    name = f"path {path.name!r}"
    try:
        st = os.stat(path)
        if stat.S_ISREG(st.st_mode):
            return f"{name} ({st.st_size} bytes)"
        if not stat.S_ISDIR(st.st_mode):
            return name
        files = size = seen = 0
        for root, _, names in os.walk(path):
            for entry in names:
                seen += 1
                if seen > _MAX_WALK:
                    return f"{name} (directory, over {_MAX_WALK} files)"
                with contextlib.suppress(OSError):
                    size += os.stat(os.path.join(root, entry)).st_size
                files += 1
        return f"{name} (directory, {files} file{'s' * (files != 1)}, {size} bytes)"
    except OSError:
        return name


def _describe_library(value: Any, depth: int) -> str | None:
    # Only look at pandas / scikit-learn if the value's own library is already loaded:
    # describe must not pay for importing them. Inside a container (depth > 0) the
    # summaries are shorter, so that one frame or pipeline cannot hide its siblings.
    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(value, pd.DataFrame):
        shape = f"DataFrame {value.shape[0]}x{value.shape[1]}"
        if depth > 0:
            return shape
        names = ", ".join(str(c) for c in value.columns[:_MAX_ITEMS])
        more = ", ..." if value.shape[1] > _MAX_ITEMS else ""
        return f"{shape} [{names}{more}]"
    if pd is not None and isinstance(value, pd.Series):
        return f"Series {value.name!r} {value.dtype} ({len(value)},)"
    sparse = sys.modules.get("scipy.sparse")
    if sparse is not None and sparse.issparse(value):  # its repr is a paragraph
        return f"{_type_name(value)} {value.dtype} {value.shape}, {value.nnz} stored"
    from reprolam.codecs._files import DirManifest, FileManifest

    if isinstance(value, FileManifest):
        return f"file {value.name} ({value.size} bytes)"
    if isinstance(value, DirManifest):
        files = sum(1 for entry in value.entries if entry.content is not None)
        return f"dir {value.name}/ ({files} files, {value.size} bytes)"
    module = type(value).__module__
    if module.startswith("sklearn.") and hasattr(value, "get_params"):
        text = repr(value)  # scikit-learn's own repr: class name + changed params
        if depth > 0 and len(text) > _MAX_NESTED_REPR:
            return f"{_type_name(value)}(...)"
        return text
    return None
