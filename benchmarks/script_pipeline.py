"""The Breast Cancer workflow as a plain script: the same five action functions, called directly.

The whole-process baseline for ``reprolam run`` (see bench_e2e.py): same imports, same data,
same computations, nothing recorded.
"""

from reprolam.context import ActionContext
from reprolam.workflows import breast_cancer as bc

X, y = bc.load_dataset()
stats = bc.analyze_data(X)
X_processed, split = bc.preprocess_data(X, ctx=ActionContext(seed=1))
model = bc.train_model(X_processed, y, split, ctx=ActionContext(seed=2))
print(bc.evaluate_model(model, X_processed, y, split)["accuracy"])
