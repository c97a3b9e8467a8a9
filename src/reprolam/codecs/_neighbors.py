"""Value-tree node for scikit-learn's KD-trees and ball trees (held by every neighbors model).

Their pickled state is a dozen native arrays and counters that prediction indexes without
bounds checks, so a crafted one could crash the process. The node therefore keeps only
what builds the tree -- the training data, ``leaf_size``, the distance metric and sample
weights -- and decoding rebuilds it with the tree's own constructor, which validates its
input and is deterministic (equal data give an equal tree). Query counters are not kept.
The metric is a ``DistanceMetric`` of ``sklearn.metrics._dist_metrics`` restored from its
``(p, vec, mat)`` state, whose array sizes are checked against the data's dimension.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from reprolam.codecs._scalars import Unrepresentable
from reprolam.errors import CodecError

_TREES = frozenset({"sklearn.neighbors._kd_tree:KDTree", "sklearn.neighbors._ball_tree:BallTree"})
_METRICS_MODULE = "sklearn.metrics._dist_metrics"


def is_binary_tree(path: str) -> bool:
    return path in _TREES


def encode_binary_tree(value: Any, path: str, encode: Callable[[Any], Any]) -> Any:
    state = value.__getstate__()
    data, leaf_size, metric, sample_weight = state[0], state[4], state[11], state[12]
    metric_cls = type(metric)
    if metric_cls.__module__ != _METRICS_MODULE:
        raise Unrepresentable(f"{path} uses metric {metric_cls.__qualname__}")
    p, vec, mat = metric.__reduce__()[2]
    return {
        "$binarytree": {
            "class": path,
            "data": encode(np.asarray(data)),
            "leaf_size": int(leaf_size),
            "metric": [metric_cls.__qualname__, float(p), encode(vec), encode(mat)],
            "sample_weight": encode(sample_weight),
        }
    }


def decode_binary_tree(body: Any, decode: Callable[[Any], Any], resolve: Any) -> Any:
    import sklearn.metrics._dist_metrics as metrics

    path = str(body["class"])
    if path not in _TREES:
        raise CodecError(f"artifact asks to build {path[:80]!r}, which is not a neighbors tree")
    data = decode(body["data"])
    if type(data) is not np.ndarray or data.ndim != 2:
        raise CodecError("neighbors tree data is not a 2-D array")
    name, p, vec_node, mat_node = body["metric"]
    metric_cls = getattr(metrics, str(name), None)
    if not isinstance(metric_cls, type) or not issubclass(metric_cls, metrics.DistanceMetric):
        raise CodecError(f"neighbors tree names an unknown metric {str(name)[:80]!r}")
    vec, mat = decode(vec_node), decode(mat_node)
    dim = data.shape[1]
    if (
        type(vec) is not np.ndarray
        or type(mat) is not np.ndarray
        or vec.dtype != np.float64
        or mat.dtype != np.float64
        or vec.shape not in ((1,), (dim,))
        or mat.shape not in ((1, 1), (dim, dim))
    ):
        raise CodecError("neighbors tree metric parameters do not fit the data's dimension")
    metric: Any = metric_cls.__new__(metric_cls)  # type: ignore[call-overload]
    metric.__setstate__((float(p), vec, mat))
    tree_cls = resolve(path)
    return tree_cls(
        data,
        leaf_size=int(body["leaf_size"]),
        metric=metric,
        sample_weight=decode(body["sample_weight"]),
    )
