"""Linear regression trained by a few steps of gradient descent with momentum.

Learning rates near the divergence boundary train best in few steps; past it the weights blow
up and the run crashes (a FloatingPointError, no metrics). The seed picks the data sample.
"""

import json
import math
import os
import random
from pathlib import Path

STEPS = 8
W_TRUE = (1.5, -2.0, 0.5)
SCALES = (1.0, 0.7, 0.4)


def sample(seed: int) -> tuple[list[list[float]], list[float], list[list[float]], list[float]]:
    """60 training and 40 validation rows of y = W_TRUE · x + noise."""
    rng = random.Random(1000 + seed)
    rows = [[rng.gauss(0.0, s) for s in SCALES] for _ in range(100)]
    ys = [sum(w * x for w, x in zip(W_TRUE, row, strict=True)) + rng.gauss(0.0, 0.3) for row in rows]
    return rows[:60], ys[:60], rows[60:], ys[60:]


def mse(w: list[float], rows: list[list[float]], ys: list[float]) -> float:
    """Mean squared error of weights ``w``."""
    return sum((sum(a * b for a, b in zip(w, row, strict=True)) - y) ** 2 for row, y in zip(rows, ys, strict=True)) / len(rows)


def objective(params: dict, seed: int = 0) -> float:
    """The validation loss after training; raises FloatingPointError when training diverges."""
    lr, beta = float(params.get("lr", 0.01)), float(params.get("momentum", 0.0))
    train_x, train_y, val_x, val_y = sample(seed)
    w, v = [0.0] * 3, [0.0] * 3
    for _ in range(STEPS):
        grad = [0.0] * 3
        for row, y in zip(train_x, train_y, strict=True):
            err = sum(a * b for a, b in zip(w, row, strict=True)) - y
            for j in range(3):
                grad[j] += 2.0 * err * row[j] / len(train_x)
        v = [beta * vj - lr * gj for vj, gj in zip(v, grad, strict=True)]
        w = [wj + vj for wj, vj in zip(w, v, strict=True)]
        if any(not math.isfinite(x) or abs(x) > 1e3 for x in w):
            raise FloatingPointError(f"training diverged at lr={lr:g}, momentum={beta:g}: the weights blew up")
    return mse(w, val_x, val_y)


if __name__ == "__main__":
    params = json.loads(Path("params.json").read_text()) if Path("params.json").exists() else {}
    loss = objective(params, int(os.environ.get("LABLOOP_SEED", "0")))
    print(f"params={params} val_loss={loss:.6f}")
    Path(os.environ["LABLOOP_OUTPUT"], "metrics.json").write_text(json.dumps({"val_loss": loss}))
