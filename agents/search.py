"""Strategy ``search``: Optuna's TPE sampler proposes params from the task's space.

The study is made from measurements (the job's own experiments in the order they ran and, when
memory is given, trials recalled from earlier jobs), so nothing but the job's state needs to
survive a crash, and a resumed job proposes exactly what it would have proposed. Within a
process the study is kept between rounds and told only the new trials (:class:`_Studies`).

**Failures teach.** A point whose run failed (crashed, timed out, no metric) is told to the
sampler as a completed trial with a *penalised* value — worse than any measured value — so
TPE puts it in its "bad" group and leaves a crashing region. (Optuna's TPE ignores FAIL
trials, so telling it FAIL would teach it nothing.)
**Parallel slots** ask one study several times; the points not yet measured are pending
(RUNNING) trials and TPE's *constant liar* counts them as bad, so the slots get distinct points.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import TrialState

from agents.task import Task

Trial = tuple[Mapping[str, Any], float]  # a measured point
Told = tuple[Mapping[str, Any], float | None]  # a point of this job: its value, or None when its run failed
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


def penalty(task: Task) -> float:
    """The value a failed point is told as: worse than any value a run can measure.

    TPE uses values only to rank trials into its "good" and "bad" groups, so an infinite
    penalty ranks a failure below every measured point, now and after later measurements,
    which keeps the told trials of a job append-only (see :class:`_Studies`).
    """
    return -math.inf if task.metric.direction == "maximize" else math.inf


class _Studies:
    """One Optuna study per job, kept between rounds, extended with only the new trials.

    Rebuilding a study costs ~0.3 ms a trial (Optuna deep-copies each one it is given), so a
    job of a few hundred experiments would spend more on rebuilding than on sampling. A kept
    study is used only when the trials it was told are a prefix of the trials to tell now;
    the previous round's asked points (left RUNNING for the constant liar) are marked FAIL,
    which TPE ignores, and each call gets a fresh sampler seeded by (job, round, attempt). So
    a kept study proposes exactly what a study rebuilt from the same trials proposes (a test
    holds it to this), and a resumed job or another worker, with an empty cache, proposes the
    same points.
    """

    def __init__(self, size: int = 32) -> None:
        self.size = size
        self.lock = threading.Lock()
        self._kept: OrderedDict[str, tuple[optuna.Study, list[tuple[str, float]]]] = OrderedDict()
        """job id → (its study, the keys of the trials told, in order: the space, then each point)"""

    def study(self, job_id: str, direction: Literal["maximize", "minimize"], dists: Mapping[str, BaseDistribution],
              trials: Sequence[tuple[Mapping[str, Any], float]]) -> optuna.Study:
        """A study told exactly ``trials`` (in order), with no RUNNING trial; call under ``lock``."""
        keys = [(f"{direction} {sorted(dists.items())!r}", 0.0)]
        keys += [(json.dumps(dict(p), sort_keys=True, default=str), v) for p, v in trials]
        kept = self._kept.pop(job_id, None)
        if kept is not None and keys[: len(kept[1])] == kept[1]:
            study, told = kept
            for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
                study.tell(trial.number, state=TrialState.FAIL)
        else:
            study, told = optuna.create_study(direction=direction), keys[:1]
        study.add_trials(optuna.trial.create_trial(params=dict(p), distributions=dict(dists), value=v)
                         for p, v in trials[len(told) - 1:])
        self._kept[job_id] = (study, keys)
        while len(self._kept) > self.size:
            self._kept.popitem(last=False)
        return study


_STUDIES = _Studies()


def propose(
    task: Task, *, job_id: str, iteration: int, told: Sequence[Told], prior: Sequence[Trial] = (),
    avoid: Sequence[Mapping[str, Any]] = (), attempt: int = 0,
) -> dict[str, Any]:
    """An idea ``{title, hypothesis, plan, params}`` for the next point to try, saying why."""
    return propose_many(task, job_id=job_id, iteration=iteration, told=told, prior=prior, avoid=avoid,
                        attempt=attempt, count=1)[0]


def propose_many(
    task: Task, *, job_id: str, iteration: int, told: Sequence[Told], prior: Sequence[Trial] = (),
    avoid: Sequence[Mapping[str, Any]] = (), attempt: int = 0, count: int = 1,
) -> list[dict[str, Any]]:
    """``count`` distinct ideas for one round's parallel slots (constant liar), each saying why.

    ``told`` are the job's own points in the order they ran, each with its measured value, or
    None when its run failed (told to the sampler with the penalty); ``prior`` are measured
    points recalled from earlier jobs, told first.
    """
    dists = distributions(task)
    if not dists:
        raise ValueError("the task has no params space, so the search strategy has nothing to try")
    usable = [(p, float(v)) for p, v in prior if _fits(p, dists)]
    points = [(p, v) for p, v in told if _fits(p, dists)]
    n_failed = sum(v is None for _, v in points)
    measured = usable + [(p, float(v)) for p, v in points if v is not None]
    trials = usable + [(p, penalty(task) if v is None else float(v)) for p, v in points]
    ideas: list[dict[str, Any]] = []
    seen = [dict(a) for a in avoid]
    with _STUDIES.lock:
        study = _STUDIES.study(job_id, task.metric.direction, dists, trials)
        study.sampler = optuna.samplers.TPESampler(seed=_seed(job_id, iteration, attempt),
                                                   n_startup_trials=STARTUP_TRIALS, constant_liar=True)
        for _ in range(count):
            params: dict[str, Any] = {}
            for _ in range(8):  # re-ask when the sampler repeats a point already tried, rejected or pending
                params = study.ask(dists).params  # left RUNNING: the constant liar keeps the next ask away
                if all(params != a for a in seen):
                    break
            seen.append(params)
            ideas.append(_explain(task, params, measured, n_prior=len(usable), n_failed=n_failed))
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
