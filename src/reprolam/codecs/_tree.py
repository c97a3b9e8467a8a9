"""The ``tree`` codec: nested dicts / lists / tuples of arrays, frames, models and scalars.

Typical action results -- ``{"X": X, "y": y}``, ``{"accuracy": 0.9, "confusion": cm}``,
``[a, b]``, ``(frame, array)`` -- are not plain JSON nor a single array, frame or model.
This codec stores them canonically instead of letting them fall through to pickle. It is
tried after ``json``, ``npy``, ``frame`` and ``model``, so a value any of those accepts
never reaches it.

Format: one ``_container`` whose header is ``{"format": "reprolam-tree/1", "root": node}``
and whose blobs are canonical ``.npy`` arrays, numbered in the order they are encoded. The
node vocabulary is the one the model codec uses for estimator state (``_values``):

- ``"s"``, ``true``, ``3``, ``0.5``, ``NaN``, ``null``      JSON scalars, as themselves
- ``{"$dict": {key: node}}``           dict with ``str`` keys (encoded in sorted key order)
- ``{"$list": [node, ...]}``, ``{"$tuple": [node, ...]}``
- ``{"$npy": i}``                      ndarray without Python objects: blob ``i``
- ``{"$np": [dtype, item]}``           numpy bool/int/uint/float(<=64-bit)/str scalar
- ``{"$np0": i}``                      any other numpy scalar (complex, longdouble,
  datetime64, bytes, ...) as a 0-d blob
- ``{"$frame": header}``               DataFrame / Series: the ``frame`` codec's header,
  its blob numbers pointing into this container
- ``{"$model": header}``               fitted scikit-learn estimator: the ``model`` codec's
  header (class, scikit-learn version, params summary, state), blobs likewise shared

Keys are sorted *before* encoding, so blob numbering, like the header text, does not
depend on insertion order; arrays are made C-contiguous by ``array_bytes``; frames and
models are canonical by their own codecs. Equal values therefore give equal bytes.

Round trip: exact in type. Unlike ``json``, tuples come back as tuples and numpy scalars
as numpy scalars of the same dtype (the tree records both). Not preserved: dict key
order (keys come back sorted, as with ``json``) and object identity (an array appearing
twice is stored, and comes back, as two equal arrays).

Refused (``can_encode`` False, so the value falls through to pickle): dicts with non-str
keys; subclasses of dict/list/tuple (OrderedDict, namedtuple, Bunch); sets, bytes,
complex and other Python objects; integers beyond ~4200 digits; object, StringDType and
other pickle-needing arrays; ndarray subclasses (masked, matrix, recarray); nesting deeper
than 100 levels (including reference cycles); and any frame or estimator that its own
codec refuses. A nested frame or model whose planning fails with an unexpected error is
refused rather than reported: before this codec existed such containers went to pickle.

Decoding never executes code: it only builds containers, reads ``.npy`` blobs with
``_npy`` (no object dtypes, never unpickles) and delegates ``$frame`` / ``$model`` nodes
to their codecs, so estimator classes are resolved through the model codec's allow-list
(``sklearn.*`` unless the serializer is trusted). Any malformed or truncated artifact
raises ``CodecError``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from reprolam.codecs._container import pack, unpack
from reprolam.codecs._frame import decode_frame, plan_frame
from reprolam.codecs._model import decode_model, is_sklearn_estimator, plan_model
from reprolam.codecs._npy import array_bytes, array_from_bytes, array_supported
from reprolam.codecs._values import TreeEncoder, Unrepresentable, numpy_scalar_from
from reprolam.errors import CodecError

FORMAT = "reprolam-tree/1"
_MAX_DEPTH = 100
_MAX_INT_BITS = 14_000  # below Python's int -> str digit limit (as in the json codec)
_SCALARS = frozenset({str, bool, float, type(None)})
_ARTIFACT = "tree artifact"


# -- encoding -------------------------------------------------------------------------------


class _Planner:
    """Walks a value into a node tree; ``encoder.arrays`` collects the blobs in order."""

    def __init__(self) -> None:
        # One value-tree encoder for the whole tree: nested models append their state
        # arrays to the same list, so every blob number in the header is global.
        self.encoder = TreeEncoder()

    def node(self, value: Any, depth: int) -> Any:
        kind = type(value)
        if kind in _SCALARS:
            return value
        if kind is int:
            if value.bit_length() > _MAX_INT_BITS:
                raise Unrepresentable("integer too large for JSON")
            return value
        if depth >= _MAX_DEPTH:
            raise Unrepresentable(f"nesting deeper than {_MAX_DEPTH} (a reference cycle?)")
        depth += 1
        if kind is dict:
            for key in value:
                if type(key) is not str:
                    raise Unrepresentable(f"dict key {type(key).__name__} is not a str")
            # Sorted before encoding: blob numbers follow encoding order.
            return {"$dict": {key: self.node(value[key], depth) for key in sorted(value)}}
        if kind is list or kind is tuple:
            return {f"${kind.__name__}": [self.node(item, depth) for item in value]}
        if kind is np.ndarray:
            if not array_supported(value):
                raise Unrepresentable(f"array with dtype {value.dtype} needs pickle")
            self.encoder.arrays.append(value)
            return {"$npy": len(self.encoder.arrays) - 1}
        if isinstance(value, np.generic) and value.dtype.type is kind:  # not a subclass
            return self.encoder.numpy_scalar(value)
        if kind is pd.DataFrame or kind is pd.Series:
            return {"$frame": self._nested(plan_frame, value, self.encoder.arrays)}
        if is_sklearn_estimator(value):
            return {"$model": self._nested(plan_model, value, self.encoder)}
        raise Unrepresentable(f"{kind.__module__}.{kind.__qualname__} has no canonical encoding")

    @staticmethod
    def _nested(plan: Any, value: Any, into: Any) -> Any:
        try:
            header, _ = plan(value, into)
        except Unrepresentable:
            raise
        except Exception as exc:  # an odd frame/estimator: refuse, so pickle takes it
            raise Unrepresentable(
                f"cannot plan nested {type(value).__name__}: {type(exc).__name__}: {exc}"
            ) from exc
        return header


def plan_tree(value: Any) -> tuple[dict[str, Any], list[Any]]:
    """Header + blob arrays of ``value``; ``Unrepresentable`` if it has no canonical tree."""
    planner = _Planner()
    root = planner.node(value, 0)
    return {"format": FORMAT, "root": root}, planner.encoder.arrays


# -- decoding -------------------------------------------------------------------------------


class _Loader:
    """Inverse of ``_Planner`` over ``blobs``; only the node kinds listed in the module doc."""

    def __init__(self, blobs: list[bytes], *, trusted: bool) -> None:
        self._blobs = blobs
        self._trusted = trusted

    def node(self, node: Any, depth: int) -> Any:
        if node is None or type(node) in (str, bool, int, float):
            return node
        if type(node) is not dict or len(node) != 1:
            raise CodecError(f"{_ARTIFACT} has a malformed node: {str(node)[:80]}")
        if depth >= _MAX_DEPTH:
            raise CodecError(f"{_ARTIFACT} is nested deeper than {_MAX_DEPTH} levels")
        depth += 1
        ((tag, body),) = node.items()
        if tag == "$dict":
            if type(body) is not dict:
                raise CodecError(f"{_ARTIFACT} has a malformed $dict node")
            return {key: self.node(item, depth) for key, item in body.items()}
        if tag in ("$list", "$tuple"):
            if type(body) is not list:
                raise CodecError(f"{_ARTIFACT} has a malformed {tag} node")
            items = [self.node(item, depth) for item in body]
            return items if tag == "$list" else tuple(items)
        if tag == "$npy":
            return self._blob(body)
        if tag == "$np":
            return numpy_scalar_from(body, _ARTIFACT)
        if tag == "$np0":
            array = self._blob(body)
            if array.ndim != 0:
                raise CodecError(f"{_ARTIFACT} scalar blob {body} has shape {array.shape}")
            return array[()]
        if tag == "$frame":
            if type(body) is not dict:
                raise CodecError(f"{_ARTIFACT} has a malformed $frame node")
            try:
                return decode_frame(body, self._blobs)
            except CodecError:
                raise
            except Exception as exc:  # KeyError, TypeError, pandas ValueError...
                raise CodecError(
                    f"{_ARTIFACT} has a malformed frame: {type(exc).__name__}: {exc}"
                ) from exc
        if tag == "$model":
            return decode_model(body, self._blobs, trusted=self._trusted)
        raise CodecError(f"{_ARTIFACT} has an unknown node tag {tag!r}")

    def _blob(self, ref: Any) -> Any:
        if type(ref) is not int or not 0 <= ref < len(self._blobs):
            raise CodecError(f"{_ARTIFACT} refers to missing blob {str(ref)[:80]}")
        return array_from_bytes(self._blobs[ref])


# -- codec ----------------------------------------------------------------------------------


class TreeCodec:
    """Nested dicts (str keys) / lists / tuples of scalars, arrays, frames and estimators."""

    tag = "tree"
    # Decoding depends on trust: nested models may name classes outside sklearn if trusted.
    trust_aware = True

    def can_encode(self, value: Any) -> bool:
        try:
            plan_tree(value)
        except Unrepresentable:
            return False
        return True

    def try_encode(self, value: Any) -> bytes | None:
        try:
            header, arrays = plan_tree(value)
        except Unrepresentable:
            return None
        return pack(header, [array_bytes(a) for a in arrays])

    def encode(self, value: Any) -> bytes:
        try:
            header, arrays = plan_tree(value)
        except Unrepresentable as exc:
            raise CodecError(f"tree codec cannot encode {type(value).__name__}: {exc}") from exc
        return pack(header, [array_bytes(a) for a in arrays])

    def decode(self, data: bytes, *, trusted: bool = False) -> Any:
        header, blobs = unpack(data)
        if header.get("format") != FORMAT:
            raise CodecError(
                f"{_ARTIFACT} has format {header.get('format')!r}; this reprolam reads {FORMAT!r}"
            )
        if "root" not in header:
            raise CodecError(f"{_ARTIFACT} has no root node")
        try:
            return _Loader(blobs, trusted=trusted).node(header["root"], 0)
        except CodecError:
            raise
        except Exception as exc:  # e.g. a numpy constructor refusing a crafted value
            raise CodecError(f"{_ARTIFACT} is malformed: {type(exc).__name__}: {exc}") from exc
