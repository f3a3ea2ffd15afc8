"""The grader of election96: scores predictions.csv against the hidden labels in private/.

It runs in its own sandbox run after every experiment: the experiment's outputs are read-only
at $LABLOOP_SUBMISSION, the hidden labels sit beside this file, and the metrics go to
$LABLOOP_OUTPUT/metrics.json. Everything in the submission is untrusted: a bad file fails the
run with a message that says what to fix (it reaches the model like a traceback).

Seed 0 scores the whole hidden test set. Any other seed scores a bootstrap resample of it
(drawn from the seed), the same rows for every experiment graded on that seed, so the paired
seeds of a verification measure how much a gain depends on which voters were held out.
"""

import csv
import json
import math
import os
import random
import sys
from pathlib import Path
from typing import NoReturn

MAX_BYTES = 1_000_000  # a prediction file for 236 rows is a few KB
CLIP = 1e-6  # log loss of a confident wrong answer is large, never infinite


def fail(message: str) -> NoReturn:
    """Fail the run with a message the experiment's author can act on."""
    sys.stderr.write(f"grader: {message}\n")
    sys.exit(1)


def read_predictions(path: Path, ids: list[str]) -> dict[str, float]:
    """The submitted probability of a Dole vote by respondent id, checked row by row."""
    if not path.is_file():
        fail("no predictions.csv in the experiment's outputs: write $LABLOOP_OUTPUT/predictions.csv "
             "with the columns id,vote (vote = the probability of a Dole vote, one row per id of test.csv)")
    if path.stat().st_size > MAX_BYTES:
        fail(f"predictions.csv is larger than {MAX_BYTES} bytes; it needs one short row per id of test.csv")
    with path.open(newline="", encoding="utf-8", errors="replace") as handle:
        rows = list(csv.reader(handle))
    if not rows or [c.strip() for c in rows[0]] != ["id", "vote"]:
        fail(f"predictions.csv must start with the header 'id,vote', got {','.join(rows[0])[:80] if rows else 'nothing'!r}")
    found: dict[str, float] = {}
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != 2:
            fail(f"predictions.csv line {number}: expected 2 columns (id,vote), got {len(row)}")
        key, text = row[0].strip(), row[1].strip()
        try:
            value = float(text)
        except ValueError:
            fail(f"predictions.csv line {number}: vote {text[:40]!r} is not a number")
        if not math.isfinite(value) or not 0.0 <= value <= 1.0:
            fail(f"predictions.csv line {number}: vote {text[:40]!r} is not a probability in [0, 1]")
        if key in found:
            fail(f"predictions.csv line {number}: id {key[:20]!r} appears twice")
        found[key] = value
    missing = [i for i in ids if i not in found]
    extra = [i for i in found if i not in set(ids)]
    if missing or extra:
        fail(f"predictions.csv must have exactly the {len(ids)} ids of test.csv: "
             f"{len(missing)} missing (e.g. {missing[:3]}), {len(extra)} unknown (e.g. {extra[:3]})")
    return found


def main() -> None:
    here = Path(__file__).resolve().parent
    with (here / "private" / "test_labels.csv").open(newline="", encoding="utf-8") as handle:
        labels = {row["id"]: int(row["vote"]) for row in csv.DictReader(handle)}
    ids = list(labels)
    predicted = read_predictions(Path(os.environ["LABLOOP_SUBMISSION"]) / "predictions.csv", ids)
    seed = int(os.environ.get("LABLOOP_SEED", "0"))
    chosen = ids if seed == 0 else random.Random(seed).choices(ids, k=len(ids))
    loss = correct = 0.0
    for key in chosen:
        p = min(max(predicted[key], CLIP), 1.0 - CLIP)
        loss -= math.log(p) if labels[key] == 1 else math.log(1.0 - p)
        correct += (p >= 0.5) == (labels[key] == 1)
    metrics = {"log_loss": loss / len(chosen), "accuracy": correct / len(chosen)}
    Path(os.environ["LABLOOP_OUTPUT"], "metrics.json").write_text(json.dumps(metrics), encoding="utf-8")
    print(f"graded {len(chosen)} rows (seed {seed}): " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()))


if __name__ == "__main__":
    main()
