"""Verifying a candidate: paired replicates against the incumbent, and the sequential rule that decides.

A candidate that beats the incumbent on the screening seed (0) is run again on this job's
verification seeds, and the incumbent on the same seeds: the seed picks the data split, so
the two runs of one seed are a pair and the split's luck cancels out of their difference.
The seeds are drawn per job from its id (:func:`verification_seeds`): stable across a resume,
different between jobs, never 0 and never shown to the model, so an experiment cannot be
tuned to the splits that judge it.

**Rule** (:data:`RULE`, :func:`judge_look`). With paired gains g_i (candidate − incumbent,
positive = better for the metric's direction) over n pairs, mean m and standard error
se = sd(g)/√n, the candidate is looked at after R = ``replicates`` pairs, after
⌊(R + M)/2⌋ and after M = ``max_replicates`` (:func:`looks`; K distinct looks). At each look
it is *verified* when the one-sided lower confidence bound m − t(1 − α/K; n − 1)·se beats the
tolerance (α = 5 %, split evenly over the K looks: Bonferroni, so the chance that a change
with no effect is verified at any look is at most α whatever the data do between looks). It
is *refused* early when m is not above the tolerance (futility: the estimate itself says no
gain), and at M when the bound still does not beat the tolerance. Otherwise more pairs are run.

**Tolerance** (:func:`tolerance`): "beats" means by more than the task's ``min_gain`` when
it sets one, else by more than 1e-9 of the values' magnitude, so float noise never decides.

**Deterministic experiments**: when both arms gave the same value on every seed so far, the
gain is exact; the first look decides on it (verified when it beats the tolerance) without
spending more replicates.
"""

from __future__ import annotations

import functools
import hashlib
import math
import random
from collections.abc import Callable, Mapping, Sequence
from typing import Literal, TypedDict

from agents.task import Metric, Task

ALPHA = 0.05
RELATIVE_TOLERANCE = 1e-9
SEED_RANGE = (1, 2**31 - 1)  # fits every RNG's seed type (numpy, torch, int32); 0 is the screening seed

RULE = ("sequential one-sided paired t-test: looks after R = replicates, ⌊(R+M)/2⌋ and M = max_replicates "
        "pairs on this job's verification seeds; at each of the K looks the candidate is verified iff "
        "m − t(1 − 0.05/K; n − 1)·se beats the tolerance (Bonferroni over the looks: at most 5 % of changes "
        "with no effect are verified), refused early when the mean paired gain m is not above the tolerance, "
        "and refused at M otherwise; identical values on every seed for both arms decide on the exact gain "
        "at the first look; the tolerance is the task's min_gain, else 1e-9 of the values' magnitude")

IDENTICAL = ("the replicates are identical: every seed gave the same value (the experiment ignores LABLOOP_SEED "
             "and is not random on its own), so the gain is exact for this one computation, decided without "
             "more replicates, and not shown to hold beyond it")

Decision = Literal["verified", "refused", "continue"]


class Look(TypedDict):
    """One look of the sequential rule: the numbers it decided on."""

    n: int
    mean_gain: float
    stderr: float
    quantile: float  # t(1 − α/K; n − 1); inf at n < 2
    bound: float  # the one-sided lower confidence bound m − quantile·se
    tolerance: float
    decision: Decision
    why: str


def verification_seeds(job_id: str, count: int) -> list[int]:
    """The job's first ``count`` verification seeds: distinct, never 0, drawn from the job id.

    The sequence is a prefix-stable stream (the k-th seed does not depend on ``count``), so a
    resumed job and a longer verification reuse the same seeds and the runs already made.
    """
    digest = hashlib.sha256(f"{job_id}/verification-seeds".encode()).digest()
    rng = random.Random(int.from_bytes(digest[:8], "big"))
    seeds: list[int] = []
    while len(seeds) < count:
        seed = rng.randint(*SEED_RANGE)
        if seed not in seeds:
            seeds.append(seed)
    return seeds


