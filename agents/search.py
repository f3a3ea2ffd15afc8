"""Strategy ``search``: Optuna's TPE sampler proposes params from the task's space.

The study is rebuilt from measurements on every call (the job's own experiments and, when
memory is given, trials recalled from earlier jobs), so nothing but the job's state needs to
survive a crash, and a resumed job proposes exactly what it would have proposed.

**Failures teach.** A point whose run failed (crashed, timed out, no metric) is told to the
sampler as a completed trial with a *penalised* value — worse than the worst measured value by
the spread of the measured values — so TPE puts it in its "bad" group and leaves a crashing
region. (Optuna's TPE ignores FAIL trials, so telling it FAIL would teach it nothing.)
**Parallel slots** ask one study several times; the points not yet measured are pending
(RUNNING) trials and TPE's *constant liar* counts them as bad, so the slots get distinct points.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from agents.task import Task

Trial = tuple[Mapping[str, Any], float]
STARTUP_TRIALS = 3  # random points before TPE models the good/bad split

optuna.logging.set_verbosity(logging.WARNING)


def distributions(task: Task) -> dict[str, BaseDistribution]:
    """The Optuna distributions of the task's ``params`` space."""
    dists: dict[str, BaseDistribution] = {}
    for name, p in task.params.items():
        if p.choices is not None:
            dists[name] = CategoricalDistribution(p.choices)
        elif p.integer:
            assert p.low is not None and p.high is not None
            dists[name] = IntDistribution(int(p.low), int(p.high), log=p.log)
        else:
            assert p.low is not None and p.high is not None
            dists[name] = FloatDistribution(p.low, p.high, log=p.log)
    return dists


def _seed(job_id: str, iteration: int, attempt: int) -> int:
    digest = hashlib.sha256(f"{job_id}/{iteration}/{attempt}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def _fits(params: Mapping[str, Any], dists: Mapping[str, BaseDistribution]) -> bool:
    try:
        return set(params) == set(dists) and all(
            d._contains(d.to_internal_repr(params[n])) for n, d in dists.items()
        )
    except (ValueError, TypeError):
        return False


def penalty(task: Task, values: Sequence[float]) -> float:
    """The value a failed point is told as: worse than the worst measured value by their spread."""
    if not values:
        return -1.0 if task.metric.direction == "maximize" else 1.0
    worst = min(values) if task.metric.direction == "maximize" else max(values)
    spread = max(max(values) - min(values), abs(worst) * 0.1, 1e-6)
    return worst - spread if task.metric.direction == "maximize" else worst + spread


def propose(
    task: Task, *, job_id: str, iteration: int, own: Sequence[Trial], prior: Sequence[Trial] = (),
    avoid: Sequence[Mapping[str, Any]] = (), attempt: int = 0, failed: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """An idea ``{title, hypothesis, plan, params}`` for the next point to try, saying why."""
    return propose_many(task, job_id=job_id, iteration=iteration, own=own, prior=prior, avoid=avoid,
                        attempt=attempt, failed=failed, count=1)[0]


def propose_many(
    task: Task, *, job_id: str, iteration: int, own: Sequence[Trial], prior: Sequence[Trial] = (),
    avoid: Sequence[Mapping[str, Any]] = (), attempt: int = 0, failed: Sequence[Mapping[str, Any]] = (),
    count: int = 1,
) -> list[dict[str, Any]]:
    """``count`` distinct ideas for one round's parallel slots (constant liar), each saying why.

    ``failed`` are points whose runs failed; they are told to the sampler with a penalised value.
    """
    dists = distributions(task)
    if not dists:
        raise ValueError("the task has no params space, so the search strategy has nothing to try")
    sampler = optuna.samplers.TPESampler(seed=_seed(job_id, iteration, attempt), n_startup_trials=STARTUP_TRIALS,
                                         constant_liar=True)
    study = optuna.create_study(direction=task.metric.direction, sampler=sampler)
    usable = [(p, v) for p, v in [*prior, *own] if _fits(p, dists)]
    bad = [p for p in failed if _fits(p, dists)]
    worse = penalty(task, [v for _, v in usable])
    study.add_trials(
        optuna.trial.create_trial(params=dict(p), distributions=dists, value=v)
        for p, v in [*usable, *((p, worse) for p in bad)]
    )
    ideas: list[dict[str, Any]] = []
    seen = [dict(a) for a in avoid]
    for _ in range(count):
        params: dict[str, Any] = {}
        for _ in range(8):  # re-ask when the sampler repeats a point already tried, rejected or pending
            params = study.ask(dists).params  # left RUNNING: the constant liar keeps the next ask away
            if all(params != a for a in seen):
                break
        seen.append(params)
        ideas.append(_explain(task, params, usable, n_prior=sum(_fits(p, dists) for p, _ in prior),
                              n_failed=len(bad)))
    return ideas


def _fmt(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())


def _explain(task: Task, params: dict[str, Any], usable: Sequence[Trial], *, n_prior: int,
             n_failed: int = 0) -> dict[str, Any]:
    metric = task.metric
    n = len(usable)
    if n + n_failed < STARTUP_TRIALS:
        why = (f"only {n} measured point(s) so far ({n_prior} recalled from memory), fewer than the "
               f"{STARTUP_TRIALS} TPE needs to model the space, so this point explores at random")
    elif not usable:
        why = "TPE has only failed points so far and samples away from them"
    else:
        best_p, best_v = max(usable, key=lambda t: t[1] if metric.direction == "maximize" else -t[1])
        why = (f"TPE over {n} measured points ({n_prior} recalled from memory) samples where the best "
               f"{metric.name} values are dense relative to the rest; the best so far is "
               f"{best_v:.4g} at {_fmt(best_p)}")
        if n_failed:
            why += f"; {n_failed} failed point(s) count as worse than any measured one, so it avoids them"
    return {
        "title": f"Try {_fmt(params)}",
        "hypothesis": f"{metric.name} may {'rise' if metric.direction == 'maximize' else 'fall'} at "
                      f"{_fmt(params)}: {why}.",
        "plan": "Write these values to params.json and run the experiment unchanged.",
        "params": params,
        "source": "search",
    }
