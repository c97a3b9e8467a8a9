"""The ``model`` codec: fitted scikit-learn estimators, canonical and safe, without pickle.

Pickle and skops output are not byte-stable across processes, and unpickling runs
arbitrary code. Instead an estimator becomes one ``_container``: a canonical-JSON
header with its class path, the scikit-learn version, a JSON summary of
``get_params(deep=False)`` (for people and tools inspecting the store; decoding ignores
it) and its full ``__getstate__()`` state as a tagged value tree (``_values``), whose
numpy arrays are canonical ``.npy`` blobs.

Decoding imports only ``sklearn.*`` classes (unless the serializer is trusted), creates
instances with ``cls.__new__(cls)`` and restores them with ``__setstate__`` -- exactly
what unpickling a scikit-learn estimator does, minus the arbitrary callables. Decision
trees (``sklearn.tree._tree.Tree``, a Cython type) and the Cython loss objects of
gradient boosting / SGD are rebuilt from their own ``__reduce__`` (constructor args +
state; tree node records have their padding bytes zeroed so forests hash stably, and
their child/feature links are bounds-checked on load). Any attribute the tree cannot
represent canonically (lambdas and closures, other Cython types such as KD-trees) makes
``can_encode`` False; the error then names the class and attribute path that failed.

What this does not promise: that every numeric state is internally consistent. Only the
decision-tree links are validated; a deliberately crafted artifact could still hand
inconsistent arrays to other scikit-learn native code (as a crafted skops file could).
It cannot make the loader import or call anything outside the allow-lists.

A model written by a different scikit-learn version still decodes, with a
``ModelVersionWarning`` naming both versions: predictions may differ.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from reprolam.codecs._container import pack, unpack
from reprolam.codecs._npy import array_parts
from reprolam.codecs._values import (
    TreeDecoder,
    TreeEncoder,
    Unrepresentable,
    class_path,
    in_sklearn,
)
from reprolam.errors import CodecError

FORMAT = "sklearn-state/1"
_SUMMARY_DEPTH = 20


def _installed_sklearn() -> str:
    # Imported on use: importing scikit-learn costs ~1 s, and a serializer that only ever
    # sees ints and arrays should not pay it (an estimator's module is already loaded).
    import sklearn

    return str(sklearn.__version__)


class ModelVersionWarning(UserWarning):
    """A model artifact was written by a different scikit-learn version than the installed one."""


def is_sklearn_estimator(value: Any) -> bool:
    return in_sklearn(type(value).__module__) and hasattr(value, "get_params")


def _params_summary(value: Any, depth: int = 0) -> Any:
    """A JSON view of a parameter value: plain data as is, estimators by class + params."""
    kind = type(value)
    if value is None or kind in (str, bool, int, float):
        return value
    if depth > _SUMMARY_DEPTH:
        return {"$value": kind.__name__}
    if kind is list or kind is tuple:
        return [_params_summary(v, depth + 1) for v in value]
    if kind is dict and all(type(k) is str for k in value):
        return {k: _params_summary(v, depth + 1) for k, v in value.items()}
    if is_sklearn_estimator(value):
        params = value.get_params(deep=False)
        return {"$estimator": class_path(kind), "params": _params_summary(params, depth + 1)}
    if isinstance(value, np.generic) and value.dtype.kind in "biuf":
        return value.item()
    if kind is np.ndarray:
        return {"$array": [value.dtype.str, list(value.shape)]}
    # A name, never a repr: reprs can embed memory addresses that differ between processes.
    module = getattr(value, "__module__", None) or kind.__module__
    return {"$value": f"{module}:{getattr(value, '__qualname__', kind.__qualname__)}"}


def plan_model(value: Any, encoder: TreeEncoder | None = None) -> tuple[dict[str, Any], list[Any]]:
    """Header + blob arrays of an estimator; ``Unrepresentable`` if it has no canonical state.

    Blob references in the header index ``encoder.arrays``: pass a shared encoder to embed
    the model in a larger container (the ``tree`` codec does).
    """
    if not is_sklearn_estimator(value):
        raise Unrepresentable(f"{type(value).__name__} is not a scikit-learn estimator")
    encoder = TreeEncoder() if encoder is None else encoder
    node = encoder.sklearn_object(value, 0)
    if "$object" not in node:
        raise Unrepresentable(f"{class_path(type(value))} does not pickle as plain instance state")
    obj = node["$object"]
    header = {
        "format": FORMAT,
        "class": obj["class"],
        "sklearn": _installed_sklearn(),
        "params": _params_summary(value.get_params(deep=False)),
        "state": obj["state"],
        "versioned": obj["versioned"],
    }
    return header, encoder.arrays


def decode_model(header: Any, blobs: list[bytes], *, trusted: bool, stacklevel: int = 1) -> Any:
    """Inverse of ``plan_model``; ``CodecError`` on a malformed or disallowed header.

    ``stacklevel`` is that of the version warning, counted from this function's caller.
    """
    if type(header) is not dict:
        raise CodecError("model artifact header is not a JSON object")
    if header.get("format") != FORMAT:
        raise CodecError(
            f"model artifact has format {header.get('format')!r}; this reprolam reads {FORMAT!r}"
        )
    missing = [key for key in ("class", "state", "versioned") if key not in header]
    if missing:
        raise CodecError(f"model artifact header lacks {', '.join(missing)}")
    recorded, installed = header.get("sklearn"), _installed_sklearn()
    if recorded != installed:
        warnings.warn(
            ModelVersionWarning(
                f"model artifact {header.get('class')} was written by scikit-learn "
                f"{recorded} but scikit-learn {installed} is installed; "
                "it is loaded anyway, but its predictions may differ"
            ),
            stacklevel=stacklevel + 1,
        )
    decoder = TreeDecoder(blobs, trusted=trusted, sklearn_version=installed)
    try:
        state = decoder.decode_fields(header["state"])
        return decoder.restore_object(header["class"], state, versioned=bool(header["versioned"]))
    except CodecError:
        raise
    except Exception as exc:  # malformed tree: KeyError, TypeError, ValueError...
        raise CodecError(f"model artifact is malformed: {type(exc).__name__}: {exc}") from exc


class ModelCodec:
    """Fitted (or unfitted) scikit-learn estimators whose whole state is representable."""

    tag = "model"
    # Decoding depends on trust: a trusted store may name classes outside sklearn.
    trust_aware = True

    def can_encode(self, value: Any) -> bool:
        if not is_sklearn_estimator(value):
            return False
        try:
            plan_model(value)
        except Unrepresentable:
            return False
        return True

    def try_encode(self, value: Any) -> bytes | None:
        if not is_sklearn_estimator(value):
            return None
        try:
            header, arrays = plan_model(value)
        except Unrepresentable:
            return None
        return pack(header, [array_parts(a) for a in arrays])

    def encode(self, value: Any) -> bytes:
        try:
            header, arrays = plan_model(value)
        except Unrepresentable as exc:
            raise CodecError(f"model codec cannot encode {type(value).__name__}: {exc}") from exc
        return pack(header, [array_parts(a) for a in arrays])

    def decode(self, data: bytes, *, trusted: bool = False) -> Any:
        header, blobs = unpack(data)
        return decode_model(header, blobs, trusted=trusted, stacklevel=2)
