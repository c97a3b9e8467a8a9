"""The one canonical value walker, used by the ``model`` and ``tree`` codecs alike.

``TreeEncoder.encode`` turns a value into JSON whose every non-scalar node is a one-key
object naming its type (``{"$tuple": [...]}``, ``{"$npy": 3}``, ...), with numpy arrays
collected as separate blobs. Tagging every container (plain dicts included, as
``{"$dict": ...}``) keeps the tree unambiguous, so decoding restores tuples as tuples,
numpy scalars as numpy scalars and dicts with int keys as such: a decoded model
re-encodes to the same bytes. Unordered things (sets, non-str-keyed dicts) are sorted by
the canonical JSON of their encoded items, never by hash order.

One walker, one depth limit (``MAX_DEPTH``): the tree codec's data and an estimator's
state go through the same ``TreeEncoder``. A frame anywhere becomes a ``$frame`` node,
a scikit-learn estimator outside any estimator's state a ``$model`` node (the ``model``
codec's header), and one inside a state an ``$object`` node; standard-library values
(``_scalars``) and ``scipy.sparse`` matrices (``_sparse``) have nodes of their own.

``TreeDecoder`` never executes arbitrary code: the only callables it reaches are
classes resolved by ``resolve_class`` (``sklearn.*`` unless the store is trusted), numpy
scalar/dtype/RNG constructors and a few builtins named in allow-lists below.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import numpy as np
import numpy.typing as npt

from reprolam.codecs._neighbors import decode_binary_tree, encode_binary_tree, is_binary_tree
from reprolam.codecs._npy import array_bytes, array_from_bytes, array_supported
from reprolam.codecs._scalars import SCALAR_DECODERS, Unrepresentable, encode_scalar, function_from
from reprolam.codecs._sparse import decode_sparse, encode_sparse, is_sparse
from reprolam.errors import CodecError
from reprolam.hashing import canonical_json, digest

MAX_DEPTH = 100
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

__all__ = ["MAX_DEPTH", "TreeDecoder", "TreeEncoder", "Unrepresentable"]


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
        self._in_model = 0  # > 0 while encoding an estimator's state

    def add_blob(self, array: npt.NDArray[Any]) -> int:
        self.arrays.append(array)
        return len(self.arrays) - 1

    def encode(self, value: Any, depth: int = 0) -> Any:
        kind = type(value)
        if kind in _PLAIN:
            return value
        if kind is int and value.bit_length() <= _MAX_INT_BITS:
            return value
        if depth > MAX_DEPTH:
            raise Unrepresentable(f"nesting deeper than {MAX_DEPTH} (a reference cycle?)")
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
        if isinstance(value, np.generic) and value.dtype.type is kind:  # not a subclass
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
        scalar = encode_scalar(value)
        if scalar is not None:
            return scalar
        return self._library_value(value, depth)

    def _library_value(self, value: Any, depth: int) -> Any:
        kind = type(value)
        module = kind.__module__
        pd = sys.modules.get("pandas")  # a frame exists only if pandas is loaded
        if pd is not None and (kind is pd.DataFrame or kind is pd.Series):
            from reprolam.codecs._frame import plan_frame

            return {"$frame": _nested(plan_frame, value, self.arrays)}
        if module == "sklearn.utils._bunch" and kind.__name__ == "Bunch":
            # A dict subclass (e.g. a voting ensemble's named_estimators_): its items are it.
            return {"$bunch": self.encode_fields(_str_keyed(value), depth)}
        if in_sklearn(module):
            if self._in_model == 0 and hasattr(value, "get_params"):
                from reprolam.codecs._model import plan_model

                return {"$model": _nested(plan_model, value, self)}
            return self.sklearn_object(value, depth)
        if is_sparse(value):
            return encode_sparse(value, self.add_blob)
        if module.startswith("xarray."):
            from reprolam.codecs._xarray import why_not

            reason = why_not(value)
            if reason is not None:
                raise Unrepresentable(reason)
        if module.startswith("matplotlib.") and hasattr(value, "savefig"):
            raise Unrepresentable(
                "a matplotlib figure is a drawing, not data: save it into ctx.workdir "
                "(fig.savefig(ctx.workdir / 'plot.png')) and return that path"
            )
        raise Unrepresentable(f"{module}.{kind.__qualname__} has no canonical encoding")

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

    def sklearn_object(self, value: Any, depth: int) -> Any:
        """The ``$object`` / ``$reduce`` node of a scikit-learn object and its whole state."""
        self._in_model += 1
        try:
            return self._sklearn_object(value, depth)
        finally:
            self._in_model -= 1

    def _sklearn_object(self, value: Any, depth: int) -> Any:
        cls = type(value)
        path = class_path(cls)
        if is_binary_tree(path):
            return encode_binary_tree(value, path, lambda v: self.encode(v, depth))
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


def _str_keyed(value: dict[Any, Any]) -> dict[str, Any]:
    if not all(type(k) is str for k in value):
        raise Unrepresentable(f"{type(value).__qualname__} has non-str keys")
    return dict(value)


def _binary_tree(decoder: TreeDecoder, body: Any) -> Any:
    return decode_binary_tree(body, decoder.decode, decoder.resolve)


def _bunch(decoder: TreeDecoder, body: Any) -> Any:
    from sklearn.utils import Bunch

    return Bunch(**decoder.decode_fields(body))


def _nested(plan: Any, value: Any, into: Any) -> Any:
    """The header of a frame or model planned into this walker's blobs."""
    try:
        header, _ = plan(value, into)
    except Unrepresentable:
        raise
    except Exception as exc:  # an odd frame/estimator: refuse it, naming the reason
        raise Unrepresentable(
            f"cannot encode nested {type(value).__name__}: {type(exc).__name__}: {exc}"
        ) from exc
    return header


