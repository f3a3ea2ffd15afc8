"""Verifying a candidate: paired replicates against the baseline, and the rule that decides.

A candidate that beats the best so far is run again on ``replicates`` fresh seeds (1..R, not
the seed it was selected on, so the selection does not bias the estimate), and the baseline
is run on the same seeds: the seed picks the data split, so the two runs of one seed are a
pair and the split's luck cancels out of their difference.

**Rule.** With paired gains g_s = gain(candidate_s, baseline_s) (positive = better for the
metric's direction), mean m and standard error se = sd(g) / sqrt(R), the finding is
*verified* iff ``m > 0`` and ``m > 2 · se`` (roughly a one-sided 97.5 % bound above zero).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from agents.task import Metric

RULE = "verified iff the mean paired gain m > 0 and m > 2 × its standard error (sd / √R) over R paired seeds"


IDENTICAL = ("the replicates are identical: every seed gave the same value (the experiment ignores LABLOOP_SEED "
             "and is not random on its own), so the standard error is 0 and the paired test cannot separate "
             "signal from noise; the gain is exact for this one computation, not shown to hold beyond it")


def identical_replicates(pairs: Mapping[str, Mapping[str, float | None]]) -> bool:
    """True when, on each side of the pairs (e.g. incumbent and candidate), every seed gave the same value."""
    if len(pairs) < 2:
        return False
    sides = {side for pair in pairs.values() for side in pair}
    return all(len({pair.get(side) for pair in pairs.values()}) == 1 for side in sides)


def replicate_seeds(replicates: int) -> list[int]:
    """The seeds a candidate and the baseline are re-run on."""
    return list(range(1, replicates + 1))


def judge(metric: Metric, pairs: Sequence[tuple[float, float]]) -> dict[str, float | bool | int]:
    """Apply the rule to ``(baseline, candidate)`` value pairs; return gain, se and the verdict."""
    gains = [metric.gain(candidate, base) for base, candidate in pairs]
    n = len(gains)
    mean = sum(gains) / n if n else 0.0
    sd = math.sqrt(sum((g - mean) ** 2 for g in gains) / (n - 1)) if n > 1 else math.inf
    se = sd / math.sqrt(n) if n else math.inf
    return {"mean_gain": mean, "stderr": se, "n": n, "verified": bool(n > 1 and mean > 0 and mean > 2 * se)}
