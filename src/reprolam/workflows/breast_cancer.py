"""The paper's workflow: Breast Cancer Wisconsin, logistic regression, five actions.

The data ships inside scikit-learn; nothing is downloaded. The train/test split is an
explicit artifact drawn from the run's seed, so train and evaluate provably use the same one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from reprolam.actions import action
from reprolam.context import ActionContext
from reprolam.params import Field
from reprolam.workflows.registry import workflow as make_workflow

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

Split = dict[str, list[int]]


@action(outputs=["X", "y"], determinism="pure")
def load_dataset() -> tuple[pd.DataFrame, np.ndarray]:
    """Load the Breast Cancer Wisconsin data shipped with scikit-learn (569 samples x 30)."""
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer(as_frame=True)
    return bunch.data, bunch.target.to_numpy()


@action(outputs=["stats"], determinism="pure", optional=True)
def analyze_data(X: pd.DataFrame) -> dict[str, Any]:
    """Summarize the features: shape, missing values, per-feature mean and standard deviation."""
    described = X.describe().T
    return {
        "n_samples": len(X),
        "n_features": X.shape[1],
        "missing_values": int(X.isna().sum().sum()),
        "features": {
            str(name): {"mean": float(row["mean"]), "std": float(row["std"])}
            for name, row in described.iterrows()
        },
    }


@action(outputs=["X_processed", "split"], determinism="seeded")
def preprocess_data(
    X: pd.DataFrame,
    *,
    test_size: Annotated[float, Field(gt=0.05, lt=0.5)] = 0.25,
    scaler: Literal["standard", "minmax", "none"] = "standard",
    ctx: ActionContext,
) -> tuple[pd.DataFrame, Split]:
    """Draw a seeded train/test split; scale the features with a scaler fit on the train split."""
    import pandas as pd
    from sklearn.preprocessing import MinMaxScaler, StandardScaler

    order = ctx.rng.permutation(len(X))
    n_test = round(len(X) * test_size)
    split = {"train": sorted(order[n_test:].tolist()), "test": sorted(order[:n_test].tolist())}
    if scaler == "none":
        return X.copy(), split
    transformer = StandardScaler() if scaler == "standard" else MinMaxScaler()
    transformer.fit(X.iloc[split["train"]])
    scaled = pd.DataFrame(transformer.transform(X), columns=X.columns, index=X.index)
    return scaled, split


@action(outputs=["model"], determinism="seeded")
def train_model(
    X_processed: pd.DataFrame,
    y: np.ndarray,
    split: Split,
    *,
    C: Annotated[float, Field(gt=0, le=1e4, description="inverse regularization strength")] = 1.0,
    max_iter: Annotated[int, Field(ge=10, le=100_000)] = 1000,
    ctx: ActionContext,
) -> LogisticRegression:
    """Fit a logistic regression classifier on the train split."""
    from sklearn.linear_model import LogisticRegression

    train = split["train"]
    model = LogisticRegression(C=C, max_iter=max_iter, random_state=ctx.seed)
    model.fit(X_processed.iloc[train], y[train])
    return model


@action(outputs=["metrics"], determinism="pure")
def evaluate_model(
    model: LogisticRegression, X_processed: pd.DataFrame, y: np.ndarray, split: Split
) -> dict[str, float]:
    """Score the model on the held-out test split: accuracy, precision, recall, F1 and ROC AUC."""
    from sklearn.metrics import (
        accuracy_score,
        f1_score,
        precision_score,
        recall_score,
        roc_auc_score,
    )

    test = split["test"]
    X_test, y_test = X_processed.iloc[test], y[test]
    predicted = model.predict(X_test)
    return {
        "accuracy": float(accuracy_score(y_test, predicted)),
        "precision": float(precision_score(y_test, predicted)),
        "recall": float(recall_score(y_test, predicted)),
        "f1": float(f1_score(y_test, predicted)),
        "roc_auc": float(roc_auc_score(y_test, model.predict_proba(X_test)[:, 1])),
        "n_test": len(test),
    }


ACTIONS = (load_dataset, analyze_data, preprocess_data, train_model, evaluate_model)

workflow = make_workflow(
    "breast-cancer",
    ACTIONS,
    outputs=["model", "metrics"],
    metrics="metrics",
    goal="Train and evaluate a logistic regression classifier on the Breast Cancer Wisconsin data.",
    description="load_dataset -> analyze_data -> preprocess_data -> train_model -> evaluate_model",
)
