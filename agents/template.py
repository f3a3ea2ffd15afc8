"""AI Scientist templates as tasks, run with no edits to their files.

A template is a folder without ``task.yaml`` that holds The AI Scientist's layout::

    experiment.py      takes --out_dir; writes final_info.json as {dataset: {"means": {...}, "stderrs": {...}}}
    prompt.json        {"system": "...", "task_description": "..."}
    seed_ideas.json    optional: [{"Name", "Title", "Experiment", ...}, ...]
    plot.py            optional: plots run_*/ folders of outputs into PNGs in its working folder
    labloop.yaml       optional: the task.yaml fields a template lacks (metric, budget, sandbox, ...)

It becomes a task: ``task_description`` is the goal; the entrypoint runs ``experiment.py
--out_dir=$LABLOOP_OUTPUT`` and then :data:`FLATTEN` (in the sandbox, which has python3 but not
labloop) turns ``final_info.json``'s ``means`` into ``metrics.json`` — numbers only, each named
``DATASET.NAME`` when there are several datasets. The metric and its direction come from the
job (``--metric NAME:maximize``, ``metric`` in a job's body) or labloop.yaml; a template with
neither runs its baseline once and the job is refused with the metrics it found.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from agents.errors import InvalidInput, InvalidTask

EXPERIMENT_FILE = "experiment.py"
PROMPT_FILE = "prompt.json"
SEED_IDEAS_FILE = "seed_ideas.json"
PLOT_FILE = "plot.py"
LABLOOP_FILE = "labloop.yaml"
FINAL_INFO = "final_info.json"
LABLOOP_FIELDS = ("name", "metric", "budget", "sandbox", "params", "search", "replicates", "max_replicates",
                  "min_gain", "environment")
"""What labloop.yaml may give: every task.yaml field but those the template itself defines."""
METRIC_NOT_GIVEN = "(metric not given)"
"""The metric of a template nobody named one for: its baseline runs once to list what it reports."""

FLATTEN = """\
import json, os, sys
out = os.environ["LABLOOP_OUTPUT"]
try:
    with open(os.path.join(out, "final_info.json")) as f:
        info = json.load(f)
except FileNotFoundError:
    sys.exit("experiment.py wrote no final_info.json under --out_dir")
except ValueError as e:
    sys.exit(f"final_info.json is not valid JSON: {e}")
if not isinstance(info, dict) or not info:
    sys.exit("final_info.json must be an object: {DATASET: {means: {NAME: NUMBER}}}")
flat = {}
for dataset, entry in info.items():
    means = entry.get("means") if isinstance(entry, dict) else None
    if not isinstance(means, dict):
        sys.exit(f"final_info.json: {dataset!r} has no means object")
    for name, value in means.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            flat[name if len(info) == 1 else f"{dataset}.{name}"] = value
with open(os.path.join(out, "metrics.json"), "w") as f:
    json.dump(flat, f)
"""
"""Runs in the sandbox after experiment.py: ``final_info.json``'s means → ``metrics.json``."""
ENTRYPOINT = f'python3 {EXPERIMENT_FILE} --out_dir="$LABLOOP_OUTPUT" && python3 -c {shlex.quote(FLATTEN)}'
PLOT_COMMAND = (f'python3 {PLOT_FILE}; status=$?; for f in *.png; do [ -f "$f" ] && cp "$f" "$LABLOOP_OUTPUT/"; '
                'done; echo "{}" > "$LABLOOP_OUTPUT/metrics.json"; exit $status')
"""Runs plot.py in a workspace holding run_0/ (the baseline's outputs) and run_1/ (the incumbent's);
the PNGs it leaves in its working folder become the run's artifacts."""
_SEED_READ = re.compile(r"LABLOOP_SEED")
SEED_NOTE = ("this template's experiment.py never reads LABLOOP_SEED, so every seed runs the same "
             "computation: verification's replicates will be identical unless the experiment is random "
             "on its own, and the paired test cannot then separate a gain from noise")

Reader = Callable[[str], str | None]
"""The text of a file of the template by relative path, or None when it has none."""


def folder_reader(folder: Path) -> Reader:
    """Read a template's files from ``folder``."""
    def read(rel: str) -> str | None:
        path = folder / rel
        return path.read_text(encoding="utf-8") if path.is_file() else None
    return read


def is_template(folder: str | Path) -> bool:
    """True when ``folder`` is an AI Scientist template (experiment.py and prompt.json, no task.yaml)."""
    path = Path(folder)
    return (not (path / "task.yaml").is_file() and (path / EXPERIMENT_FILE).is_file()
            and (path / PROMPT_FILE).is_file())


def has_template_files(paths: Mapping[str, object]) -> bool:
    """True when uploaded ``paths`` hold a template's experiment.py and prompt.json."""
    return EXPERIMENT_FILE in paths and PROMPT_FILE in paths


def _json(read: Reader, rel: str) -> Any:
    text = read(rel)
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise InvalidTask(f"the template's {rel} is not valid JSON: {exc}") from exc


