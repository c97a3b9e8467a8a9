"""The ``tree`` codec: nested containers of arrays, frames, models, sparse matrices and scalars.

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
depend on insertion order; arrays are made C-contiguous by ``array_parts``; frames and
models are canonical by their own codecs. Equal values therefore give equal bytes.

Since the walker merge the tree codec also takes everything the value walker (``_values``)
represents: dicts with non-``str`` keys (``$map``, keys in canonical order), ``set`` /
``frozenset`` (canonical order), ``bytes`` / ``bytearray``, big ints, ``complex``,
``datetime`` / ``date`` / ``time`` / ``timedelta`` (time zones exact), ``Decimal``,
``UUID``, ``pathlib`` paths, NumPy object arrays of such items, masked arrays, dtypes,
RNG states, ``scipy.sparse`` matrices and arrays (``$sparse``) and NumPy ufuncs /
importable functions (``$function``). The format stays ``reprolam-tree/1``: values the
codec took before encode to exactly the bytes they did (a test pins them); the new node
kinds only appear in values that used to fall through to pickle.

Round trip: exact in type. Unlike ``json``, tuples come back as tuples and numpy scalars
as numpy scalars of the same dtype (the tree records both). Not preserved: dict key
order (``str`` keys come back sorted, as with ``json``) and object identity (an array
appearing twice is stored, and comes back, as two equal arrays).

Refused (with the reason naming the class): subclasses of dict/list/tuple (OrderedDict,
namedtuple, Bunch), Python objects outside the vocabulary, StringDType and other
pickle-needing arrays, nesting deeper than ``MAX_DEPTH`` (including reference cycles),
and any frame or estimator that its own codec refuses.

Decoding never executes code: it only builds containers, reads ``.npy`` blobs with
``_npy`` (no object dtypes, never unpickles), resolves estimator classes through the
model codec's allow-list (``sklearn.*`` unless the serializer is trusted) and functions
through ``_scalars``' (nothing newly imported unless trusted). Any malformed or truncated
artifact raises ``CodecError``.
"""

from __future__ import annotations

from typing import Any

from reprolam.codecs._container import pack, unpack
from reprolam.codecs._npy import array_parts
from reprolam.codecs._values import TreeDecoder, TreeEncoder, Unrepresentable
from reprolam.errors import CodecError

FORMAT = "reprolam-tree/1"
_ARTIFACT = "tree artifact"


def plan_tree(value: Any) -> tuple[dict[str, Any], list[Any]]:
    """Header + blob arrays of ``value``; ``Unrepresentable`` if it has no canonical tree."""
    encoder = TreeEncoder()
    root = encoder.encode(value)
    return {"format": FORMAT, "root": root}, encoder.arrays


def why_not(value: Any) -> str | None:
    """Why the tree codec cannot encode ``value`` (None if it can): for error messages."""
    try:
        plan_tree(value)
    except Unrepresentable as exc:
        return str(exc)
    except RecursionError:
        return "nesting too deep"
    return None


class TreeCodec:
    """Nested containers of everything the value walker represents (see the module doc)."""

    tag = "tree"
    # Decoding depends on trust: nested models may name classes outside sklearn if trusted.
    trust_aware = True

    def can_encode(self, value: Any) -> bool:
        return self.try_encode(value) is not None

    def try_encode(self, value: Any) -> bytes | None:
        try:
            header, arrays = plan_tree(value)
        except (Unrepresentable, RecursionError):
            return None
        return pack(header, [array_parts(a) for a in arrays])

    def encode(self, value: Any) -> bytes:
        try:
            header, arrays = plan_tree(value)
        except Unrepresentable as exc:
            raise CodecError(f"tree codec cannot encode {type(value).__name__}: {exc}") from exc
        return pack(header, [array_parts(a) for a in arrays])

    def decode(self, data: bytes, *, trusted: bool = False) -> Any:
        header, blobs = unpack(data)
        if header.get("format") != FORMAT:
            raise CodecError(
                f"{_ARTIFACT} has format {header.get('format')!r}; this reprolam reads {FORMAT!r}"
            )
        if "root" not in header:
            raise CodecError(f"{_ARTIFACT} has no root node")
        decoder = TreeDecoder(blobs, trusted=trusted, what=_ARTIFACT)
        try:
            return decoder.decode(header["root"])
        except CodecError:
            raise
        except Exception as exc:  # e.g. a numpy constructor refusing a crafted value
            raise CodecError(f"{_ARTIFACT} is malformed: {type(exc).__name__}: {exc}") from exc
