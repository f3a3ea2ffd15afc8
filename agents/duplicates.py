"""No duplicate work: a candidate whose workspace is already in the tree is not run again.

**Content.** What an experiment runs is the task folder with a node's changed files and its
``params.json`` over it, so a candidate's *content* is the hash of its effective changes
relative to the task folder (:func:`content_hash`): a "changed" file whose text equals the
task's own is no change, ``./a.py`` is ``a.py``, and ``params.json`` is the text the
workspace would get (params written over a ``params.json`` file, as :func:`materialize` does).
The task folder, image, entrypoint and the candidate's seed (0) are fixed for a job, so equal
content means an equal run.

**The first to run owns the content.** Each content is claimed once per job, durably, in a
file ``contents/<hash>.json`` of the job's folder that names the owning node and its
experiment id; it is made with an atomic ``link`` so two branches racing for it cannot both
win. ``execute`` asks :func:`claim` before running:

- no claim yet, or the claim is this node's own (a resume after a crash): run;
- the claim is another node's (an earlier node, the root, or a sibling branch of the same
  round that got there first): do not run; wait for that experiment's ``result.json`` (a
  sibling's run is in flight in the same process) and take its result, recorded as a
  duplicate of that node.

Parallel branches run concurrently and see nothing of each other's state, so "first to
execute" is the one rule both can apply without waiting for a sibling that may still be at a
human gate. It is deterministic across a crash: the claim is on disk before the run starts,
and a resumed branch re-runs with the candidate its checkpoint holds, so it finds the same
owner. An owner whose run raised (the sandbox failed) gives its claim up, so the waiting
branch claims and runs it itself.

The root is claimed for the unchanged task (its baseline run), so a candidate that reverts
every change (e.g. an ablation) takes the baseline's result.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from agents import grading
from agents.context import ResearchContext
from agents.experiments import PARAMS_FILE, RESULT_FILE, experiment_id
from agents.protocols import ExperimentRole
from agents.state import ROOT, BranchState, Node, Run
from agents.workspace_paths import workspace_problem
from sandbox.result import ExperimentResult

CLAIMS_DIR = "contents"
POLL_S = 0.2
WAIT_MARGIN_S = 600.0  # beyond the experiment timeout: container start, output collection, a busy pool


@dataclass(frozen=True)
class Claim:
    """Who ran (or runs) one content of a job: the owning node and its experiment."""

    content: str
    node: str
    experiment_id: str
    round: int
    role: str


def content_hash(task_dir: Path, files: Mapping[str, str], params: Mapping[str, Any]) -> str:
    """The hash of what a workspace would run: its effective changes to the task folder."""
    changed = {posixpath.normpath(rel): text for rel, text in files.items()}
    if params:
        changed[PARAMS_FILE] = json.dumps(dict(params), sort_keys=True)  # as materialize writes it
    effective = sorted((rel, text) for rel, text in changed.items() if text != _original(task_dir, rel))
    return hashlib.sha256(json.dumps(effective).encode("ascii")).hexdigest()


def _original(task_dir: Path, rel: str) -> str | None:
    # ``rel`` may come from a model: a path the file system refuses has no original.
    try:
        path = task_dir / rel
        return path.read_text(encoding="utf-8") if path.is_file() else None
    except (OSError, ValueError):
        return None


def is_duplicate(node: Node) -> bool:
    """The node took another node's result instead of running."""
    return bool(node.get("duplicate_of"))


