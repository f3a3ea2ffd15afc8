"""Estimate a Gaussian posterior's mean with emcee under a fixed budget of log-density calls."""

import json
import os
from pathlib import Path

import emcee
import numpy as np

BUDGET = 20_000  # log-density evaluations (walkers × steps)
DIM = 5

params = json.loads(Path("params.json").read_text()) if Path("params.json").exists() else {}
walkers = max(2 * DIM, int(params.get("walkers_per_dim", 2)) * DIM)
walkers += walkers % 2
stretch = float(params.get("stretch", 2.0))
burn_fraction = float(params.get("burn_fraction", 0.0))
seed = int(os.environ.get("LABLOOP_SEED", "0"))

rng = np.random.default_rng(1234)  # the problem is fixed; the seed only drives the sampler
true_mean = rng.normal(0.0, 3.0, DIM)
a = rng.normal(size=(DIM, DIM))
cov = a @ a.T + DIM * np.eye(DIM)
precision = np.linalg.inv(cov)


def log_prob(x: np.ndarray) -> float:
    d = x - true_mean
    return -0.5 * float(d @ precision @ d)


steps = BUDGET // walkers
sampler = emcee.EnsembleSampler(walkers, DIM, log_prob, moves=emcee.moves.StretchMove(a=stretch))
sampler.random_state = np.random.RandomState(seed).get_state()
start = np.random.default_rng(seed).normal(0.0, 10.0, (walkers, DIM))  # far from the posterior
sampler.run_mcmc(start, steps, progress=False)
chain = sampler.get_chain(discard=int(burn_fraction * steps), flat=True)
error = float(np.linalg.norm(chain.mean(axis=0) - true_mean))
print(f"emcee {emcee.__version__}: {walkers} walkers x {steps} steps, stretch={stretch:.2f}, "
      f"burn={burn_fraction:.2f}, seed={seed}: mean error {error:.4f}")
Path(os.environ["LABLOOP_OUTPUT"], "metrics.json").write_text(json.dumps({
    "mean_error": error, "acceptance": float(np.mean(sampler.acceptance_fraction)),
}))