def prompt(read: Reader) -> dict[str, str]:
    """prompt.json's ``system`` and ``task_description`` (the goal, required)."""
    raw = _json(read, PROMPT_FILE)
    if not isinstance(raw, dict) or not isinstance(raw.get("task_description"), str) \
            or not raw["task_description"].strip():
        raise InvalidTask(f"the template's {PROMPT_FILE} needs a non-empty \"task_description\" (it becomes the goal)")
    system = raw.get("system", "")
    return {"system": system if isinstance(system, str) else "", "task_description": raw["task_description"].strip()}


def seed_ideas(read: Reader) -> list[dict[str, str]]:
    """seed_ideas.json as ideas ``{title, hypothesis, plan}`` (its Title or Name, and Experiment)."""
    raw = _json(read, SEED_IDEAS_FILE)
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(item, dict) for item in raw):
        raise InvalidTask(f"the template's {SEED_IDEAS_FILE} must be a list of objects with Name, Title, Experiment")
    ideas = []
    for i, item in enumerate(raw):
        title = str(item.get("Title") or item.get("Name") or "").strip()
        if not title:
            raise InvalidTask(f"{SEED_IDEAS_FILE}: idea {i} has neither a Title nor a Name")
        ideas.append({"title": title[:200], "hypothesis": str(item.get("Title") or title),
                      "plan": str(item.get("Experiment") or "")})
    return ideas


def seed_ideas_of(task_dir: Path) -> list[dict[str, str]]:
    """The seed ideas of a template (none for a task with task.yaml)."""
    return seed_ideas(folder_reader(task_dir)) if is_template(task_dir) else []


TEMPLATE_NOTE = (f"This task is an AI Scientist template: labloop runs `python3 {EXPERIMENT_FILE} "
                 f"--out_dir=$LABLOOP_OUTPUT`, and the means in the {FINAL_INFO} it writes there are its "
                 "metrics (several datasets: DATASET.NAME); keep that output format.")


def system_text(task_dir: Path) -> str:
    """What a template adds to the system prompt (prompt.json's ``system`` and how it runs);
    "" for a task with task.yaml."""
    if not is_template(task_dir):
        return ""
    read = folder_reader(task_dir)
    seeds = "".join(f"\n- {idea['title']}" for idea in seed_ideas(read))[:2000]
    listed = f"The template's seed ideas (tried first, one a branch):{seeds}" if seeds else ""
    return "\n".join(part for part in (prompt(read)["system"], TEMPLATE_NOTE, listed) if part)


def reads_seed(read: Reader) -> bool:
    """True when experiment.py mentions LABLOOP_SEED (so its replicates can differ)."""
    return bool(_SEED_READ.search(read(EXPERIMENT_FILE) or ""))


def slug(name: str) -> str:
    """A folder's name as a task name (lower case; anything else becomes '-')."""
    return re.sub(r"[^a-z0-9_.-]+", "-", name.lower()).strip("-._")[:64] or "template"


def template_spec(read: Reader, *, default_name: str | None, fields: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The task.yaml-shaped fields of a template: labloop.yaml, then the job's ``fields`` over it."""
    extra: Any = {}
    text = read(LABLOOP_FILE)
    if text is not None:
        try:
            extra = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise InvalidTask(f"{LABLOOP_FILE} is not valid YAML: {exc}") from exc
        if not isinstance(extra, dict):
            raise InvalidTask(f"{LABLOOP_FILE} must be a mapping ({', '.join(LABLOOP_FIELDS)})")
        unknown = sorted(set(extra) - set(LABLOOP_FIELDS))
        if unknown:
            raise InvalidTask(f"{LABLOOP_FILE}: unknown key '{unknown[0]}'; it may give {', '.join(LABLOOP_FIELDS)} "
                              "(the goal comes from prompt.json, the entrypoint is experiment.py)")
    spec: dict[str, Any] = {**extra, **(fields or {})}
    name = spec.get("name") or default_name
    if not name:
        raise InvalidTask(f"an uploaded template needs its name in {LABLOOP_FILE} (name: my-template)")
    spec.update(name=name, goal=prompt(read)["task_description"], entrypoint=ENTRYPOINT)
    spec.setdefault("metric", {"name": METRIC_NOT_GIVEN, "direction": "maximize"})
    seed_ideas(read)  # a broken seed_ideas.json is refused now, not in the middle of a job
    return spec


def metric_option(text: str) -> dict[str, str]:
    """``NAME:maximize|minimize`` (the CLI's ``--metric``) as a metric object."""
    name, _, direction = text.rpartition(":")
    if not name or direction not in ("maximize", "minimize"):
        raise InvalidInput(f"--metric takes NAME:maximize or NAME:minimize, not {text!r}")
    return {"name": name, "direction": direction}


def no_metric_refusal(task_dir: Path, metrics: Mapping[str, float]) -> str:
    """Why a template job without a metric stops after its baseline, and which --metric to pass."""
    if not metrics:
        return (f"the template {task_dir} names no metric, and its baseline reported none (see its output); "
                "fix experiment.py's final_info.json, then pass --metric NAME:maximize|minimize")
    listed = ", ".join(f"{k} = {v:.4g}" for k, v in sorted(metrics.items()))
    first = sorted(metrics)[0]
    return (f"the template {task_dir} names no metric; its baseline reported: {listed}. Say which to "
            f"optimise and in which direction: labloop run {task_dir} --metric {first}:minimize (or "
            f":maximize), or `metric: {{name: {first}, direction: minimize}}` in {LABLOOP_FILE} or a job's body")
