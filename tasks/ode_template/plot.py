"""Plot every run_*/ folder: the forecast of each run against the truth, and its error."""

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

labels = {"run_0": "Baseline", "run_1": "Incumbent"}
runs = sorted(p for p in Path(".").glob("run_*") if (p / "final_info.json").is_file())

fig, axes = plt.subplots(1, 2, figsize=(11, 4))
for run in runs:
    data = np.load(run / "trajectory.npz")
    label = labels.get(run.name, run.name)
    axes[0].plot(data["span"], data["predicted"][0], label=f"{label}: prey")
    axes[0].plot(data["span"], data["predicted"][1], "--", label=f"{label}: predators")
if runs:
    data = np.load(runs[0] / "trajectory.npz")
    axes[0].plot(data["span"], data["actual"][0], color="black", linewidth=0.8, label="truth")
    axes[0].scatter(data["times"], data["counts"][0], s=8, color="grey", label="observed prey")
    axes[0].set_ylim(0.0, 2.0 * float(data["actual"].max()))  # a diverging fit would hide the rest
axes[0].axvline(15.0, color="grey", linestyle=":")
axes[0].set_xlabel("time")
axes[0].set_ylabel("population")
axes[0].legend(fontsize=7)
axes[0].set_title("Fitted trajectories and forecast")

names = [labels.get(r.name, r.name) for r in runs]
rmse = [next(iter(json.loads((r / "final_info.json").read_text()).values()))["means"]["forecast_rmse"] for r in runs]
axes[1].bar(names, rmse, color="#4c72b0")
axes[1].set_yscale("log")
axes[1].set_ylabel("forecast RMSE (log scale)")
axes[1].set_title("Forecast error by run")
fig.tight_layout()
fig.savefig("forecast.png", dpi=90)
