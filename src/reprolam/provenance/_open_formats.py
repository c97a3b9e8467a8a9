"""Artifacts in formats anyone can open: CSV, ``.npy``, ``.npz``, JSON and text.

A crate carries each artifact's canonical bytes (reprolam's codecs: what the digest covers
and what ``reprolam import`` verifies) and, next to them, the same value in an open format,
so that someone without reprolam can read the input table or the trained model with
pandas and NumPy alone:

==================  ==============================================================
value               files
==================  ==============================================================
DataFrame / Series  ``.csv`` (index as the first column)
ndarray             ``.npy`` (``numpy.load(..., allow_pickle=False)`` reads it)
str                 ``.txt``
JSON data           ``.json``
scikit-learn model  ``.npz`` of its fitted arrays + ``.json``: class, scikit-learn
                    version, ``get_params()``, and what each fitted attribute is
dict / list / tuple one file per member, named ``<name>.<key>.<ext>``
==================  ==============================================================

Values are decoded without trust (pickle artifacts are never loaded): what cannot be
decoded that way, or has no open form (object arrays, callables), gets no open file,
and the crate says so.
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass
from typing import Any

MAX_DEPTH = 4  # members of members of ...: deeper values stay in the canonical bytes only


@dataclass(frozen=True, slots=True)
class OpenFile:
    suffix: str  # appended to the artifact's base name: ".csv", ".X.csv", ".npz", ...
    data: bytes
    media_type: str
    description: str


def open_files(codec: str, data: bytes) -> list[OpenFile]:
    """The open-format files of one artifact's canonical bytes (empty if it has none)."""
    if codec == "json":
        return []  # the canonical bytes are JSON already
    if codec == "npy":
        return []  # and these are a .npy file already
    if codec == "pickle":
        return []  # loading a pickle runs code: never while exporting
    from reprolam.codecs import default_serializer

    try:
        value = default_serializer().loads_typed(codec, data)
    except Exception:
        return []
    return _files(value, "", 0)


def _files(value: Any, suffix: str, depth: int) -> list[OpenFile]:
    import numpy as np
    import pandas as pd

    if isinstance(value, pd.DataFrame | pd.Series):
        frame = value.to_frame() if isinstance(value, pd.Series) else value
        text = frame.to_csv(lineterminator="\n")
        what = f"{type(value).__name__} {frame.shape[0]}x{frame.shape[1]} as CSV"
        return [OpenFile(f"{suffix}.csv", text.encode(), "text/csv", what)]
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            return []
        buf = io.BytesIO()
        np.save(buf, value, allow_pickle=False)
        what = f"array {value.dtype} {list(value.shape)} as NumPy .npy"
        return [OpenFile(f"{suffix}.npy", buf.getvalue(), "application/x-npy", what)]
    if isinstance(value, str):
        return [OpenFile(f"{suffix}.txt", value.encode(), "text/plain", "text")]
    if _is_estimator(value):
        return _model_files(value, suffix)
    if _is_json(value, 0):
        text = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        return [OpenFile(f"{suffix}.json", text.encode(), "application/json", "JSON")]
    if depth >= MAX_DEPTH:
        return []
    if isinstance(value, dict):
        members = [(str(k), v) for k, v in value.items()]
    elif isinstance(value, list | tuple):
        members = [(str(i), v) for i, v in enumerate(value)]
    else:
        return []
    found: list[OpenFile] = []
    names = _unique([_safe(key) for key, _ in members])
    for name, (_, member) in zip(names, members, strict=True):
        found += _files(member, f"{suffix}.{name}", depth + 1)
    return found


def _unique(names: list[str]) -> list[str]:
    """``names`` with repeats numbered (``a_b``, ``a_b-2``): keys that differ can share a safe
    name (``a/b`` and ``a_b``, or a long common start), and one file must not hide another."""
    taken = set(names)
    out: list[str] = []
    seen: set[str] = set()
    for name in names:
        unique, n = name, 1
        while unique in seen or (n > 1 and unique in taken):  # nor a later key's own name
            n += 1
            unique = f"{name}-{n}"
        seen.add(unique)
        out.append(unique)
    return out


def _model_files(model: Any, suffix: str) -> list[OpenFile]:
    """A fitted scikit-learn estimator as ``.npz`` (its fitted arrays) + ``.json`` (the rest)."""
    import numpy as np
    import sklearn

    arrays: dict[str, Any] = {}
    fitted: dict[str, Any] = {}
    for name, attr in sorted(vars(model).items()):
        if not name.endswith("_") or name.startswith("_"):
            continue  # fitted attributes end in "_" by scikit-learn's convention
        if isinstance(attr, np.ndarray) and not attr.dtype.hasobject:
            arrays[name] = attr
            fitted[name] = {"array": f"{name} in the .npz", "dtype": str(attr.dtype)}
            fitted[name]["shape"] = list(attr.shape)
        elif isinstance(attr, np.ndarray) and all(isinstance(v, str) for v in attr.flat):
            fitted[name] = attr.tolist()  # e.g. feature_names_in_: strings, as JSON
        elif isinstance(attr, np.generic):
            fitted[name] = attr.item()
        elif _is_json(attr, 0):
            fitted[name] = attr
        else:
            fitted[name] = {"type": f"{type(attr).__module__}.{type(attr).__qualname__}"}
    buf = io.BytesIO()
    np.savez(buf, allow_pickle=False, **arrays)
    cls = type(model)
    description = {
        "class": f"{cls.__module__}.{cls.__qualname__}",
        "sklearn_version": sklearn.__version__,
        "params": _jsonable(model.get_params(deep=False)),
        "fitted": fitted,
        "how_to_use": "numpy.load(<name>.npz) gives the fitted arrays; rebuild the model "
        "with class(**params) and set each fitted attribute",
    }
    text = json.dumps(description, indent=2, sort_keys=True, default=str) + "\n"
    name = cls.__name__
    return [
        OpenFile(f"{suffix}.npz", buf.getvalue(), "application/x-npz", f"{name} fitted arrays"),
        OpenFile(
            f"{suffix}.json", text.encode(), "application/json", f"{name} class, params, fitted"
        ),
    ]


def _is_estimator(value: Any) -> bool:
    module = type(value).__module__ or ""
    return module.split(".")[0] == "sklearn" and hasattr(value, "get_params")


def _is_json(value: Any, depth: int) -> bool:
    if depth > 50:
        return False
    if value is None or type(value) in (str, bool, int):
        return True
    if type(value) is float:
        return math.isfinite(value)
    if type(value) in (list, tuple):
        return all(_is_json(v, depth + 1) for v in value)
    if type(value) is dict:
        return all(type(k) is str and _is_json(v, depth + 1) for k, v in value.items())
    return False


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _safe(key: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in key)[:64] or "_"
