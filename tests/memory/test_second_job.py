"""A second job on the same task starts from what the first one learned (real graph, Docker, Chroma).

``docker_sandbox`` is the shared fixture of tests/conftest.py (a real, cold DockerSandbox).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agents.recall import recall_for_ideation
from agents.search import STARTUP_TRIALS, propose
from agents.task import load_task
from sandbox.runner import DockerSandbox
from services.collaborators import Collaborators, chat_model
from services.memory import ChromaMemory, LexicalEmbedder, open_memory
from services.outcomes import Checkpoint
from services.settings import Settings
from services.store import Store, list_experiments, open_store
from tests.agents.conftest import QUAD_SPACE, QUADRATIC, QUALITY, make_task, run_job
from tests.utils.fake_llm import FakeLLM


@pytest.fixture
def parts(tmp_path: Path) -> Iterator[tuple[Settings, Store, ChromaMemory]]:
    settings = Settings(home=tmp_path / "home", llm_base_url=None, llm_api_key=None)
    with open_store(settings.db_url) as store, open_memory(settings, embedder=LexicalEmbedder()) as memory:
        yield settings, store, memory


def _candidates(store: Store, job_id: str) -> list[dict[str, float]]:
    rows = sorted((r for r in list_experiments(store, job_id) if r.role == "candidate"), key=lambda r: r.iteration)
    return [dict(r.params) for r in rows]


def test_a_second_job_starts_from_the_first_jobs_knowledge(
    tmp_path: Path, parts: tuple[Settings, Store, ChromaMemory], docker_sandbox: DockerSandbox
) -> None:
    settings, store, memory = parts
    task_dir = make_task(tmp_path / "quad", name="quad", code=QUADRATIC, params=QUAD_SPACE,
                         budget={"iterations": 3})
    collaborators = Collaborators(runner=docker_sandbox, memory=memory)

    first = run_job(store, settings, task_dir, collaborators, strategy="search")
    assert first.status == "succeeded", first.error
    learned = memory.records("findings", where={"job_id": first.job_id})
    assert len(learned) == 4  # the baseline and three candidates, negative results included
    first_trials = recall_for_ideation(memory, task="quad", query="", direction="maximize").prior_trials
    assert len(first_trials) >= STARTUP_TRIALS

    second = run_job(store, settings, task_dir, collaborators, strategy="search")
    assert second.status == "succeeded", second.error

    # The first job's first idea explored at random; the second job's first idea is TPE's,
    # fitted on the first job's measured params.
    [first_idea] = memory.records("ideas", where={"job_id": first.job_id, "iteration": 1, "attempt": 0})
    [opening] = memory.records("ideas", where={"job_id": second.job_id, "iteration": 1, "attempt": 0})
    assert "0 recalled from memory" in first_idea.text and "explores at random" in first_idea.text
    assert f"{len(first_trials)} recalled from memory" in opening.text and "TPE over" in opening.text

    task = load_task(task_dir)
    informed = propose(task, job_id=second.job_id, iteration=1, told=[], prior=first_trials)
    blind = propose(task, job_id=second.job_id, iteration=1, told=[], prior=[])
    second_params = _candidates(store, second.job_id)
    assert second_params[0] == pytest.approx(informed["params"])
    assert second_params[0] != pytest.approx(blind["params"])

    # Its first ideas are not repeats of the first job's, and the check that said so is kept.
    first_params = _candidates(store, first.job_id)
    assert all(p not in first_params for p in second_params)
    neighbours = json.loads(str(opening.metadata["novelty_neighbours"]))
    assert opening.metadata["novel"] is True
    assert any(n["id"].startswith(f"idea:{first.job_id}:") for n in neighbours)


def test_a_second_llm_job_does_not_repeat_an_idea_the_first_job_had_rejected(
    tmp_path: Path, docker_sandbox: DockerSandbox
) -> None:
    task_dir = make_task(tmp_path / "quality", name="quality", code=QUALITY, budget={"iterations": 1})
    reason = "changing the seed handling makes runs incomparable"
    rejected = {"title": "Fix the random seed to zero", "hypothesis": "seed 0 gives the best score",
                "plan": "ignore LABLOOP_SEED"}
    reworded = {"title": "fix the RANDOM SEED to zero", "hypothesis": "the best score comes with seed 0",
                "plan": "always use seed 0"}
    different = {"title": "Add a quality bonus", "hypothesis": "a bonus term raises the score",
                 "plan": "return 0.9 from quality()"}
    asked: list[Checkpoint] = []

    def reject(cp: Checkpoint) -> dict[str, Any]:
        asked.append(cp)
        return {"action": "reject", "reason": reason if len(asked) == 1 else "not today", "by": "alice"}

    script = {"ideate": [json.dumps(rejected), json.dumps(reworded), json.dumps(different)]}
    with FakeLLM(script) as llm:  # type: ignore[arg-type]
        settings = Settings(home=tmp_path / "home", llm_base_url=llm.base_url, llm_model="fake")
        with open_store(settings.db_url) as store, open_memory(settings, embedder=LexicalEmbedder()) as memory:
            parts = Collaborators(runner=docker_sandbox, model=chat_model(settings), memory=memory)
            first = run_job(store, settings, task_dir, parts, strategy="llm", gates={"idea": "always"},
                            on_checkpoint=reject)
            second = run_job(store, settings, task_dir, parts, strategy="llm", gates={"idea": "always"},
                             on_checkpoint=reject)
            ideas = memory.records("ideas", where={"job_id": second.job_id})
        prompts = llm.prompts("ideate")

    assert first.status == second.status == "succeeded", (first.error, second.error)
    # The second job's model first proposed the rejected idea again, reworded; the novelty
    # check caught it, named it and its reason, and the idea that went on is a different one.
    assert [cp.payload["title"] for cp in asked] == [rejected["title"], different["title"]]
    first_ask, retry = prompts[1], prompts[2]
    assert reason in first_ask  # recalled from the first job before ideating
    assert "repeats earlier ones" in retry and rejected["title"] in retry and reason in retry
    fates = {(int(r.metadata["attempt"]), str(r.metadata["fate"])) for r in ideas}
    assert (0, "duplicate") in fates and (1, "rejected") in fates
