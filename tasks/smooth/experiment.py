"""A smooth synthetic accuracy surface over learning rate, weight decay and warm-up.

The optimum (0.95) is at lr = 10^-2.5, weight decay = 10^-4, warm-up = 0.1; the surface is a
smooth bowl in log space, so a model-based sampler should find it faster than random draws.
"""

import json
import math
import os
from pathlib import Path

OPTIMUM = 0.95


def objective(params: dict, seed: int = 0) -> float:
    """Accuracy at ``params``; the seed adds a small offset that paired seeds cancel."""
    lr = math.log10(float(params.get("lr", 1e-4)))
    wd = math.log10(float(params.get("weight_decay", 1e-6)))
    warmup = float(params.get("warmup", 0.3))
    loss = 0.012 * (lr + 2.5) ** 2 + 0.006 * (wd + 4.0) ** 2 + 0.4 * (warmup - 0.1) ** 2
    return OPTIMUM - loss + 0.001 * (seed % 5)


if __name__ == "__main__":
    params = json.loads(Path("params.json").read_text()) if Path("params.json").exists() else {}
    accuracy = objective(params, int(os.environ.get("LABLOOP_SEED", "0")))
    print(f"params={params} accuracy={accuracy:.6f}")
    Path(os.environ["LABLOOP_OUTPUT"], "metrics.json").write_text(json.dumps({"accuracy": accuracy}))
