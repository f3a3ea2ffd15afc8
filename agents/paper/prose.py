"""The paper's prose, by section, with references instead of numbers: from templates or from the model.

Without a model (or when the model's reply cannot be used) the prose comes from templates: what
the task asked, how the search ran and what it verified, stated only through references, so a
search job can publish too. With a model, one reply writes every section from the journal's fact
sheet; a human's reason for rejecting the draft asks for one revision of it.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, Field

from agents.checkpoints import PAPER_SECTIONS
from agents.paper.journal import Journal
from agents.state import ROOT

Prose = dict[str, str]

OPERATORS = ("**draft** (a new approach from the task as given), **improve** (one change to a node that ran), "
             "**debug** (a fix of a node that failed) and **ablate** (a verified change taken apart to see which "
             "part of it gains)")


class ProseReply(BaseModel):
    """The model's write-up: one string of Markdown per section, references in place of numbers."""

    title: str = Field(min_length=1, max_length=300)
    abstract: str = Field(min_length=1)
    introduction: str = Field(min_length=1)
    method: str = Field(min_length=1)
    results: str = Field(min_length=1)
    limitations: str = Field(min_length=1)


def from_templates(journal: Journal, *, strategy: str) -> Prose:
    """The prose of a paper written without a model: every result through a reference."""
    task = journal.task
    incumbent = journal.incumbent
    verified = incumbent is not None and incumbent["id"] != ROOT and journal.verdict(incumbent["id"]) is not None
    reference = "the first incumbent (the first draft that ran: the task had no baseline)" if journal.from_data \
        else "the baseline (the task as given)"
    if verified and incumbent is not None:
        outcome = (f"The best verified solution, node `{incumbent['id']}` ({{{{title {incumbent['id']}}}}}), reaches "
                   f"{{{{metric}}}} = {{{{best}}}} on seed 0 against {{{{baseline}}}} for {reference}: a mean paired "
                   f"gain of {{{{overall {incumbent['id']}}}}} over it, and of {{{{gain {incumbent['id']}}}}} "
                   f"(95% interval {{{{ci {incumbent['id']}}}}}, {{{{n {incumbent['id']}}}}} pairs) over the "
                   "incumbent it had to beat.")
    else:
        outcome = (f"No change was verified: {reference} stays the best verified solution, with {{{{metric}}}} = "
                   "{{baseline}} on seed 0.")
    how = ("a language model proposed and implemented each change" if strategy == "llm"
           else "a hyperparameter sampler (Optuna's TPE) proposed each change within the task's search space")
    return {
        "title": f"Verified search on {task.name}: {task.metric.name}",
        "abstract": (f"We searched for improvements to the task *{task.name}*, measured by {{{{metric}}}} "
                     f"({{{{direction}}}}). Over {{{{rounds}}}} rounds and {{{{experiments}}}} sandboxed experiments, "
                     f"{how}; every candidate that looked better was verified on paired seeds it never saw. "
                     + outcome + " {{findings}} finding(s) passed verification."),
        "introduction": (f"The task's goal, in its author's words:\n\n> {_quote(task.goal)}\n\nIts metric is "
                         "{{metric}}, to {{direction}}. A result counts here only when it holds on seeds the "
                         "search never saw, graded by code the experiment could not touch."),
        "method": (f"The job grows a tree of solutions from {reference}. Each round expands the most promising "
                   f"nodes in parallel by one of four operators: {OPERATORS}; {how}. Every experiment runs in a "
                   "fresh, locked-down container, and is screened on seed 0. The round's best candidate that beats "
                   "the incumbent on seed 0 is verified against it on this job's own verification seeds, which no "
                   "idea and no code ever saw: {{rule}}. A verified candidate becomes the incumbent; the intervals "
                   "reported below are two-sided 95% Student-t intervals of the mean paired gain (positive is better)."),
        "results": (outcome + " The table compares them; the findings table lists every verified change with its "
                    "paired evidence, and the last table the changes that looked better on seed 0 but did not hold up."),
        "limitations": ("Each result is measured on one task and its own data; the seeds vary the experiment's "
                        "randomness, not the data it is given. Screening on a single seed means a change whose gain "
                        "is small against the seed-to-seed noise may never reach verification, and the search "
                        "stopped at its budget ({{rounds}} rounds), not at convergence. The verification rule bounds "
                        "the share of changes with no effect that are verified, not the size of a verified gain."),
    }


def _quote(text: str) -> str:
    return "\n> ".join(text.strip().splitlines())


def parsed(reply: ProseReply) -> Prose:
    """The model's reply as prose by section."""
    return {name: str(getattr(reply, name)).strip() for name in PAPER_SECTIONS}


def edited(prose: Mapping[str, str], edit: Mapping[str, object]) -> Prose:
    """``prose`` with a human's edit of some sections over it (the others kept)."""
    return {name: str(edit[name]) if isinstance(edit.get(name), str) else prose.get(name, "")
            for name in PAPER_SECTIONS}
