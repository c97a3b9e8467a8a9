"""Numeric closeness for ``reproduce --rtol``: "equal within tolerance", never "identical"."""

from __future__ import annotations

import math
from typing import Any


def values_close(a: Any, b: Any, rtol: float, *, atol: float = 0.0) -> bool:
    """Whether two decoded artifact values are equal up to a relative tolerance on floats."""
    import numpy as np
    import pandas as pd

    if isinstance(a, float | int) and isinstance(b, float | int) and not isinstance(a, bool):
        return math.isclose(a, b, rel_tol=rtol, abs_tol=atol) or (math.isnan(a) and math.isnan(b))
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        return _arrays_close(a, b, rtol, atol)
    if isinstance(a, pd.DataFrame) and isinstance(b, pd.DataFrame):
        return _raises_nothing(pd.testing.assert_frame_equal, a, b, rtol, atol)
    if isinstance(a, pd.Series) and isinstance(b, pd.Series):
        return _raises_nothing(pd.testing.assert_series_equal, a, b, rtol, atol)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(values_close(a[k], b[k], rtol, atol=atol) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(
            values_close(x, y, rtol, atol=atol) for x, y in zip(a, b, strict=True)
        )
    if type(a) is type(b) and hasattr(a, "__dict__") and hasattr(b, "__dict__"):
        # Fitted estimators and other plain objects: compare their state attribute by attribute.
        return values_close(vars(a), vars(b), rtol, atol=atol)
    try:
        return bool(a == b)
    except Exception:
        return False


def _raises_nothing(check: Any, a: Any, b: Any, rtol: float, atol: float) -> bool:
    try:
        check(a, b, check_exact=False, rtol=rtol, atol=atol)
    except AssertionError:
        return False
    return True


def _arrays_close(a: Any, b: Any, rtol: float, atol: float) -> bool:
    import numpy as np

    if a.shape != b.shape or a.dtype.kind != b.dtype.kind:
        return False
    if a.dtype.kind in "fc":
        return bool(np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True))
    return bool(np.array_equal(a, b))
