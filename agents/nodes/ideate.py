"""``ideate`` (a branch's first step): the idea of the branch's operator; memory checks it is new.

``draft`` and ``improve`` ask the strategy (the search sampler's proposal from select, or the
model with the chosen node's code and the job's context; with strategy llm, an AI Scientist
template's seed ideas come first, one a slot, before the model is asked); ``debug`` and ``ablate`` need no
idea from anyone: they repair a failed node or revert one part of the incumbent's change.
A draft of a task that starts from data is asked with the data: the file listing, the first
rows of each table and the data description (:mod:`agents.drafting`).
"""

from __future__ import annotations

from langgraph.runtime import Runtime

from agents import remember, tree
from agents.briefing import brief
from agents.context import ResearchContext
from agents.drafting import from_data, propose_draft
from agents.errors import BudgetExhausted, LLMReplyInvalid
from agents.flags import idea_flags
from agents.llm_steps import meter_for, propose_idea, spent
from agents.nodes.gates import request
from agents.nodes.review import unusable_reply
from agents.search import propose
from agents.state import ROOT, BranchState, Idea, Json, Node
from agents.template import seed_ideas_of

REPROPOSALS = 3  # an idea too close to one tried or rejected is re-proposed at most this often


def _search_idea(ctx: ResearchContext, state: BranchState, prior: list[tuple[dict[str, object], float]],
                 attempt: int) -> Json:
    expansion = state["expansion"]
    if attempt == 0 and expansion["proposal"] is not None:
        return dict(expansion["proposal"])
    points = tree.told(state["tree"])
    avoid = [r["idea"].get("params") or {} for r in state.get("prior_rejections", [])] + [p for p, _ in points]
    return propose(ctx.task, job_id=ctx.job_id, iteration=expansion["round"] * 100 + expansion["slot"],
                   told=points, prior=prior, avoid=avoid, attempt=attempt)


def _seed_idea(ctx: ResearchContext, state: BranchState) -> Json | None:
    """The template's next seed idea not yet in the tree (slot k of a round takes the k-th left)."""
    used = {n["idea"]["title"] for n in state["tree"] if n["idea"]["source"] == "seed"}
    left = [idea for idea in seed_ideas_of(ctx.task_dir) if idea["title"] not in used]
    slot = state["expansion"]["slot"]
    return {**left[slot], "params": {}, "source": "seed"} if slot < len(left) else None


def _fixed_idea(state: BranchState) -> Idea:
    """The idea of a debug or ablate step (no model, no sampler)."""
    expansion, nodes = state["expansion"], tree.by_id(state["tree"])
    parent = nodes[expansion["parent"]]
    if expansion["operator"] == "debug":
        return Idea(title=f"Debug: {parent['idea']['title']}"[:200], hypothesis=f"fix the failure of {parent['id']}: "
                    f"{(parent['error'] or '')[:200]}", plan=parent["idea"]["plan"], params={}, source="debug")
    parts = tree.ablate_parts(nodes.get(parent["parent"] or ""), parent)
    what = parts[0][0] if parts else "nothing"
    return Idea(title=f"Ablation of {parent['id']}: {what}"[:200], source="ablate", params={},
                hypothesis=f"attribute the gain of {parent['idea']['title']!r}: how much is lost without this part",
                plan=f"{what} and run the rest of the change unchanged")


def ideate(state: BranchState, runtime: Runtime[ResearchContext]) -> BranchState:
    """Propose the branch's idea; keep the novelty check's neighbours with it."""
    ctx, expansion = runtime.context, state["expansion"]
    if ctx.should_stop():  # a cancel stops every branch before it spends anything
        return {"idea": None, "stop_reason": "cancelled: a cancel was requested"}
    if expansion["operator"] in ("debug", "ablate"):
        return {"idea": _fixed_idea(state), "candidate": None, "run": None, "gate": None,
                "checkpoint": request(ctx, "idea", [])}
    if ctx.strategy == "search" and not ctx.task.params:
        return {"stop_reason": "the task has no params space, so the search strategy has nothing "
                               "to try; add params to task.yaml or configure an LLM"}
    nodes = tree.by_id(state["tree"])
    recalled = remember.recall(ctx, ctx.task.goal)
    meter = meter_for(ctx, state["tokens_before"], step="ideate")
    parent: Node | None = nodes.get(expansion["parent"])
    shown = nodes.get(state["incumbent"]) if expansion["operator"] == "draft" else parent
    briefing = brief(ctx, step="ideate", node=shown, nodes=state["tree"], incumbent=state["incumbent"],
                     rejections=state.get("prior_rejections", []), decisions=state.get("prior_decisions", []),
                     recall=recalled.as_prompt_text() if recalled else "", with_files=ctx.strategy == "llm")
    best = nodes.get(state["incumbent"])
    retry_note = ""
    idea: Json = {}
    seeded = _seed_idea(ctx, state) if ctx.strategy == "llm" else None
    try:
        for attempt in range(REPROPOSALS + 1):
            if seeded is not None and attempt == 0:
                idea = dict(seeded)
            elif ctx.strategy == "search":
                idea = _search_idea(ctx, state, recalled.prior_trials if recalled else [], attempt)
            elif expansion["operator"] == "draft" and from_data(state["baseline"]):
                idea = propose_draft(ctx, meter, briefing, missing=state["baseline"]["missing"], retry_note=retry_note)
            else:
                idea = propose_idea(ctx, meter, briefing, operator=expansion["operator"],
                                    parent=shown["id"] if shown else ROOT, retry_note=retry_note,
                                    baseline=state["baseline"].get("value"), best=best["value"] if best else None)
            check = remember.novelty(ctx, idea)
            idea["neighbours"] = [n._asdict() for n in check.neighbours] if check else []
            idea["novelty"] = check.reason if check else "no memory"
            novel = check is None or check.novel or attempt == REPROPOSALS
            remember.idea(ctx, expansion["round"], idea, fate="proposed" if novel else "duplicate",
                          attempt=attempt, check=check, node=expansion["node"])
            if novel:
                idea["attempt"] = attempt
                break
            assert check is not None
            retry_note = check.as_prompt_text()
    except BudgetExhausted as exc:
        return {"idea": None, "stop_reason": str(exc), **spent(ctx, meter, "ideate", before=state["tokens_before"])}
    except LLMReplyInvalid as exc:  # no usable idea: this branch ends as a failed node, the job goes on
        return {**unusable_reply(state, ctx, "idea", str(exc), spent(ctx, meter, "ideate", before=state["tokens_before"])),
                "idea": None}
    if recalled is not None:
        idea["citations"] = recalled.citations()
    ctx.journal.emit(ctx.job_id, "idea", {"iteration": expansion["round"], "node": expansion["node"],
                                          "operator": expansion["operator"], "title": idea["title"]})
    flagged = idea_flags(idea, state.get("prior_rejections", []), idea["neighbours"])
    return {"idea": Idea(**idea),  # type: ignore[typeddict-item]
            "candidate": None, "run": None, "gate": None,
            "checkpoint": request(ctx, "idea", flagged),
            **spent(ctx, meter, "ideate", before=state["tokens_before"])}