def resolve_class(path: str, *, trusted: bool) -> type:
    """The class named ``module:qualname``; outside ``sklearn.*`` only if ``trusted``."""
    module_name, sep, qualname = path.partition(":") if isinstance(path, str) else ("", "", "")
    parts = qualname.split(".")
    if not sep or not module_name or any(not p or p.startswith("__") for p in parts):
        raise CodecError(f"artifact names an invalid class path {str(path)[:80]!r}")
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
    """Inverse of ``TreeEncoder`` over ``blobs``; ``CodecError`` on any malformed node.

    ``what`` names the artifact in messages ("model artifact", "tree artifact").
    """

    def __init__(
        self,
        blobs: list[bytes],
        *,
        trusted: bool,
        sklearn_version: str | None = None,
        what: str = "model artifact",
    ) -> None:
        self._blobs = blobs
        self._trusted = trusted
        self._sklearn_version = sklearn_version
        self.what = what
        self._depth = 0

    def decode(self, node: Any) -> Any:
        if node is None or type(node) in (str, bool, int, float):
            return node
        if type(node) is not dict or len(node) != 1:
            raise CodecError(f"{self.what} has a malformed value node: {str(node)[:80]}")
        ((tag, body),) = node.items()
        handler = _HANDLERS.get(tag)
        if handler is None:
            raise CodecError(f"{self.what} has an unknown value tag {tag!r}")
        if self._depth > MAX_DEPTH + 1:
            raise CodecError(f"{self.what} is nested deeper than {MAX_DEPTH} levels")
        self._depth += 1
        try:
            return handler(self, body)
        finally:
            self._depth -= 1

    def decode_fields(self, fields: Any) -> dict[str, Any]:
        if type(fields) is not dict:
            raise CodecError(f"{self.what} has a malformed field mapping")
        return {key: self.decode(v) for key, v in fields.items()}

    def decode_items(self, items: Any, tag: str) -> list[Any]:
        if type(items) is not list:
            raise CodecError(f"{self.what} has a malformed {tag} node")
        return [self.decode(v) for v in items]

    def blob(self, ref: Any) -> npt.NDArray[Any]:
        if type(ref) is not int or not 0 <= ref < len(self._blobs):
            raise CodecError(f"{self.what} refers to missing blob {str(ref)[:80]}")
        return array_from_bytes(self._blobs[ref])

    def _scalar_blob(self, ref: Any) -> Any:
        array = self.blob(ref)
        if array.ndim != 0:
            raise CodecError(f"{self.what} scalar blob {ref} has shape {array.shape}")
        return array[()]

    def _frame(self, body: Any) -> Any:
        from reprolam.codecs._frame import decode_frame

        if type(body) is not dict:
            raise CodecError(f"{self.what} has a malformed $frame node")
        try:
            return decode_frame(body, self._blobs)
        except CodecError:
            raise
        except Exception as exc:  # KeyError, TypeError, pandas ValueError...
            raise CodecError(
                f"{self.what} has a malformed frame: {type(exc).__name__}: {exc}"
            ) from exc

    def resolve(self, path: str) -> type:
        return resolve_class(path, trusted=self._trusted)

    def _model(self, body: Any) -> Any:
        from reprolam.codecs._model import decode_model

        return decode_model(body, self._blobs, trusted=self._trusted)

    def _sparse(self, body: Any) -> Any:
        return decode_sparse(body, self.blob)

    def _function(self, body: Any) -> Any:
        return function_from(body, trusted=self._trusted, what=self.what)

    def restore_object(self, path: str, state: dict[str, Any], *, versioned: bool) -> Any:
        cls: Any = resolve_class(path, trusted=self._trusted)
        obj = cls.__new__(cls)
        if versioned and self._sklearn_version is not None:
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
            raise CodecError(f"{self.what} asks to construct {path!r}, which is not allowed")
        cls = resolve_class(path, trusted=self._trusted)
        args = self.decode(body["args"])
        if type(args) is not tuple:
            raise CodecError(f"{self.what} has malformed constructor args for {path!r}")
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
        return numpy_scalar_from(body, self.what)

    def _type(self, body: Any) -> Any:
        module, _, name = str(body).partition(":")
        found = getattr(np, name, None) if module == "numpy" else _BUILTIN_TYPES.get(name)
        if module == "numpy" and not (isinstance(found, type) and issubclass(found, np.generic)):
            found = None
        if found is None or module not in ("numpy", "builtins"):
            raise CodecError(f"{self.what} names a type that is not allowed: {body!r}")
        return found

    def _randomstate(self, body: Any) -> Any:
        state = np.random.RandomState()
        state.set_state(self.decode(body))
        return state

    def _generator(self, body: Any) -> Any:
        name = body["bit_generator"]
        if name not in _BIT_GENERATORS:
            raise CodecError(f"{self.what} names an unknown bit generator {name!r}")
        bit_generator = getattr(np.random, name)()
        bit_generator.state = self.decode(body["state"])
        return np.random.Generator(bit_generator)


