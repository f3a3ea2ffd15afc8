"""Recover the rates of a Lotka-Volterra predator-prey system from noisy counts, then forecast.

An AI Scientist template: ``python experiment.py --out_dir=run_0`` writes
``run_0/final_info.json`` as ``{dataset: {"means": {...}, "stderrs": {...}}}`` and the fitted
trajectory for plot.py. The seed (``LABLOOP_SEED``) draws the observation noise; an optional
``params.json`` sets the fitting options that labloop's search strategy tunes.
"""

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
from scipy.integrate import solve_ivp
from scipy.optimize import least_squares

TRUE_RATES = np.array([1.1, 0.4, 0.1, 0.4])  # prey growth, predation, predator growth, predator death
START = np.array([10.0, 5.0])
OBSERVED_UNTIL, FORECAST_UNTIL = 15.0, 30.0
OPTIONS = {"method": "trf", "log_space": False, "restarts": 1, "rtol": 1e-3, "guess": 0.5}


def lotka_volterra(_t, z, a, b, d, g):
    x, y = z
    return [a * x - b * x * y, d * x * y - g * y]


def simulate(rates, times, rtol):
    sol = solve_ivp(lotka_volterra, (0.0, times[-1]), START, t_eval=times, args=tuple(rates), rtol=rtol,
                    atol=rtol * 1e-2, method="LSODA")
    if not sol.success or sol.y.shape[1] != len(times):
        return np.full((2, len(times)), 1e6)
    return sol.y


def fit(times, counts, options, rng):
    log_space = bool(options["log_space"])

    def residuals(theta):
        rates = np.exp(theta) if log_space else theta
        return (simulate(rates, times, options["rtol"]) - counts).ravel()

    best = None
    for attempt in range(int(options["restarts"])):
        guess = np.full(4, float(options["guess"])) * (1.0 if attempt == 0 else rng.uniform(0.3, 3.0, 4))
        start = np.log(guess) if log_space else guess
        bounds = (-np.inf, np.inf) if log_space or options["method"] == "lm" else (1e-6, 10.0)
        result = least_squares(residuals, start, method=options["method"], bounds=bounds, max_nfev=200)
        if best is None or result.cost < best.cost:
            best = result
    return np.exp(best.x) if log_space else best.x


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out_dir", type=str, default="run_0")
    out_dir = Path(parser.parse_args().out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    options = dict(OPTIONS)
    if Path("params.json").exists():
        options.update(json.loads(Path("params.json").read_text()))
    seed = int(os.environ.get("LABLOOP_SEED", "0"))
    rng = np.random.default_rng(seed)

    times = np.linspace(0.0, OBSERVED_UNTIL, 40)
    truth = simulate(TRUE_RATES, times, 1e-9)
    counts = truth * rng.lognormal(0.0, 0.1, truth.shape)
    started = time.time()
    rates = fit(times, counts, options, rng)
    fit_time = time.time() - started

    future = np.linspace(OBSERVED_UNTIL, FORECAST_UNTIL, 60)
    span = np.concatenate([times, future[1:]])
    predicted = simulate(rates, span, 1e-8)
    actual = simulate(TRUE_RATES, span, 1e-9)
    ahead = slice(len(times), None)
    forecast_rmse = float(np.sqrt(np.mean((predicted[:, ahead] - actual[:, ahead]) ** 2)))
    rate_error = float(np.mean(np.abs(rates - TRUE_RATES) / TRUE_RATES))
    print(f"seed={seed} options={options} rates={np.round(rates, 4).tolist()} "
          f"forecast_rmse={forecast_rmse:.4f} rate_error={rate_error:.4f}")

    means = {"forecast_rmse": min(forecast_rmse, 1e6), "rate_error": min(rate_error, 1e6), "fit_time_s": fit_time}
    final_info = {"lotka_volterra": {"means": means, "stderrs": {k: 0.0 for k in means}}}
    (out_dir / "final_info.json").write_text(json.dumps(final_info, indent=2))
    np.savez(out_dir / "trajectory.npz", times=times, counts=counts, span=span, predicted=predicted, actual=actual)


if __name__ == "__main__":
    main()
