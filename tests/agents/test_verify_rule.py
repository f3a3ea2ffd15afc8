"""The sequential verification rule on its own (agents/verify.py): what it verifies, what it
refuses, how many pairs it spends, the tolerance, and the per-job verification seeds."""

from __future__ import annotations

import pytest

from agents.task import Task, parse_task
from agents.verify import beats, looks, sequential, tolerance, verification_seeds

BASE = "name: t\ngoal: g\nmetric: {name: score, direction: maximize}\nentrypoint: x\n"
TASK = parse_task(BASE)  # replicates 3, max_replicates 8


def _spend(task: Task, gains: list[float], incumbent: float = 1.0) -> tuple[str, int, list[int]]:
    """Run the rule on paired gains; return its decision, the pairs it asked for and at which looks."""
    asked: list[int] = []

    def pairs_upto(n: int) -> list[tuple[float | None, float | None]]:
        asked.append(n)
        return [(incumbent + 0.01 * i, incumbent + 0.01 * i + g) for i, g in enumerate(gains[:n])]

    taken = sequential(task, pairs_upto)
    return taken[-1]["decision"], max(asked), [t["n"] for t in taken]


def test_the_looks_are_replicates_the_midpoint_and_max_replicates() -> None:
    assert looks(3, 8) == [3, 5, 8] and looks(2, 2) == [2] and looks(4, 5) == [4, 5]


def test_a_clear_gain_is_verified_at_the_first_look_without_more_seeds() -> None:
    decision, spent, at = _spend(TASK, [0.30, 0.32, 0.29, 9.0, 9.0, 9.0, 9.0, 9.0])
    assert (decision, spent, at) == ("verified", 3, [3])


def test_the_issue_s_house_prices_gains_are_verified_once_more_pairs_are_run() -> None:
    # Today's rule refused these at R = 3 (one outlier split decides); more pairs settle it.
    gains = [0.081, 0.012, 0.006, 0.066, 0.05, 0.03, 0.07, 0.04]
    decision, spent, at = _spend(TASK, gains)
    assert decision == "verified" and spent > 3 and at[0] == 3


def test_an_inconclusive_result_adds_pairs_up_to_max_replicates_then_decides() -> None:
    gains = [0.5, -0.2, 0.4, -0.1, 0.3, -0.3, 0.35, -0.2]  # a small positive mean, lots of noise
    decision, spent, at = _spend(TASK, gains)
    assert (decision, spent, at) == ("refused", 8, [3, 5, 8])
    wider = parse_task(BASE + "replicates: 2\nmax_replicates: 12\n")
    assert _spend(wider, gains + [0.4, -0.1, 0.3, -0.2])[1:] == (12, [2, 7, 12])


def test_a_change_with_no_effect_is_refused_early() -> None:
    decision, spent, _at = _spend(TASK, [-0.1, 0.05, -0.02, 0.3, 0.3, 0.3, 0.3, 0.3])
    assert (decision, spent) == ("refused", 3)  # the mean gain is not above the tolerance: futility


def test_a_deterministic_experiment_is_decided_on_its_exact_gain_with_no_extra_replicates() -> None:
    asked: list[int] = []

    def same(gain: float):  # type: ignore[no-untyped-def]
        def pairs_upto(n: int) -> list[tuple[float | None, float | None]]:
            asked.append(n)
            return [(2.634, 2.634 + gain)] * n
        return pairs_upto

    (look,) = sequential(TASK, same(0.0019))
    assert look["decision"] == "verified" and "deterministic" in look["why"] and asked == [3]
    (look,) = sequential(TASK, same(4.5e-14))  # float noise never decides
    assert look["decision"] == "refused" and look["tolerance"] == pytest.approx(2.634e-9)


def test_the_tolerance_refuses_float_noise_and_min_gain_sets_it_in_metric_units() -> None:
    assert not beats(TASK, 2.635977 + 4.5e-14, 2.635977) and beats(TASK, 2.636, 2.635977)
    minimise = parse_task(BASE.replace("maximize", "minimize") + "min_gain: 0.01\n")
    assert tolerance(minimise, 5.0, 1e6) == 0.01
    assert beats(minimise, 0.5, 0.52) and not beats(minimise, 0.5, 0.505) and not beats(minimise, 0.52, 0.5)
    noisy_gains = [4.5e-14, 4.4e-14, 4.6e-14]  # a consistent but meaningless difference
    assert _spend(TASK, noisy_gains, incumbent=2.635977)[0] == "refused"


def test_a_failed_or_non_finite_replicate_refuses_at_once() -> None:
    def broken(n: int) -> list[tuple[float | None, float | None]]:
        return [(1.0, 2.0), (1.0, None), (1.0, float("nan"))][:n]

    (look,) = sequential(TASK, broken)
    assert look["decision"] == "refused" and "2 of 3 pairs" in look["why"]


def test_max_replicates_defaults_to_8_and_must_not_undercut_replicates() -> None:
    assert TASK.max_replicates == 8 and parse_task(BASE + "replicates: 12\n").max_replicates == 12
    with pytest.raises(Exception, match=r"max_replicates \(4\) must be at least replicates \(5\)"):
        parse_task(BASE + "replicates: 5\nmax_replicates: 4\n")
    with pytest.raises(Exception, match="min_gain"):
        parse_task(BASE + "min_gain: -1\n")


def test_verification_seeds_are_per_job_stable_distinct_and_never_the_screening_seed() -> None:
    first = verification_seeds("job-a", 8)
    assert first == verification_seeds("job-a", 8) and first[:3] == verification_seeds("job-a", 3)  # a prefix
    assert len(set(first)) == 8 and 0 not in first and all(1 <= s < 2**31 for s in first)
    assert first != verification_seeds("job-b", 8) and first[:3] != [1, 2, 3]
