"""Fit every estimator scikit-learn lists in ``all_estimators()`` and round-trip it.

Shared by ``test_codecs_sklearn.py`` and runnable as a script (prints the coverage).
"""

from __future__ import annotations

import warnings
from typing import Any


def _data(kind: str) -> tuple[Any, Any]:
    import numpy as np

    rng = np.random.default_rng(0)
    X = np.abs(rng.normal(size=(40, 4))) + 0.1
    if kind == "regressor":
        return X, X @ np.array([1.0, -2.0, 0.5, 0.0]) + rng.normal(size=40) * 0.1
    if kind == "multioutput":
        return X, np.stack([X[:, 0], X[:, 1]], axis=1)
    return X, np.array([0, 1] * 20)


def _instance(cls: type) -> Any:
    """An instance with required args filled the way scikit-learn's own tests do."""
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.utils._test_common.instance_generator import _construct_instances

    try:
        est = next(iter(_construct_instances(cls)))
    except Exception:
        name = cls.__name__
        est = cls(LinearRegression() if "Regress" in name else LogisticRegression())
    if "random_state" in est.get_params():
        est.set_params(random_state=0)  # so that predicting twice gives the same answer
    return est


def fit_and_round_trip() -> tuple[list[str], dict[str, str], dict[str, str]]:
    """(encoded, refused {name: reason}, unfittable {name: reason})."""
    import numpy as np
    from sklearn.base import is_regressor
    from sklearn.utils import all_estimators

    from reprolam.codecs import default_serializer

    ser = default_serializer()
    encoded: list[str] = []
    refused: dict[str, str] = {}
    unfittable: dict[str, str] = {}
    for name, cls in all_estimators():
        try:
            est = _instance(cls)
            kind = "regressor" if is_regressor(est) else "classifier"
            if name.startswith("MultiTask"):
                kind = "multioutput"
            X, y = _data(kind)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    est.fit(X, y)
                except TypeError:
                    est.fit(X)
        except Exception as exc:  # needs special data (text, images, graphs...): not counted
            unfittable[name] = f"{type(exc).__name__}: {str(exc)[:100]}"
            continue
        try:
            tag, data = ser.dumps_typed(est)
            back = ser.loads_typed(tag, data)
            if ser.dumps_typed(back) != (tag, data):
                raise AssertionError("re-encoding the decoded estimator gives other bytes")
            for method in ("predict", "transform"):
                if hasattr(est, method):
                    try:
                        want = getattr(est, method)(X)
                    except Exception:
                        continue
                    got = getattr(back, method)(X)
                    if hasattr(want, "toarray"):
                        want, got = want.toarray(), got.toarray()
                    # Arrays come back C-ordered; BLAS may then round the last bit differently.
                    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-12)
            encoded.append(name)
        except Exception as exc:
            refused[name] = f"{type(exc).__name__}: {str(exc)[:300]}"
    return encoded, refused, unfittable


def report() -> str:
    encoded, refused, unfittable = fit_and_round_trip()
    fitted = len(encoded) + len(refused)
    lines = [
        f"scikit-learn coverage: {len(encoded)}/{fitted} fitted estimators round-trip "
        f"({100 * len(encoded) / fitted:.1f}%); {len(unfittable)} not fittable on a small "
        "dense dataset"
    ]
    lines += [f"  refused {name}: {why}" for name, why in sorted(refused.items())]
    return "\n".join(lines)


if __name__ == "__main__":
    print(report())
