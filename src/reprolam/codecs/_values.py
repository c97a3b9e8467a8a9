"""A canonical, tagged value tree for object state (used by the ``model`` and ``tree`` codecs).

``TreeEncoder.encode`` turns a value into JSON whose every non-scalar node is a one-key
object naming its type (``{"$tuple": [...]}``, ``{"$npy": 3}``, ...), with numpy arrays
collected as separate blobs. Tagging every container (plain dicts included, as
``{"$dict": ...}``) keeps the tree unambiguous, so decoding restores tuples as tuples,
numpy scalars as numpy scalars and dicts with int keys as such: a decoded model
re-encodes to the same bytes. Unordered things (sets, non-str-keyed dicts) are sorted by
the canonical JSON of their encoded items, never by hash order.

``TreeDecoder`` never executes arbitrary code: the only callables it reaches are
classes resolved by ``resolve_class`` (``sklearn.*`` unless the store is trusted), numpy
scalar/dtype/RNG constructors and a few builtins named in allow-lists below.
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
import numpy.typing as npt

from reprolam.codecs._npy import array_bytes, array_from_bytes, array_supported
from reprolam.errors import CodecError
from reprolam.hashing import canonical_json, digest

_MAX_DEPTH = 100
_MAX_INT_BITS = 14_000  # below Python's int -> str digit limit
_PLAIN = frozenset({str, bool, float, type(None)})
# Cython extension types without a __dict__, rebuilt as ``cls(*args)`` (+ ``__setstate__``)
# from their own ``__reduce__``: decision trees, and the loss-function types (whose
# constructors take only numbers) held by gradient boosting and SGD models. Calling any
# other constructor with artifact data is not something an untrusted store may ask for.
_TREE = "sklearn.tree._tree:Tree"
_REDUCE_CLASSES = frozenset({_TREE})
_REDUCE_MODULES = frozenset({"sklearn._loss._loss", "sklearn.linear_model._sgd_fast"})
_BUILTIN_TYPES = {t.__name__: t for t in (bool, int, float, complex, str, bytes, object)}
_BIT_GENERATORS = frozenset({"MT19937", "PCG64", "PCG64DXSM", "Philox", "SFC64"})
# Instances of these (and their subclasses, e.g. sklearn's Bunch) are never treated as
# plain objects: their contents live outside ``__dict__``.
_CONTAINER_TYPES = (dict, list, tuple, set, frozenset, str, bytes, int, float, np.ndarray)


class Unrepresentable(Exception):
    """Raised while encoding: this value has no canonical tree encoding."""


def reduce_allowed(path: str) -> bool:
    return path in _REDUCE_CLASSES or path.partition(":")[0] in _REDUCE_MODULES


def in_sklearn(module: str) -> bool:
    return module == "sklearn" or module.startswith("sklearn.")


def class_path(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _custom_reduce(cls: type) -> bool:
    """Whether pickling ``cls`` would do more than ``__new__`` + restore ``__getstate__()``."""
    plain: Any = object
    return bool(
        cls.__reduce_ex__ is not plain.__reduce_ex__ or cls.__reduce__ is not plain.__reduce__
    )


def _canonical_order(values: Any, depth: int) -> list[Any]:
    """Set items / dict keys in an order that depends only on their values, not on hashing."""

    def key(value: Any) -> str:
        encoder = TreeEncoder()
        node = encoder.encode(value, depth)
        # Blob contents too: two keys can differ only inside a ``$np0`` blob.
        return canonical_json(node) + "".join(digest(array_bytes(a)) for a in encoder.arrays)

    return sorted(values, key=key)


class TreeEncoder:
    """Encode values to a tagged JSON tree; ``arrays`` collects the ndarray blobs in order."""

    def __init__(self) -> None:
        self.arrays: list[npt.NDArray[Any]] = []

    def encode(self, value: Any, depth: int = 0) -> Any:
        kind = type(value)
        if kind in _PLAIN:
            return value
        if kind is int:
            if value.bit_length() > _MAX_INT_BITS:
                raise Unrepresentable("integer too large for JSON")
            return value
        if depth > _MAX_DEPTH:
            raise Unrepresentable(f"nesting deeper than {_MAX_DEPTH} (a reference cycle?)")
        depth += 1
        if kind is list or kind is tuple:
            return {f"${kind.__name__}": [self.encode(v, depth) for v in value]}
        if kind is dict:
            if all(type(k) is str for k in value):
                return {"$dict": self.encode_fields(value, depth)}
            keys = _canonical_order(value, depth)
            return {"$map": [[self.encode(k, depth), self.encode(value[k], depth)] for k in keys]}
        if kind is set or kind is frozenset:
            return {
                f"${kind.__name__}": [self.encode(v, depth) for v in _canonical_order(value, depth)]
            }
        if kind is bytes:
            return {"$bytes": value.hex()}
        if kind is slice:
            return {
                "$slice": [self.encode(v, depth) for v in (value.start, value.stop, value.step)]
            }
        if kind is np.ndarray:
            return self._array(value, depth)
        if kind is np.ma.MaskedArray:
            return self._masked_array(value, depth)
        if isinstance(value, np.generic):
            return self.numpy_scalar(value)
        if isinstance(value, np.dtype):
            if value.names is not None or value.subdtype is not None:
                raise Unrepresentable(f"structured dtype {value}")
            return {"$dtype": value.str}
        if isinstance(value, type):
            return {"$type": self._type_name(value)}
        if kind is np.random.RandomState:
            return {"$randomstate": self.encode(value.get_state(legacy=True), depth)}
        if kind is np.random.Generator:
            return self._generator(value, depth)
        if in_sklearn(kind.__module__):
            return self._sklearn_object(value, depth)
        raise Unrepresentable(f"{kind.__module__}.{kind.__qualname__} has no canonical encoding")

    def encode_fields(self, fields: dict[str, Any], depth: int) -> dict[str, Any]:
        # Sorted before encoding, not after: blobs are numbered in encoding order, and
        # attribute insertion order differs between a fitted and a decoded estimator.
        return {key: self.encode(fields[key], depth) for key in sorted(fields)}

    def _array(self, value: npt.NDArray[Any], depth: int) -> Any:
        if array_supported(value):
            self.arrays.append(value)
            return {"$npy": len(self.arrays) - 1}
        if value.dtype.kind == "O":
            # e.g. feature_names_in_ / string classes_: an object array of str.
            items = [self.encode(v, depth) for v in value.reshape(-1)]
            return {"$objarray": {"shape": list(value.shape), "items": items}}
        raise Unrepresentable(f"array with dtype {value.dtype}")

    def _masked_array(self, value: np.ma.MaskedArray[Any, Any], depth: int) -> Any:
        # e.g. GridSearchCV.cv_results_["param_C"]. Slots under the mask hold leftovers;
        # blank them so the bytes depend only on the visible values.
        mask = np.ma.getmaskarray(value)
        data = np.array(np.ma.getdata(value), copy=True)
        if mask.any():
            data[mask] = None if data.dtype.kind == "O" else np.zeros((), dtype=data.dtype)
        return {
            "$masked": {
                "data": self._array(data, depth),
                "mask": self._array(mask, depth),
                "fill_value": self.encode(value.fill_value, depth),
            }
        }

    def numpy_scalar(self, value: np.generic) -> Any:
        """``{"$np": [dtype, item]}`` when the item is JSON-exact, else a 0-d ``$np0`` blob."""
        dtype = value.dtype
        if dtype.kind in "biuU" or (dtype.kind == "f" and dtype.itemsize <= 8):
            return {"$np": [dtype.str, value.item()]}
        if dtype.kind == "O" or not array_supported(np.asarray(value)):
            raise Unrepresentable(f"numpy scalar of dtype {dtype}")
        self.arrays.append(np.asarray(value))
        return {"$np0": len(self.arrays) - 1}

    @staticmethod
    def _type_name(value: type) -> str:
        if issubclass(value, np.generic) and getattr(np, value.__name__, None) is value:
            return f"numpy:{value.__name__}"
        if _BUILTIN_TYPES.get(value.__name__) is value:
            return f"builtins:{value.__name__}"
        raise Unrepresentable(f"type object {value!r}")

    def _generator(self, value: np.random.Generator, depth: int) -> Any:
        name = type(value.bit_generator).__name__
        if name not in _BIT_GENERATORS:
            raise Unrepresentable(f"bit generator {name}")
        state = self.encode(value.bit_generator.state, depth)
        return {"$generator": {"bit_generator": name, "state": state}}

    def _sklearn_object(self, value: Any, depth: int) -> Any:
        cls = type(value)
        path = class_path(cls)
        if reduce_allowed(path):
            reduced = value.__reduce__()
            if (
                len(reduced) not in (2, 3)
                or reduced[0] is not cls
                or type(reduced[1]) is not tuple
                or (len(reduced) == 3 and type(reduced[2]) not in (dict, type(None)))
            ):
                raise Unrepresentable(f"{path}.__reduce__ has an unexpected shape")
            state = reduced[2] if len(reduced) == 3 else None
            return {
                "$reduce": {
                    "class": path,
                    "args": self.encode(reduced[1], depth),
                    "state": self.encode(state, depth),
                }
            }
        if (
            isinstance(value, _CONTAINER_TYPES)
            or not hasattr(value, "__dict__")
            or _custom_reduce(cls)
        ):
            raise Unrepresentable(f"{path} does not pickle as plain instance state")
        state = value.__getstate__()
        if state is None and not vars(value):
            state = {}  # Python 3.11+: object.__getstate__() is None for an empty __dict__
        if type(state) is not dict:
            raise Unrepresentable(f"{path}.__getstate__ did not return a dict")
        if not all(type(k) is str for k in state):
            raise Unrepresentable(f"{path} has non-str attribute names")
        versioned = "_sklearn_version" in state
        state = {k: v for k, v in state.items() if k != "_sklearn_version"}
        return {
            "$object": {
                "class": path,
                "state": self.encode_fields(state, depth),
                "versioned": versioned,
            }
        }


def resolve_class(path: str, *, trusted: bool) -> type:
    """The class named ``module:qualname``; outside ``sklearn.*`` only if ``trusted``."""
    module_name, sep, qualname = path.partition(":") if isinstance(path, str) else ("", "", "")
    parts = qualname.split(".")
    if not sep or not module_name or any(not p or p.startswith("__") for p in parts):
        raise CodecError(f"model artifact names an invalid class path {path!r}")
    if not trusted and not in_sklearn(module_name):
        raise CodecError(
            f"model artifact names class {path!r}, which is outside scikit-learn; reprolam "
            "only imports sklearn.* classes when loading an untrusted store, so that a "
            "crafted artifact cannot run other code. If you trust this store, load it with "
            "{trusted=True}."
        )
    try:
        found: Any = importlib.import_module(module_name)
        for part in parts:
            found = getattr(found, part)
    except (ImportError, AttributeError) as exc:
        raise CodecError(
            f"model artifact names class {path!r}, which cannot be found: {exc}"
        ) from exc
    # The path must name the class itself, not an alias of something defined elsewhere.
    if not isinstance(found, type) or (not trusted and class_path(found) != path):
        raise CodecError(f"model artifact names {path!r}, which is not a scikit-learn class")
    return found


def _check_tree(args: Any, state: Any) -> None:
    """Refuse decision-tree state whose node links would make prediction read out of bounds.

    ``Tree.__setstate__`` checks only the node dtype, and prediction follows child and
    feature indices without bounds checks: a crafted artifact could crash the process.
    Children must come after their parent (as sklearn builds them), so there are no cycles.
    """
    try:
        n_features = int(args[0])
        nodes, node_count = state["nodes"], int(state["node_count"])
        ok = type(nodes) is np.ndarray and nodes.ndim == 1 and len(nodes) >= node_count >= 0
        if (
            ok
            and nodes.dtype.names is not None
            and {"left_child", "feature"} <= set(nodes.dtype.names)
        ):
            nodes = nodes[:node_count]
            internal = nodes["left_child"] != -1
            index = np.arange(node_count)[internal]
            for field in ("left_child", "right_child"):
                child = nodes[field][internal]
                ok = ok and bool(np.all((child > index) & (child < node_count)))
            feature = nodes["feature"][internal]
            ok = ok and bool(np.all((feature >= 0) & (feature < n_features)))
    except (TypeError, ValueError, KeyError, IndexError):
        ok = False
    if not ok:
        raise CodecError("model artifact has an inconsistent decision tree; refusing to load it")


def numpy_scalar_from(body: Any, artifact: str) -> Any:
    """The numpy scalar of a ``$np`` node body ``[dtype, item]``; ``CodecError`` if malformed."""
    if type(body) is not list or len(body) != 2 or type(body[0]) is not str:
        raise CodecError(f"{artifact} has a malformed numpy scalar node: {str(body)[:80]}")
    dtype_str, value = body
    try:
        dtype = np.dtype(dtype_str)
    except TypeError as exc:
        raise CodecError(f"{artifact} has an invalid numpy dtype {dtype_str!r}") from exc
    if dtype.kind not in "biufU" or type(value) not in (bool, int, float, str):
        raise CodecError(
            f"{artifact} has an unsupported numpy scalar {dtype_str!r}: {str(value)[:80]!r}"
        )
    return dtype.type(value)


class TreeDecoder:
    """Inverse of ``TreeEncoder`` over ``blobs``; ``CodecError`` on any malformed node."""

    def __init__(self, blobs: list[bytes], *, trusted: bool, sklearn_version: str) -> None:
        self._blobs = blobs
        self._trusted = trusted
        self._sklearn_version = sklearn_version

    def decode(self, node: Any) -> Any:
        if node is None or type(node) in (str, bool, int, float):
            return node
        if type(node) is not dict or len(node) != 1:
            raise CodecError(f"model artifact has a malformed value node: {str(node)[:80]}")
        ((tag, body),) = node.items()
        handler = _HANDLERS.get(tag)
        if handler is None:
            raise CodecError(f"model artifact has an unknown value tag {tag!r}")
        return handler(self, body)

    def decode_fields(self, fields: Any) -> dict[str, Any]:
        if type(fields) is not dict:
            raise CodecError("model artifact has a malformed field mapping")
        return {key: self.decode(v) for key, v in fields.items()}

    def blob(self, ref: Any) -> npt.NDArray[Any]:
        if type(ref) is not int or not 0 <= ref < len(self._blobs):
            raise CodecError(f"model artifact refers to missing blob {ref!r}")
        return array_from_bytes(self._blobs[ref])

    def restore_object(self, path: str, state: dict[str, Any], *, versioned: bool) -> Any:
        cls: Any = resolve_class(path, trusted=self._trusted)
        obj = cls.__new__(cls)
        if versioned:
            # The artifact's version was checked (and warned about) once, at the top level;
            # passing the installed one avoids a sklearn warning per nested estimator.
            state["_sklearn_version"] = self._sklearn_version
        setstate = getattr(obj, "__setstate__", None)
        if setstate is not None:
            setstate(state)
        else:
            obj.__dict__.update(state)
        return obj

    def _object(self, body: Any) -> Any:
        state = self.decode_fields(body["state"])
        return self.restore_object(body["class"], state, versioned=bool(body["versioned"]))

    def _reduce(self, body: Any) -> Any:
        path = body["class"]
        if not self._trusted and not reduce_allowed(str(path)):
            raise CodecError(f"model artifact asks to construct {path!r}, which is not allowed")
        cls = resolve_class(path, trusted=self._trusted)
        args = self.decode(body["args"])
        if type(args) is not tuple:
            raise CodecError(f"model artifact has malformed constructor args for {path!r}")
        state = self.decode(body["state"])
        if path == _TREE:
            _check_tree(args, state)
        obj = cls(*args)
        if state is not None:
            obj.__setstate__(state)
        return obj

    def _objarray(self, body: Any) -> Any:
        items = [self.decode(v) for v in body["items"]]
        out = np.empty(len(items), dtype=object)
        for i, item in enumerate(items):
            out[i] = item  # element-wise, so nested sequences stay single objects
        return out.reshape(tuple(body["shape"]))

    def _masked_array(self, body: Any) -> Any:
        data, mask = self.decode(body["data"]), self.decode(body["mask"])
        return np.ma.MaskedArray(data, mask=mask, fill_value=self.decode(body["fill_value"]))

    def _numpy_scalar(self, body: Any) -> Any:
        return numpy_scalar_from(body, "model artifact")

    def _type(self, body: Any) -> Any:
        module, _, name = str(body).partition(":")
        found = getattr(np, name, None) if module == "numpy" else _BUILTIN_TYPES.get(name)
        if module == "numpy" and not (isinstance(found, type) and issubclass(found, np.generic)):
            found = None
        if found is None or module not in ("numpy", "builtins"):
            raise CodecError(f"model artifact names a type that is not allowed: {body!r}")
        return found

    def _randomstate(self, body: Any) -> Any:
        state = np.random.RandomState()
        state.set_state(self.decode(body))
        return state

    def _generator(self, body: Any) -> Any:
        name = body["bit_generator"]
        if name not in _BIT_GENERATORS:
            raise CodecError(f"model artifact names an unknown bit generator {name!r}")
        bit_generator = getattr(np.random, name)()
        bit_generator.state = self.decode(body["state"])
        return np.random.Generator(bit_generator)


_HANDLERS: dict[str, Any] = {
    "$list": lambda d, b: [d.decode(v) for v in b],
    "$tuple": lambda d, b: tuple(d.decode(v) for v in b),
    "$dict": lambda d, b: d.decode_fields(b),
    "$map": lambda d, b: {d.decode(k): d.decode(v) for k, v in b},
    "$set": lambda d, b: {d.decode(v) for v in b},
    "$frozenset": lambda d, b: frozenset(d.decode(v) for v in b),
    "$bytes": lambda d, b: bytes.fromhex(b),
    "$slice": lambda d, b: slice(*(d.decode(v) for v in b)),
    "$npy": lambda d, b: d.blob(b),
    "$np0": lambda d, b: d.blob(b)[()],
    "$np": TreeDecoder._numpy_scalar,
    "$objarray": TreeDecoder._objarray,
    "$masked": TreeDecoder._masked_array,
    "$dtype": lambda d, b: np.dtype(str(b)),
    "$type": TreeDecoder._type,
    "$randomstate": TreeDecoder._randomstate,
    "$generator": TreeDecoder._generator,
    "$object": TreeDecoder._object,
    "$reduce": TreeDecoder._reduce,
}
