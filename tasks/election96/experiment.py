"""Baseline for election96: logistic regression on the survey answers, probabilities of a Dole vote.

Reads train.csv and test.csv and writes $LABLOOP_OUTPUT/predictions.csv (id,vote) for the grader.
Its own cross-validated log loss on the training rows goes to $LABLOOP_OUTPUT/metrics.json as
cv_log_loss, kept as self-reported: the grader's log_loss on the hidden labels is the one that
counts. Parameters come from params.json.
"""

import json
import os
from pathlib import Path

import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import PolynomialFeatures, StandardScaler

params = {"C": 1.0, "interactions": False}
if Path("params.json").exists():
    params.update(json.loads(Path("params.json").read_text()))
seed = int(os.environ.get("LABLOOP_SEED", "0"))

train, test = pd.read_csv("train.csv"), pd.read_csv("test.csv")
features = [c for c in test.columns if c != "id"]
steps = [PolynomialFeatures(2, include_bias=False)] if params["interactions"] else []
model = make_pipeline(*steps, StandardScaler(), LogisticRegression(C=float(params["C"]), max_iter=2000))

folds = StratifiedKFold(5, shuffle=True, random_state=seed)
held_out = cross_val_predict(model, train[features], train["vote"], cv=folds, method="predict_proba")[:, 1]
model.fit(train[features], train["vote"])

out = Path(os.environ["LABLOOP_OUTPUT"])
pd.DataFrame({"id": test["id"], "vote": model.predict_proba(test[features])[:, 1]}).to_csv(
    out / "predictions.csv", index=False)
cv_loss = log_loss(train["vote"], held_out)
(out / "metrics.json").write_text(json.dumps({"cv_log_loss": cv_loss}))  # self-reported, named for what it is
print(f"params {params}: cross-validated log loss {cv_loss:.4f} on {len(train)} training rows")
