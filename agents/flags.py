"""What the ``auto`` gate policy escalates to a human, and why (one reason per flag).

* code: every changed file that can run. Python: imports of network or process modules,
  process-spawning and signal-sending calls, writes to absolute paths or through ``..``
  (outside the workspace). Anything else but data and prose (shell scripts, Makefiles, R, ...):
  commands that reach the network, send signals or start background processes. An edit of ``task.yaml``
  or a template's ``labloop.yaml`` (it changes nothing of the job: metric, budget and sandbox are
  fixed when the job is made);
* ideas: close to one a human rejected (same params, similar text, or a rejected neighbour
  from the novelty check);
* findings: a claimed gain that is large relative to the baseline; a critique that was
  unavailable (the model's reply could not be used), so no sceptical reading backs the finding; a
  graded run whose own (self-reported) score is far from the grader's (see agents/grading.py).
"""

from __future__ import annotations

import ast
import difflib
import re
from collections.abc import Mapping, Sequence
from pathlib import PurePosixPath
from typing import Any

NETWORK_OR_PROCESS = frozenset({
    "socket", "subprocess", "requests", "urllib", "urllib3", "http", "httpx", "aiohttp", "ftplib",
    "smtplib", "telnetlib", "paramiko", "pty", "multiprocessing", "asyncio.subprocess", "ctypes",
})
_SPAWNING = frozenset({
    "system", "popen", "spawnl", "spawnlp", "spawnv", "spawnvp", "execv", "execvp", "execl", "execlp",
    "execve", "fork", "forkpty", "posix_spawn", "posix_spawnp", "kill", "killpg", "setsid", "setpgid",
})
# In any other text file: a command or construct that reaches out, signals or runs detached.
_SHELL_RISKS = [
    (re.compile(r"\b(curl|wget|nc|ncat|netcat|ssh|scp|rsync|ftp|telnet)\b"), "reaches the network ({0})"),
    (re.compile(r"/dev/(tcp|udp)/"), "opens a network socket (/dev/{0})"),
    (re.compile(r"\b(kill|pkill|killall|trap)\b"), "sends or traps signals ({0})"),
    (re.compile(r"\b(nohup|setsid|disown|crontab|screen|tmux)\b"), "starts a detached process ({0})"),
    (re.compile(r"(?<![&|>])&\s*(?:$|[;#)])", re.MULTILINE), "starts a background process (&)"),
]
_DATA_OR_PROSE = frozenset({".md", ".txt", ".rst", ".csv", ".tsv", ".json", ".yaml", ".yml", ".toml"})
TASK_FILE_FLAG = (
    "edits task.yaml: this changes nothing of the job (its metric, budget and sandbox were fixed "
    "when it was created); check why the change wants it"
)
LARGE_GAIN = 0.2  # a claimed gain above 20 % of the baseline's magnitude is escalated
SIMILAR_TEXT = 0.85


def code_flags(files: Mapping[str, str]) -> list[str]:
    """Reasons to show this code to a human before it runs (empty when nothing is suspicious)."""
    reasons: list[str] = []
    for rel, text in sorted(files.items()):
        if PurePosixPath(rel).name == "task.yaml":
            reasons.append(f"{rel}: {TASK_FILE_FLAG}")
        elif rel == "labloop.yaml":  # an AI Scientist template's task fields: fixed with the job too
            reasons.append(f"{rel}: {TASK_FILE_FLAG.replace('task.yaml', 'labloop.yaml')}")
        elif rel.endswith(".py"):
            reasons.extend(_python_flags(rel, text))
        elif PurePosixPath(rel).suffix.lower() not in _DATA_OR_PROSE:
            reasons.extend(_text_flags(rel, text))
    return sorted(set(reasons))


def _python_flags(rel: str, text: str) -> list[str]:
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return []  # the run will fail and say so; not a safety question
    return [f"{rel}:{getattr(node, 'lineno', '?')}: {r}" for node in ast.walk(tree) for r in _node_flags(node)]


def _text_flags(rel: str, text: str) -> list[str]:
    reasons = []
    for number, line in enumerate(text.splitlines(), start=1):
        code = line.split("#", 1)[0] if not line.startswith("#!") else ""
        for pattern, what in _SHELL_RISKS:
            if found := pattern.search(code):
                reasons.append(f"{rel}:{number}: {what.format(found.group(1) if found.groups() else '')}")
    return reasons


def _node_flags(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Import):
        return [f"imports {a.name}" for a in node.names if _risky(a.name)]
    if isinstance(node, ast.ImportFrom) and node.module and _risky(node.module):
        return [f"imports from {node.module}"]
    if isinstance(node, ast.Call):
        func = node.func
        if (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)
                and func.value.id == "os" and func.attr in _SPAWNING):
            return [f"calls os.{func.attr}"]
        if isinstance(func, ast.Name) and func.id in {"open", "Path"} and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str) and _outside(first.value):
                return [f"touches {first.value!r} outside the workspace"]
        if isinstance(func, ast.Name) and func.id in {"__import__", "eval", "exec"}:
            return [f"calls {func.id}"]
    return []


def _risky(module: str) -> bool:
    return any(module == m or module.startswith(m + ".") for m in NETWORK_OR_PROCESS)


def _outside(path: str) -> bool:
    return path.startswith(("/", "~")) or ".." in path.replace("\\", "/").split("/")


def idea_flags(
    idea: Mapping[str, Any], rejections: Sequence[Mapping[str, Any]],
    neighbours: Sequence[Mapping[str, Any]] = (),
) -> list[str]:
    """Reasons this idea looks like one a human already rejected."""
    reasons: list[str] = []
    text = f"{idea.get('title', '')} {idea.get('plan', '')}"
    for rejected in rejections:
        if rejected.get("kind") != "idea":
            continue
        old = rejected.get("idea", {})
        if idea.get("params") and old.get("params") == idea.get("params"):
            reasons.append(f"same params as rejected idea {old.get('title')!r} ({rejected.get('reason')})")
        elif difflib.SequenceMatcher(None, text, f"{old.get('title', '')} {old.get('plan', '')}").ratio() > SIMILAR_TEXT:
            reasons.append(f"close to rejected idea {old.get('title')!r} ({rejected.get('reason')})")
    for n in neighbours:
        if n.get("fate") == "rejected" or n.get("metadata", {}).get("fate") == "rejected":
            reasons.append(f"memory: close to a rejected idea: {str(n.get('text', ''))[:80]!r}")
    return reasons


def finding_flags(gain: float, baseline_value: float) -> list[str]:
    """Reasons to double-check a verified finding: a gain large relative to the baseline."""
    scale = max(abs(baseline_value), 1e-9)
    if gain / scale > LARGE_GAIN:
        return [f"large claimed gain: {gain:.4g} is {gain / scale:.0%} of the baseline {baseline_value:.4g}"]
    return []


def grader_flags(node: Mapping[str, Any]) -> list[str]:
    """Reasons to double-check a finding whose experiment scored itself far from its grader."""
    gap = node.get("grader_gap")
    return [f"reward-hacking signal: {gap}"] if gap else []


def critique_unavailable_flag(reason: str) -> str:
    """The flag of a finding whose critique could not be had: a human reads it in the critique's place."""
    return f"the critique is unavailable ({reason[:300]}): check the finding by hand"
