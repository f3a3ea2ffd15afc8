"""Sequential verification end to end (real sandbox, real SQLite, real checkpointer): a job's
verification seeds are its own, more pairs are run while the first look is inconclusive, and
no verification seed ever reaches the model."""

from __future__ import annotations

import json
from pathlib import Path

from agents.task import load_task
from agents.verify import verification_seeds
from services.collaborators import Collaborators
from services.jobs import new_job, template
from services.lifecycle import Lifecycle
from services.local_run import run_job_here
from services.settings import Settings
from services.store import Store, list_experiments
from tests.agents.conftest import approve_all, make_task, model_parts, run_job
from tests.utils.fake_llm import FakeLLM

# Any params give +1.0 plus a candidate-only noise of ±0.6 driven by the seed; the seed also
# prints, so a replicate's output that reached a prompt would show it.
NOISY = '''
    import json, os
    from pathlib import Path
    p = json.loads(Path("params.json").read_text()) if Path("params.json").exists() else {}
    seed = int(os.environ.get("LABLOOP_SEED", "0"))
    print(f"seed={seed}")
    score = 10.0 + 0.001 * (seed % 7)
    if p:
        score += 1.0 + NOISE(seed)
    Path(os.environ["LABLOOP_OUTPUT"], "metrics.json").write_text(json.dumps({"score": score}))
'''
NOISE_CODE = "def NOISE(seed):\n    return 1.2 * ((seed * 2654435761) % 1000 / 1000 - 0.5)\n"


def noise(seed: int) -> float:
    """The experiment's candidate noise, computed here to choose a job whose first look is inconclusive."""
    return 1.2 * ((seed * 2654435761) % 1000 / 1000 - 0.5)


def test_a_search_job_adds_pairs_while_inconclusive_on_its_own_seeds(
    tmp_path: Path, settings: Settings, store: Store, sandbox: object
) -> None:
    code = "    " + NOISE_CODE.replace("\n", "\n    ") + NOISY
    task = make_task(tmp_path / "noisy", name="noisy", code=code, params={"x": {"low": 0.0, "high": 1.0}},
                     budget={"iterations": 1})
    # With 2 pairs the bound needs |gain_1 − gain_2| < ~0.1: pick the first job id whose seeds do not
    # allow it, so the test knows the rule must look again (the id fixes the seeds, as on resume).
    job_id = next(f"verify-seq-{k}" for k in range(100)
                  if abs(noise(verification_seeds(f"verify-seq-{k}", 2)[0])
                         - noise(verification_seeds(f"verify-seq-{k}", 2)[1])) > 0.3)
    row = new_job(store, settings, template(task="noisy", strategy="search", gates={}), created_by="cli", folder=task)
    row.id = job_id
    Lifecycle(store).create(row)
    outcome = run_job_here(store, settings, job_id, Collaborators(runner=sandbox),  # type: ignore[arg-type]
                           on_checkpoint=approve_all)

    assert outcome.status == "succeeded", outcome.error
    (finding,) = outcome.summary["findings"]
    assert finding["accepted"] and finding["replicates"] > 2  # looked again after the first 2 pairs
    assert [look["n"] for look in finding["looks"]][:2] == [2, 5] and finding["looks"][0]["decision"] == "continue"
    spent = finding["replicates"]
    seeds = verification_seeds(job_id, spent)
    assert sorted(finding["pairs"]) == sorted(str(s) for s in seeds)
    rows = list_experiments(store, job_id)
    replicates = sorted((r.seed, r.id.removeprefix(job_id + "-")) for r in rows if r.role == "replicate")
    assert [s for s, _ in replicates] == sorted(seeds)  # one candidate run per pair, on the job's seeds
    assert {f"r1s0-replicate-{i}" for i in range(1, spent + 1)} == {i for _, i in replicates}  # ids number pairs
    assert not any(1 <= r.seed <= 8 for r in rows if r.role != "candidate" and r.seed)
    assert outcome.summary["best_verified"]["node"] == "r1s0" == outcome.summary["best_seen"]["node"]
    report = Path(outcome.summary["report"]).read_text()
    assert f"replicates spent: {spent} pairs" in report and "## Best seen and best verified" in report


IDEA = json.dumps({"title": "Raise the quality", "hypothesis": "a bonus lifts the score", "plan": "bonus", "params": {}})
EDIT = json.dumps({"explanation": "bonus", "edits": [{"path": "experiment.py", "search": "return 0.5",
                                                      "replace": "return 0.75"}]})
EDIT_2 = json.dumps({"explanation": "more", "edits": [{"path": "experiment.py", "search": "return 0.75",
                                                       "replace": "return 0.8"}]})
REVIEW = json.dumps({"summary": "ran", "lesson": "quality() sets the score"})
CRITIQUE = json.dumps({"soundness": "fine", "confounds": [], "ablation": "none", "flaw": ""})
PRINTS_SEED = '''
    import json, os
    from pathlib import Path


    def quality():
        return 0.5


    seed = int(os.environ.get("LABLOOP_SEED", "0"))
    print(f"running with seed {seed}")
    score = quality() + 0.01 * (seed % 5)
    Path(os.environ["LABLOOP_OUTPUT"], "metrics.json").write_text(json.dumps({"score": score}))
'''


def test_no_verification_seed_reaches_the_model_and_two_jobs_draw_different_seeds(
    tmp_path: Path, llm: FakeLLM, llm_settings: Settings, store: Store, sandbox: object
) -> None:
    task = make_task(tmp_path / "quality", name="quality", code=PRINTS_SEED, budget={"iterations": 2},
                     search={"debug_prob": 0.0})
    llm.add("ideate", IDEA, IDEA.replace("Raise", "Raise more"))
    llm.add("implement", EDIT, EDIT_2)
    llm.add("review", REVIEW, REVIEW)
    llm.add("critique", CRITIQUE, CRITIQUE)
    outcome = run_job(store, llm_settings, task, model_parts(sandbox, llm_settings), strategy="llm")

    assert outcome.status == "succeeded", outcome.error
    used = {r.seed for r in list_experiments(store, outcome.job_id) if r.seed != 0}
    assert used and used <= set(verification_seeds(outcome.job_id, 8))
    assert llm.calls("critique") == 2  # the evidence of both findings went to the model
    sent = json.dumps(llm.requests)
    leaked = [s for s in used if str(s) in sent]
    assert not leaked, f"verification seeds in a prompt: {leaked}"
    assert "seed 0" in sent or "running with seed 0" in sent  # the screening run's own output may show seed 0
    other = load_task(task)
    assert other.max_replicates == 8 and set(verification_seeds("another-job", 8)).isdisjoint(used)
