"""What a prompt tells the model about the job, within a stated token allowance.

Every LLM step gets a :class:`Briefing`: the chosen node's code, its output tail and metrics,
a short tree summary, this job's lessons, human rejections and memory recall. Each part has a
share of :data:`PROMPT_TOKENS` (≈ 4 characters a token); a part over its share is cut in the
middle with a visible marker that says how much was left out, never silently.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from agents import tree
from agents.state import Node, Rejection
from agents.task import Task

PROMPT_TOKENS = 6000  # the allowance of the job context in one prompt (the template's own text is extra)
CHARS_PER_TOKEN = 4
SHARES = {"code": 0.5, "output": 0.12, "tree": 0.1, "lessons": 0.1, "rejections": 0.06, "recall": 0.12}


def clip(text: str, max_chars: int, *, what: str = "text") -> str:
    """``text`` cut in the middle to ``max_chars`` with a marker naming what and how much was cut."""
    if len(text) <= max_chars:
        return text
    keep = max(max_chars - 120, 40)
    head, tail = text[: keep * 2 // 3], text[-(keep // 3):]
    cut = text[len(head): len(text) - len(tail)]
    marker = (f"\n[… {cut.count(chr(10)) + 1} lines ({len(cut)} characters) of {what} cut here to stay "
              f"within the prompt's {PROMPT_TOKENS}-token allowance …]\n")
    return head + marker + tail


def files_text(files: Mapping[str, str], max_chars: int) -> str:
    """Files as ``--- path ---`` blocks, each clipped to a fair share of ``max_chars``."""
    if not files:
        return "(no files)"
    share = max(max_chars // len(files), 200)
    return "\n\n".join(f"--- {rel} ---\n{clip(text, share, what=rel)}" for rel, text in sorted(files.items()))


def _chars(part: str) -> int:
    return int(PROMPT_TOKENS * CHARS_PER_TOKEN * SHARES[part])


@dataclass(frozen=True)
class Briefing:
    """The job context of one prompt, each part already within its share of the allowance."""

    code: str
    output: str
    metrics: str
    tree: str
    lessons: str
    rejections: str
    recall: str

    def values(self) -> dict[str, str]:
        """The template values (``$code``, ``$output``, ``$metrics``, ``$tree``, ...)."""
        return dict(self.__dict__)


def brief(task: Task, *, task_files: Mapping[str, str], node: Node | None, nodes: Sequence[Node],
          incumbent: str, rejections: Sequence[Rejection], recall: str = "") -> Briefing:
    """The briefing about ``node`` (the chosen parent, or the incumbent for a draft)."""
    code = files_text(tree.full_files(task_files, node), _chars("code"))
    output = clip(node["output_tail"], _chars("output"), what="output") if node and node["output_tail"] else "(none)"
    metrics = json.dumps(node["metrics"], sort_keys=True) if node and node["metrics"] else "(none)"
    if node and node["error"]:
        metrics += f"; the run failed: {node['error']}"
    learned = "\n".join(f"- {line}" for line in tree.lessons(nodes)) or "- none yet"
    rejected = "\n".join(f"- {r['idea'].get('title', '?')} ({r['kind']} rejected): {r['reason']}"
                         for r in rejections) or "- none"
    return Briefing(
        code=code, output=output, metrics=metrics,
        tree=clip(tree.summary(task, nodes, incumbent), _chars("tree"), what="tree summary"),
        lessons=clip(learned, _chars("lessons"), what="lessons"),
        rejections=clip(rejected, _chars("rejections"), what="rejections"),
        recall=clip(recall or "(no memory)", _chars("recall"), what="memory recall"),
    )
