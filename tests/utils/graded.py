"""A graded task for tests: predictions judged by a grader against labels only the grader sees.

The hidden files carry names and a content token (``SECRET``) found nowhere else, so a test can
search a container, a prompt or an API answer for them.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

SECRET = "SECRET-4f9c2e"
GRADER_FILE = "grade_4f9c.py"
HIDDEN_FOLDER = "private_4f9c"
LABELS_FILE = f"{HIDDEN_FOLDER}/answers_4f9c.csv"
TRAIN_FILE = "train_4f9c.csv"
LABELS = ["0", "1", "1", "0"]

# The grader: accuracy of $LABLOOP_SUBMISSION/predictions.csv against the hidden labels. It fails,
# with a message saying what to fix, on missing or malformed predictions.
GRADER = f'''
    import json, os, sys, time
    from pathlib import Path
    # {SECRET}
    time.sleep(float(Path("slow_grader.txt").read_text()) if Path("slow_grader.txt").exists() else 0.0)
    sub = Path(os.environ["LABLOOP_SUBMISSION"]) / "predictions.csv"
    if not sub.is_file():
        sys.exit("no predictions: write one label per line to $LABLOOP_OUTPUT/predictions.csv")
    pred = sub.read_text().split()
    truth = [l for l in Path("{LABELS_FILE}").read_text().splitlines() if l and not l.startswith("#")]
    if len(pred) != len(truth):
        sys.exit(f"bad format: {{len(pred)}} predictions for {{len(truth)}} rows")
    accuracy = sum(p == t for p, t in zip(pred, truth)) / len(truth)
    metrics = {{"accuracy": accuracy, "grader_seed": float(os.environ["LABLOOP_SEED"])}}
    Path(os.environ["LABLOOP_OUTPUT"], "metrics.json").write_text(json.dumps(metrics))
'''

# The baseline: predicts all zeros (accuracy 0.5) and honestly says so.
BASELINE = '''
    import json, os
    from pathlib import Path
    out = Path(os.environ["LABLOOP_OUTPUT"])
    (out / "predictions.csv").write_text("0\\n0\\n0\\n0\\n")
    (out / "metrics.json").write_text(json.dumps({"accuracy": 0.5}))
'''


def predictor(predictions: list[str], claimed: float | None) -> str:
    """An experiment that writes ``predictions`` and claims ``claimed`` (None: writes no metrics.json)."""
    claim = "" if claimed is None else f'(out / "metrics.json").write_text(json.dumps({{"accuracy": {claimed}}}))\n'
    return ("import json, os\nfrom pathlib import Path\nout = Path(os.environ['LABLOOP_OUTPUT'])\n"
            f"(out / 'predictions.csv').write_text({chr(10).join(predictions)!r} + '\\n')\n" + claim)


def make_graded_task(folder: Path, *, name: str = "graded", code: str = BASELINE,
                     budget: Mapping[str, Any] | None = None, search: Mapping[str, Any] | None = None,
                     extra: Mapping[str, str] | None = None, timeout_s: float = 30) -> Path:
    """Write the graded task folder and return it."""
    (folder / HIDDEN_FOLDER).mkdir(parents=True)
    spec: dict[str, Any] = {
        "name": name, "goal": "Predict the hidden labels.", "metric": {"name": "accuracy", "direction": "maximize"},
        "entrypoint": "python3 predict.py", "replicates": 2,
        "budget": {"iterations": 1, "experiment_timeout_s": 120, "debug_attempts": 2, "llm_tokens": 200_000,
                   **(budget or {})},
        "sandbox": {"cpus": 1.0, "memory": "256m", "network": "none"},
        "search": {"parallel": 1, **(search or {})},
        "evaluation": {"command": f"python3 {GRADER_FILE}", "files": [GRADER_FILE, HIDDEN_FOLDER],
                       "timeout_s": timeout_s},
        "protect": [TRAIN_FILE],
    }
    (folder / "task.yaml").write_text(yaml.safe_dump(spec))
    (folder / "predict.py").write_text(textwrap.dedent(code).lstrip())
    (folder / GRADER_FILE).write_text(textwrap.dedent(GRADER).lstrip())
    (folder / LABELS_FILE).write_text("\n".join(LABELS) + f"\n# {SECRET}\n")
    (folder / TRAIN_FILE).write_text("x,y\n1,0\n2,1\n")
    for rel, text in (extra or {}).items():
        (folder / rel).write_text(text)
    return folder