def _body_only(decode: Any) -> Any:
    return lambda _decoder, body: decode(body)


_HANDLERS: dict[str, Any] = {
    "$list": lambda d, b: d.decode_items(b, "$list"),
    "$tuple": lambda d, b: tuple(d.decode_items(b, "$tuple")),
    "$dict": lambda d, b: d.decode_fields(b),
    "$map": lambda d, b: {d.decode(k): d.decode(v) for k, v in b},
    "$set": lambda d, b: set(d.decode_items(b, "$set")),
    "$frozenset": lambda d, b: frozenset(d.decode_items(b, "$frozenset")),
    "$bytes": lambda d, b: bytes.fromhex(b),
    "$slice": lambda d, b: slice(*(d.decode(v) for v in b)),
    "$npy": lambda d, b: d.blob(b),
    "$np0": TreeDecoder._scalar_blob,
    "$np": TreeDecoder._numpy_scalar,
    "$objarray": TreeDecoder._objarray,
    "$masked": TreeDecoder._masked_array,
    "$dtype": lambda d, b: np.dtype(str(b)),
    "$type": TreeDecoder._type,
    "$randomstate": TreeDecoder._randomstate,
    "$generator": TreeDecoder._generator,
    "$object": TreeDecoder._object,
    "$reduce": TreeDecoder._reduce,
    "$frame": TreeDecoder._frame,
    "$model": TreeDecoder._model,
    "$sparse": TreeDecoder._sparse,
    "$function": TreeDecoder._function,
    "$bunch": _bunch,
    "$binarytree": _binary_tree,
    **{tag: _body_only(fn) for tag, fn in SCALAR_DECODERS.items()},
}
