"""What a prompt tells the model about the job, within a token allowance sized from the model's context.

Every LLM step gets a :class:`Briefing`: the task's files as :mod:`agents.prompt_files` shows
them (the file to edit whole, data and descriptions summarised), the chosen node's output tail
and metrics, a short tree summary, this job's lessons (a human's approval reasons among them),
human rejections, the human history of the branch and memory recall. The allowance
(:func:`allowance`) is what the model's context (``LABLOOP_LLM_CONTEXT_TOKENS``) holds besides
the step's reply and the template; each part has a share of it (≈ 4 characters a token). A part
over its share is cut on line boundaries, with a visible marker that says how much was left out.
"""

from __future__ import annotations

import difflib
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from agents import tree
from agents.context import ModelLimits, ResearchContext
from agents.experiments import PARAMS_FILE, DataFile, data_files, source_files
from agents.prompt_files import FileKind, data_summary, description_summary, editable_files, kind_of
from agents.state import ROOT, Decision, Json, Node, Rejection

CHARS_PER_TOKEN = 4
TEMPLATE_TOKENS = 1_500  # the step's own text and the system prompt, outside the allowance
MIN_ALLOWANCE = 1_500
MIN_SHOWN = 400  # a code file whose share is smaller is named, not shown
SHARES = {"code": 0.55, "output": 0.1, "tree": 0.07, "lessons": 0.07, "rejections": 0.05, "history": 0.08,
          "recall": 0.08}


