"""Fixed values for the cross-process codec stability test.

Imported by ``tests/test_codecs.py`` (in-process digests) and run as a script in fresh
interpreters (``python _codec_stability.py`` prints ``{name: [tag, digest]}`` as JSON):
equal values must give equal artifact ids in any process, whatever PYTHONHASHSEED.
"""

from __future__ import annotations

import json
from typing import Any


def stable_values() -> dict[str, Any]:
    import numpy as np
    import pandas as pd
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return {
        # Key order and a set-like mix of types: dict order must not leak into the bytes.
        "dict": {"z": [1, 2.5, None], "a": {"nested": True, "nan": float("nan")}, "é": "ü"},
        "array": np.arange(12, dtype=np.float64).reshape(3, 4).T,  # Fortran-ordered view
        "frame": pd.DataFrame(
            {"name": ["a", "b", None], "score": [0.5, np.nan, 2.0]},
            index=pd.Index([10, 20, 30], name="id"),
        ),
        # The common ML case: one float64 block (stored as one 2-D blob) and an int target.
        "cancer_frame": X,
        "cancer_target": y,
        "logreg": LogisticRegression(max_iter=5000).fit(X, y),
        "pipeline": Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression(C=0.5))]).fit(
            X, y
        ),
        "forest": RandomForestClassifier(n_estimators=3, max_depth=4, random_state=0).fit(X, y),
        # Arrays (one Fortran-ordered), a frame and numpy scalars in one container: the
        # tree codec's blob numbering and header must not depend on key order or layout.
        "tree": {
            "y": y.to_numpy(),
            "X": np.asfortranarray(X.to_numpy()),
            "head": X.iloc[:5, :3],
            "meta": {"accuracy": np.float64(0.95), "split": (0.8, 0.2), "names": ["b", "a"]},
        },
    }


def stable_digests() -> dict[str, list[str]]:
    from reprolam.codecs import default_serializer
    from reprolam.hashing import digest

    serializer = default_serializer()
    out: dict[str, list[str]] = {}
    for name, value in stable_values().items():
        tag, data = serializer.dumps_typed(value)
        out[name] = [tag, digest(data)]
    return out


if __name__ == "__main__":
    print(json.dumps(stable_digests(), sort_keys=True))
