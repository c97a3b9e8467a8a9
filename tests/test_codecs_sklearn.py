"""scikit-learn's own estimator list, fitted and round-tripped through the default chain."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from reprolam.codecs import default_serializer
from reprolam.errors import CodecError

sys.path.insert(0, str(Path(__file__).parent))
from _sklearn_coverage import fit_and_round_trip

TARGET = 0.95


@pytest.mark.slow
def test_all_estimators_coverage(capsys: pytest.CaptureFixture[str]) -> None:
    encoded, refused, unfittable = fit_and_round_trip()
    fitted = len(encoded) + len(refused)
    share = len(encoded) / fitted
    with capsys.disabled():
        print(
            f"\nscikit-learn coverage: {len(encoded)}/{fitted} fitted estimators round-trip "
            f"({100 * share:.1f}%); refused: {', '.join(sorted(refused)) or 'none'}; "
            f"not fittable on small dense data: {len(unfittable)}"
        )
    assert fitted >= 150, unfittable  # the walk really fitted most of the list
    assert share >= TARGET, refused
    for name, why in refused.items():
        assert name in why, f"the refusal of {name} does not name its class: {why}"


def _round_trip(value: Any) -> Any:
    ser = default_serializer()
    tag, data = ser.dumps_typed(value)
    back = ser.loads_typed(tag, data)
    assert ser.dumps_typed(back) == (tag, data)
    return back


def _data() -> tuple[Any, Any]:
    rng = np.random.default_rng(0)
    X = np.abs(rng.normal(size=(60, 3)))
    return X, (X[:, 0] > X[:, 1]).astype(int)


def test_pipeline_with_function_transformers_of_ufunc_and_numpy_function() -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    X, y = _data()
    model = make_pipeline(
        FunctionTransformer(np.log1p),
        FunctionTransformer(np.sqrt, inverse_func=np.square),
        LogisticRegression(),
    ).fit(X, y)
    back = _round_trip(model)
    assert back.steps[0][1].func is np.log1p
    np.testing.assert_array_equal(back.predict_proba(X), model.predict_proba(X))


def test_column_transformer_on_a_frame() -> None:
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LinearRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "c": ["a", "b", "a", "b"]})
    target = np.array([1.0, 2.0, 2.5, 4.0])
    model = Pipeline(
        [
            (
                "prep",
                ColumnTransformer(
                    [("num", StandardScaler(), ["x"]), ("cat", OneHotEncoder(), ["c"])]
                ),
            ),
            ("reg", LinearRegression()),
        ]
    ).fit(frame, target)
    np.testing.assert_array_equal(_round_trip(model).predict(frame), model.predict(frame))


def test_gradient_boosting_with_its_loss_objects() -> None:
    from sklearn.ensemble import GradientBoostingRegressor, HistGradientBoostingClassifier

    X, y = _data()
    for model in (
        GradientBoostingRegressor(n_estimators=5, random_state=0).fit(X, y.astype(float)),
        HistGradientBoostingClassifier(max_iter=5, random_state=0).fit(X, y),
    ):
        np.testing.assert_array_equal(_round_trip(model).predict(X), model.predict(X))


def test_user_function_needs_a_trusted_store_to_load() -> None:
    from sklearn.preprocessing import FunctionTransformer

    model = FunctionTransformer(_double).fit(np.ones((2, 2)))
    tag, data = default_serializer().dumps_typed(model)
    with pytest.raises(CodecError, match=r"_double.*trusted=True"):
        default_serializer().loads_typed(tag, data)
    back = default_serializer(trusted=True).loads_typed(tag, data)
    assert back.func is _double


def test_unencodable_estimator_names_its_class_and_the_fix() -> None:
    from sklearn.preprocessing import FunctionTransformer

    model = FunctionTransformer(lambda x: x).fit(np.ones((2, 2)))
    with pytest.raises(CodecError) as info:
        default_serializer().dumps_typed(model)
    message = str(info.value)
    assert "FunctionTransformer" in message
    assert "lambda" in message
    assert "register a codec" in message
    assert "trusted=True" in message
    assert "\n" not in message


def _double(x: Any) -> Any:
    return x * 2