@contextmanager
def claim(ctx: ResearchContext, state: BranchState, *, role: ExperimentRole) -> Iterator[Run | None]:
    """Own the branch's candidate content (yield None: run it) or yield the owner's result (a duplicate).

    Use around the run: ``with claim(...) as original: if original is None: run``. When the run
    raises, the claim is given up so a waiting duplicate runs the content itself.
    """
    expansion, candidate = state["expansion"], state["candidate"]
    assert candidate is not None
    if workspace_problem(candidate["files"], ctx.task_dir) is not None:
        yield None  # no workspace can hold it: it fails at once, without a run to share
        return
    content = content_hash(ctx.task_dir, candidate["files"], candidate["params"])
    _claim_root(ctx, state.get("tree", []))
    mine = Claim(content=content, node=expansion["node"], round=expansion["round"], role=role,
                 experiment_id=experiment_id(ctx.job_id, expansion["node"], role, 0))
    deadline = time.monotonic() + ctx.task.budget.experiment_timeout_s + WAIT_MARGIN_S
    original: Run | None = None
    owned = False
    while True:
        owner = _take(ctx, mine)
        if owner is None or owner.node == mine.node:
            owned = owner is not None
            break
        original = _wait(ctx, owner, deadline)
        if original is not None or time.monotonic() > deadline:
            break  # taken; or the owner is stuck past any run's time: run it here, unclaimed
        # else the owner gave its claim up (its run raised): claim it again
    if original is None or owner is None:
        try:
            yield None
        except BaseException:
            if owned:
                _path(ctx, content).unlink(missing_ok=True)
            raise
        if owned and not (ctx.job_dir / mine.experiment_id / RESULT_FILE).is_file():
            # the run left no result to take: let a twin run the content itself rather than wait on nothing
            _path(ctx, content).unlink(missing_ok=True)
        return
    duplicate = Run(**{**original, "params": dict(candidate["params"]), "files": sorted(candidate["files"]),
                       "duplicate_of": owner.node})
    ctx.journal.emit(ctx.job_id, "duplicate", {
        "iteration": expansion["round"], "node": expansion["node"], "of": owner.node,
        "experiment_id": owner.experiment_id, "content": content})
    yield duplicate


def saved(nodes: Sequence[Node]) -> int:
    """Experiments the job did not run because their content was already in the tree."""
    return sum(1 for n in nodes if is_duplicate(n))


def labelled(node: Node, run: Run) -> Node:
    """A branch's node, marked a duplicate when its run was taken from another node."""
    of = run.get("duplicate_of")
    if not of:
        return node
    said = f"duplicate of {of}"
    return Node(**{**node, "duplicate_of": of, "fate": said,
                   "summary": node["summary"] or f"{said}: the same files and params ran there, so it was not run again"})


def _path(ctx: ResearchContext, content: str) -> Path:
    return ctx.job_dir / CLAIMS_DIR / f"{content}.json"


def _take(ctx: ResearchContext, mine: Claim) -> Claim | None:
    """Claim ``mine.content`` unless someone has; return the owner's claim (None: unreadable)."""
    path = _path(ctx, mine.content)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        tmp = path.with_name(f"{mine.content}.{uuid.uuid4().hex}.tmp")  # one per writer: two may race
        tmp.write_text(json.dumps(asdict(mine)), encoding="utf-8")
        try:
            os.link(tmp, path)  # atomic and exclusive: of two racing branches exactly one wins
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
    try:
        return Claim(**json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None  # given up meanwhile, or not ours to read: run it here


def _claim_root(ctx: ResearchContext, tree: Sequence[Node]) -> None:
    """The unchanged task belongs to the root once its baseline has a result."""
    root = next((n for n in tree if n["id"] == ROOT), None)
    if root is None or root["experiment_id"] is None:
        return
    exp_id = experiment_id(ctx.job_id, ROOT, "baseline", 0)
    if root["experiment_id"] != exp_id or not (ctx.job_dir / exp_id / RESULT_FILE).is_file():
        return
    _take(ctx, Claim(content=content_hash(ctx.task_dir, {}, {}), node=ROOT, experiment_id=exp_id, round=0,
                     role="baseline"))


def _wait(ctx: ResearchContext, owner: Claim, deadline: float) -> Run | None:
    """The owner's result once its run has finished; None when its claim was given up or time ran out."""
    result_file = ctx.job_dir / owner.experiment_id / RESULT_FILE
    while not result_file.is_file():
        if not _path(ctx, owner.content).exists() or time.monotonic() > deadline:
            return None
        time.sleep(POLL_S)
    result = ExperimentResult.model_validate_json(result_file.read_text(encoding="utf-8"))
    value = result.metrics.get(ctx.task.metric.name) if result.succeeded else None
    run = Run(
        experiment_id=owner.experiment_id, iteration=owner.round, node=owner.node, role=owner.role, seed=0,
        params={}, files=[], idea_title="", status=result.status if value is not None or not result.succeeded
        else "failed", value=value, metrics=dict(result.metrics), duration_s=0.0, error=result.error,
        artifacts=[a.path for a in result.artifacts][:20], stdout_tail=result.stdout_tail[-4000:],
        stderr_tail=result.stderr_tail[-4000:],
    )
    if result.self_reported is not None:  # a graded run: the experiment's own numbers travel too
        run["self_reported"] = dict(result.self_reported)
    if (suspicious := grading.gap(ctx.task, result, ctx.grader_gap)) is not None:
        run["grader_gap"] = suspicious
    return run
