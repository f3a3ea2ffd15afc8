"""Baseline: an SVM on scikit-learn's digits, following labloop's metrics protocol.

Reads parameters from params.json (absent or {} for the baseline) and a seed from
LABLOOP_SEED (it picks the train/test split), writes metrics.json and a confusion-matrix
plot to $LABLOOP_OUTPUT.
"""

import json
import os
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.metrics import ConfusionMatrixDisplay, accuracy_score
from sklearn.model_selection import train_test_split
from sklearn.svm import SVC

params = {"C": 0.05, "gamma": 0.0001, "kernel": "rbf"}
if Path("params.json").exists():
    params.update(json.loads(Path("params.json").read_text()))
seed = int(os.environ.get("LABLOOP_SEED", "0"))
out = Path(os.environ.get("LABLOOP_OUTPUT", "output"))
out.mkdir(parents=True, exist_ok=True)

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.3, random_state=seed, stratify=y
)
started = time.perf_counter()
model = SVC(C=float(params["C"]), gamma=float(params["gamma"]), kernel=str(params["kernel"]))
model.fit(X_train, y_train)
predicted = model.predict(X_test)
accuracy = accuracy_score(y_test, predicted)
print(f"params={params} seed={seed} accuracy={accuracy:.4f}")

fig, ax = plt.subplots(figsize=(5, 5))
ConfusionMatrixDisplay.from_predictions(y_test, predicted, ax=ax, colorbar=False)
ax.set_title(f"accuracy {accuracy:.3f}")
fig.savefig(out / "confusion.png", dpi=80)

(out / "metrics.json").write_text(
    json.dumps(
        {
            "accuracy": accuracy,
            "train_seconds": time.perf_counter() - started,
            "support_vectors": int(model.n_support_.sum()),
        }
    )
)