def looks(replicates: int, max_replicates: int) -> list[int]:
    """The numbers of pairs after which the rule looks: R, ⌊(R + M)/2⌋ and M, without repeats."""
    return sorted({replicates, (replicates + max_replicates) // 2, max_replicates})


def tolerance(task: Task, *values: float) -> float:
    """How much a gain must exceed to count: ``min_gain``, else 1e-9 of the largest magnitude in ``values``."""
    if task.min_gain is not None:
        return task.min_gain
    scale = max((abs(v) for v in values if math.isfinite(v)), default=0.0)
    return RELATIVE_TOLERANCE * scale


def beats(task: Task, a: float, b: float) -> bool:
    """True when ``a`` is better than ``b`` by more than the tolerance (the screening and fate comparison)."""
    return task.metric.gain(a, b) > tolerance(task, a, b)


def identical_replicates(pairs: Mapping[str, Mapping[str, float | None]]) -> bool:
    """True when, on each side of the pairs (e.g. incumbent and candidate), every seed gave the same value."""
    if len(pairs) < 2:
        return False
    sides = {side for pair in pairs.values() for side in pair}
    return all(len({pair.get(side) for pair in pairs.values()}) == 1 for side in sides)


def _identical(pairs: Sequence[tuple[float, float]]) -> bool:
    return len(pairs) >= 2 and len({p[0] for p in pairs}) == 1 and len({p[1] for p in pairs}) == 1


def sequential(task: Task, pairs_upto: Callable[[int], Sequence[tuple[float | None, float | None]]], *,
               on_look: Callable[[Look], None] | None = None) -> list[Look]:
    """Run the rule look by look; ``pairs_upto(n)`` makes (runs) and returns the first n
    ``(incumbent, candidate)`` pairs. Returns the looks taken; the last one decides."""
    plan = looks(task.replicates, task.max_replicates)
    taken: list[Look] = []
    for k, n in enumerate(plan):
        taken.append(look_at(task, pairs_upto(n), look_count=len(plan), last=k == len(plan) - 1))
        if on_look is not None:
            on_look(taken[-1])
        if taken[-1]["decision"] != "continue":
            break
    return taken


def look_at(task: Task, pairs: Sequence[tuple[float | None, float | None]], *, look_count: int, last: bool) -> Look:
    """One look: a failed or non-finite pair refuses; identical arms decide exactly; else the t bound."""
    values = [(a, b) for a, b in pairs if a is not None and b is not None and math.isfinite(a) and math.isfinite(b)]
    if len(values) < len(pairs):
        bad = len(pairs) - len(values)
        return Look(n=len(pairs), mean_gain=0.0, stderr=0.0, quantile=0.0, bound=0.0, tolerance=0.0,
                    decision="refused", why=f"a replicate failed or gave no finite value ({bad} of {len(pairs)} pairs)")
    if _identical(values):
        return judge_exact(task, values)
    return judge_look(task, values, look_count=look_count, last=last)


def paired_gains(metric: Metric, pairs: Sequence[tuple[float, float]]) -> list[float]:
    """The gain of each ``(incumbent, candidate)`` pair (positive = the candidate is better)."""
    return [metric.gain(candidate, base) for base, candidate in pairs]


@functools.cache
def student_quantile(n: int, look_count: int) -> float:
    """t(1 − α/K; n − 1): the one-sided Student quantile at n pairs, with α split over K looks."""
    # Imported on first use: scipy.stats costs ~2 s of CPU that the API and the CLI need not pay.
    from scipy import stats
    return float(stats.t.ppf(1 - ALPHA / max(1, look_count), n - 1))


def judge_look(task: Task, pairs: Sequence[tuple[float, float]], *, look_count: int, last: bool) -> Look:
    """Apply the rule to the ``(incumbent, candidate)`` pairs at one of ``look_count`` looks."""
    gains = paired_gains(task.metric, pairs)
    n = len(gains)
    mean = sum(gains) / n if n else 0.0
    sd = math.sqrt(sum((g - mean) ** 2 for g in gains) / (n - 1)) if n > 1 else math.inf
    se = sd / math.sqrt(n) if n else math.inf
    tol = tolerance(task, *[v for pair in pairs for v in pair])
    quantile = student_quantile(n, look_count) if n > 1 else math.inf
    bound = mean - quantile * se if se > 0 else (mean if se == 0 else -math.inf)
    numbers = f"n = {n}, mean gain {mean:.4g}, bound {bound:.4g} vs tolerance {tol:.3g}"
    decision: Decision
    if bound > tol:
        decision, why = "verified", f"the lower bound beats the tolerance ({numbers})"
    elif mean <= tol:
        decision, why = "refused", f"the mean gain is not above the tolerance ({numbers})"
    elif last:
        decision, why = "refused", f"the lower bound stayed below the tolerance at the last look ({numbers})"
    else:
        decision, why = "continue", f"inconclusive ({numbers}): more pairs"
    return Look(n=n, mean_gain=mean, stderr=se, quantile=quantile, bound=bound, tolerance=tol,
                decision=decision, why=why)


def judge_exact(task: Task, pairs: Sequence[tuple[float, float]]) -> Look:
    """Decide a deterministic experiment (identical values per arm) on its exact gain."""
    base, candidate = pairs[0]
    gain = task.metric.gain(candidate, base)
    tol = tolerance(task, base, candidate)
    verified = gain > tol
    return Look(n=len(pairs), mean_gain=gain, stderr=0.0, quantile=0.0, bound=gain, tolerance=tol,
                decision="verified" if verified else "refused",
                why=f"deterministic: the exact gain {gain:.4g} {'beats' if verified else 'does not beat'} "
                    f"the tolerance {tol:.3g} (n = {len(pairs)}, identical on every seed)")


def mean_gain(metric: Metric, pairs: Sequence[tuple[float, float]]) -> float:
    """The mean paired gain (e.g. of a candidate over the baseline), 0 without pairs."""
    gains = paired_gains(metric, pairs)
    return sum(gains) / len(gains) if gains else 0.0
