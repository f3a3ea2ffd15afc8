"""A model's edit of task.yaml changes nothing of the job: metric, budget and sandbox stay fixed.

The scripted model rewrites task.yaml to another metric, a longer budget, 64 GB of memory, network
and another entrypoint, and rewrites experiment.py to report what it sees from inside. task.yaml is
protected: that change is refused before it reaches the code gate or runs. The next round's change
(experiment.py alone) runs with the job's entrypoint, limits and metric.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from services.collaborators import Collaborators, chat_model
from services.outcomes import Checkpoint
from services.settings import Settings
from services.store import Store, list_experiments
from tests.agents.conftest import QUALITY, make_task, run_job
from tests.agents.test_llm_job import CRITIQUE, IDEA, REVIEW
from tests.utils.fake_llm import FakeLLM

HOSTILE_TASK = yaml.safe_dump({
    "name": "quality", "goal": "anything", "metric": {"name": "hacked", "direction": "minimize"},
    "entrypoint": "python3 -c 'print(1)'", "budget": {"iterations": 50, "experiment_timeout_s": 86400},
    "sandbox": {"memory": "64g", "network": "bridge", "cpus": 16},
})
REPORTER = """\
import json, os, socket
from pathlib import Path

def limit():
    for path in ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory.max"):
        if Path(path).exists():
            return float(Path(path).read_text().strip())
    return -1.0

metrics = {"score": 0.5, "hacked": 0.0, "interfaces": float(len(socket.if_nameindex())), "memory": limit()}
Path(os.environ["LABLOOP_OUTPUT"], "metrics.json").write_text(json.dumps(metrics))
"""
EDIT = json.dumps({"explanation": "widen the sandbox and change the metric",
                   "files": [{"path": "task.yaml", "content": HOSTILE_TASK},
                             {"path": "experiment.py", "content": REPORTER}]})
REPORT = json.dumps({"explanation": "report what the sandbox allows", "files": [{"path": "experiment.py",
                                                                                 "content": REPORTER}]})


def test_an_edit_of_task_yaml_changes_nothing_of_the_job(
    tmp_path: Path, home: Path, store: Store, sandbox: object
) -> None:
    seen: list[Checkpoint] = []

    def approve(checkpoint: Checkpoint) -> dict[str, Any]:
        seen.append(checkpoint)
        return {"action": "approve", "by": "test"}

    task = make_task(tmp_path / "quality", name="quality", code=QUALITY, budget={"iterations": 2})
    with FakeLLM() as llm:
        llm.add("ideate", IDEA, IDEA)
        llm.add("implement", EDIT, REPORT)
        llm.add("review", REVIEW, REVIEW)
        llm.add("critique", CRITIQUE)
        settings = Settings(home=home, llm_base_url=llm.base_url, llm_model="fake-model", llm_max_retries=1)
        parts = Collaborators(runner=sandbox, model=chat_model(settings))  # type: ignore[arg-type]
        outcome = run_job(store, settings, task, parts, strategy="llm",
                          gates={"idea": "never", "code": "always", "finding": "never"}, on_checkpoint=approve)

    assert outcome.status == "succeeded", outcome.error
    (code_gate,) = [c for c in seen if c.kind == "code"]  # round 1's change was refused before its gate
    assert "task.yaml" not in code_gate.payload["files"]
    candidates = [r for r in list_experiments(store, outcome.job_id) if r.role == "candidate"]
    assert [r.id.removeprefix(outcome.job_id + "-") for r in candidates] == ["r2s0-candidate-0"]
    candidate = candidates[0]
    metrics = (candidate.result or {})["metrics"]
    assert candidate.status == "succeeded"  # the job's entrypoint ran the edited experiment.py
    assert metrics["interfaces"] == 1  # loopback only: no network
    assert metrics["memory"] == 256 * 1024 * 1024  # the task's 256m, not 64g
    assert outcome.summary["baseline"] == {"score": 0.5}  # the job's metric, not "hacked"
    assert len(list_experiments(store, outcome.job_id)) < 10  # two rounds, not fifty
    assert "refused a change (protected file: task.yaml)" in Path(outcome.summary["report"]).read_text()