def allowance(limits: ModelLimits, step: str) -> int:
    """The job context's tokens in one prompt of ``step``: two thirds of what the context holds
    besides the reply and the template (the rest is room for a retry's feedback)."""
    room = limits.context_tokens - limits.reply_tokens(step) - TEMPLATE_TOKENS
    return max(room * 2 // 3, MIN_ALLOWANCE)


def _shorten(line: str, most: int) -> str:
    if len(line) <= most:
        return line
    keep = max(most - 60, 20)
    end = "\n" if line.endswith("\n") else ""
    return f"{line[: keep // 2]} [… {len(line) - keep} characters of this line cut …] {line[-(keep // 2):]}{end}"


def clip(text: str, max_chars: int, *, what: str = "text") -> str:
    """``text`` cut on line boundaries to about ``max_chars``: its head and tail with a marker naming
    what and how much was cut between them (a single line longer than half is shortened itself)."""
    if len(text) <= max_chars:
        return text
    budget = max(max_chars - 160, 80)
    lines = [_shorten(line, budget // 2) for line in text.splitlines(keepends=True)]
    head: list[str] = []
    used = 0
    for line in lines:
        if used + len(line) > budget * 2 // 3:
            break
        head.append(line)
        used += len(line)
    tail: list[str] = []
    for line in reversed(lines[len(head):]):
        if used + len(line) > budget:
            break
        tail.append(line)
        used += len(line)
    tail.reverse()
    cut = lines[len(head): len(lines) - len(tail)]
    if not cut:
        return "".join(lines)
    marker = (f"[… {len(cut)} lines ({sum(len(x) for x in cut)} characters) of {what} cut here to stay within "
              "the prompt's allowance …]\n")
    joined = "".join(head)
    return joined + ("" if not joined or joined.endswith("\n") else "\n") + marker + "".join(tail)


def _editable_block(rel: str, text: str, most: int) -> str:
    if len(text) <= most:
        return f"--- {rel} (the experiment's code: shown whole) ---\n{text}"
    return (f"--- {rel} (too long for the model's context, LABLOOP_LLM_CONTEXT_TOKENS, to show whole: edit it "
            f"only with search/replace edits on the lines shown, or reply with the whole file) ---\n"
            f"{clip(text, most, what=rel)}")


def files_text(files: Mapping[str, str], data: Mapping[str, DataFile], *, editable: set[str], max_chars: int,
               context_chars: int | None = None) -> str:
    """The task's files as ``--- path ---`` blocks, by kind: editable whole (unless they exceed what the
    model's context holds, ``context_chars``), code while the allowance lasts (then cut on line
    boundaries), descriptions and data summarised, settings only named."""
    if not files and not data:
        return "(no files)"
    every = {**{rel: DataFile(size=len(text.encode()), head=text, lines=len(text.splitlines()))
                for rel, text in files.items()}, **data}
    kinds: dict[str, FileKind] = {rel: kind_of(rel, f.size, editable=editable, text=rel in files and not f.binary)
                                  for rel, f in every.items()}
    by_kind = {kind: sorted(rel for rel, k in kinds.items() if k == kind)
               for kind in ("editable", "code", "description", "data", "settings")}
    most = (context_chars or sys.maxsize) // max(len(by_kind["editable"]), 1)
    blocks = [_editable_block(rel, files[rel], most) for rel in by_kind["editable"]]
    summaries: list[str] = []
    for rel in by_kind["description"] + by_kind["data"]:  # many data files: the later ones only named
        whole = sum(len(x) for x in summaries) < max_chars // 3
        summaries.append(_summary(rel, every[rel], kinds[rel]) if whole else _named(rel, every[rel], kinds[rel]))
    summaries += [f"--- {rel} (the task's settings: the system prompt states this job's own budget and limits; "
                  "not repeated) ---" for rel in by_kind["settings"]]
    left = max_chars - sum(len(b) for b in blocks) - sum(len(s) for s in summaries)
    for n, rel in enumerate(by_kind["code"]):
        share = max(left // (len(by_kind["code"]) - n), 0)
        if share < MIN_SHOWN:
            blocks.append(_named(rel, every[rel], "code"))
            continue
        text = files[rel] if len(files[rel]) <= share else clip(files[rel], share, what=rel)
        blocks.append(f"--- {rel} ---\n{text}")
        left -= len(text)
    return "\n\n".join(blocks + summaries)


def _summary(rel: str, file: DataFile, kind: FileKind) -> str:
    return description_summary(rel, file) if kind == "description" else data_summary(rel, file)


def _named(rel: str, file: DataFile, kind: FileKind) -> str:
    return (f"--- {rel} ({kind}, {file.size} bytes; not shown: the prompt's allowance is spent; the experiment "
            f"can read it) ---")


def change_diff(before: Mapping[str, str], after: Mapping[str, str], params_before: Json, params_after: Json) -> str:
    """A unified diff of a change between two workspaces (a node from its parent)."""
    old, new = dict(before), dict(after)
    if params_before or params_after:
        old[PARAMS_FILE] = json.dumps(params_before, indent=2, sort_keys=True) + "\n" if params_before else ""
        new[PARAMS_FILE] = json.dumps(params_after, indent=2, sort_keys=True) + "\n" if params_after else ""
    chunks: list[str] = []
    for rel in sorted(set(old) | set(new)):
        chunks.extend(difflib.unified_diff(old.get(rel, "").splitlines(keepends=True),
                                           new.get(rel, "").splitlines(keepends=True),
                                           fromfile=f"a/{rel}", tofile=f"b/{rel}"))
    return "".join(x if x.endswith("\n") else x + "\n" for x in chunks) or "(no change)"


def diff_from_parent(ctx: ResearchContext, parent: Node | None, files: Mapping[str, str], params: Json) -> str:
    """What a branch changes: the diff from its parent's whole workspace (the task's files under the
    parent's changes), so a file the parent left alone is compared with the task's own copy."""
    originals = source_files(ctx.task_dir)
    return change_diff(tree.full_files(originals, parent), {**originals, **files},
                       parent["params"] if parent else {}, params)


def edit_text(edit: Json) -> str:
    """What a human's edit at a gate changed, in one line."""
    parts = []
    for key, value in sorted(edit.items()):
        if key == "files" and isinstance(value, Mapping):
            parts.append("rewrote " + ", ".join(sorted(value)))
        else:
            parts.append(f"{key} → {json.dumps(value, sort_keys=True)[:200]}")
    return "; ".join(parts) or "no change"


def slim_decision(decision: Decision) -> Decision:
    """A decision as later prompts need it: an edit's files named, not carried whole."""
    edit = dict(decision["edit"])
    if isinstance(edit.get("files"), Mapping):
        edit["files"] = dict.fromkeys(edit["files"], "…")
    return Decision(**{**decision, "edit": edit})


def approvals(decisions: Sequence[Decision]) -> list[str]:
    """A human's reasons for approving, kept as lessons."""
    return [f"a human approved the {d['kind']} {d['subject']!r} of {d['node']}: {d['reason']}"
            for d in decisions if d["action"] == "approve" and d["reason"].strip()]


def _article(word: str) -> str:
    """The indefinite article before an operator's name (an improve, an ablate, a draft, a debug)."""
    return "an" if word[:1].lower() in "aeiou" else "a"


def history(nodes: Sequence[Node], node: str | None, decisions: Sequence[Decision]) -> list[str]:
    """The human history of a branch: on ``node`` and each of its ancestors, the edits a human made
    at its gates, and its children (sibling attempts) a human rejected, with the reasons."""
    by_id = tree.by_id(nodes)
    path: list[str] = []
    at = node
    while at is not None and at not in path:
        path.append(at)
        at = by_id[at]["parent"] if at in by_id else None
    if ROOT not in path:
        path.append(ROOT)
    lines = []
    for d in decisions:
        made = by_id.get(d["node"])
        if d["action"] == "edit" and d["node"] in path:
            lines.append(f"- {d['node']}: a human ({d['by']}) edited the {d['kind']} at its gate: "
                         f"{edit_text(d['edit'])}" + (f" — {d['reason']}" if d["reason"] else ""))
        elif d["action"] == "reject" and made is not None and made["parent"] in path:
            lines.append(f"- {d['node']} ({_article(made['operator'])} {made['operator']} of {made['parent']}): "
                         "a human rejected the "
                         f"{d['kind']} {d['subject'] or made['idea']['title']!r}: {d['reason'] or '(no reason given)'}")
    return lines


@dataclass(frozen=True)
class Briefing:
    """The job context of one prompt, each part already within its share of the allowance."""

    code: str
    output: str
    metrics: str
    tree: str
    lessons: str
    rejections: str
    history: str
    recall: str

    def values(self) -> dict[str, str]:
        """The template values (``$code``, ``$output``, ``$metrics``, ``$tree``, ...)."""
        return dict(self.__dict__)


def brief(ctx: ResearchContext, *, step: str, node: Node | None, nodes: Sequence[Node], incumbent: str,
          rejections: Sequence[Rejection], decisions: Sequence[Decision] = (), recall: str = "",
          task_files: Mapping[str, str] | None = None, with_files: bool = True) -> Briefing:
    """The briefing of ``step`` about ``node`` (the chosen parent, or the incumbent for a draft)."""
    chars = allowance(ctx.limits, step) * CHARS_PER_TOKEN

    def share(part: str) -> int:
        return int(chars * SHARES[part])

    code = "(not shown)"
    if with_files:
        originals = source_files(ctx.task_dir) if task_files is None else task_files
        current = tree.full_files(originals, node)
        editable = editable_files(ctx.task.entrypoint, current, node["files"] if node else {})
        room = ctx.limits.context_tokens - ctx.limits.reply_tokens(step) - TEMPLATE_TOKENS
        code = files_text(current, data_files(ctx.task_dir), editable=editable, max_chars=share("code"),
                          context_chars=room * CHARS_PER_TOKEN * 4 // 5)
    output = clip(node["output_tail"], share("output"), what="output") if node and node["output_tail"] else "(none)"
    metrics = json.dumps(node["metrics"], sort_keys=True) if node and node["metrics"] else "(none)"
    if node and node["error"]:
        metrics += f"; the run failed: {node['error']}"
    learned = "\n".join(f"- {line}" for line in [*tree.lessons(nodes), *approvals(decisions)]) or "- none yet"
    rejected = "\n".join(f"- {r['idea'].get('title', '?')} ({r['kind']} rejected): {r['reason']}"
                         for r in rejections) or "- none"
    told = "\n".join(history(nodes, node["id"] if node else None, decisions)) or "- none"
    return Briefing(
        code=code, output=output, metrics=metrics,
        tree=clip(tree.summary(ctx.task, nodes, incumbent), share("tree"), what="tree summary"),
        lessons=clip(learned, share("lessons"), what="lessons"),
        rejections=clip(rejected, share("rejections"), what="rejections"),
        history=clip(told, share("history"), what="human history"),
        recall=clip(recall or "(no memory)", share("recall"), what="memory recall"),
    )
