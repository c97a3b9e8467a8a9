"""The Breast Cancer workflow as a plain script: the same five steps with scikit-learn and
NumPy, no reprolam and no pydantic import.

The whole-process baseline of issue 21 for ``reprolam run`` (see bench_e2e.py): same data,
same computations (seeded split, scaler fit on the train split, logistic regression, five
metrics), nothing validated or recorded.
"""

import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score
from sklearn.preprocessing import StandardScaler

# load_dataset
bunch = load_breast_cancer(as_frame=True)
X, y = bunch.data, bunch.target.to_numpy()

# analyze_data
described = X.describe().T
stats = {
    "n_samples": len(X),
    "n_features": X.shape[1],
    "missing_values": int(X.isna().sum().sum()),
    "features": {
        str(name): {"mean": float(row["mean"]), "std": float(row["std"])}
        for name, row in described.iterrows()
    },
}

# preprocess_data
order = np.random.default_rng(1).permutation(len(X))
n_test = round(len(X) * 0.25)
train, test = sorted(order[n_test:].tolist()), sorted(order[:n_test].tolist())
scaler = StandardScaler().fit(X.iloc[train])
X_processed = pd.DataFrame(scaler.transform(X), columns=X.columns, index=X.index)

# train_model
model = LogisticRegression(C=1.0, max_iter=1000, random_state=2)
model.fit(X_processed.iloc[train], y[train])

# evaluate_model
X_test, y_test = X_processed.iloc[test], y[test]
predicted = model.predict(X_test)
metrics = {
    "accuracy": float(accuracy_score(y_test, predicted)),
    "precision": float(precision_score(y_test, predicted)),
    "recall": float(recall_score(y_test, predicted)),
    "f1": float(f1_score(y_test, predicted)),
    "roc_auc": float(roc_auc_score(y_test, model.predict_proba(X_test)[:, 1])),
    "n_test": len(test),
}
print(metrics["accuracy"])
