"""The task format: a folder with ``task.yaml`` and the baseline experiment beside it."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from agents import template
from agents.errors import InvalidTask
from sandbox.policy import parse_size
from sandbox.requirements import normalise_text
from sandbox.result import Limits

TASK_FILE = "task.yaml"
REQUIREMENTS_FILE = "requirements.txt"
MAX_REQUIREMENTS_BYTES = 64 * 1024
TASK_NAME = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
"""What a task may be called: a slug (it names folders, URLs and queue locks)."""
_NAME = re.compile(TASK_NAME)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Metric(_Strict):
    """The number the job optimises."""

    name: str = Field(min_length=1)
    direction: Literal["maximize", "minimize"] = "maximize"

    def better(self, a: float, b: float) -> bool:
        """True when ``a`` is strictly better than ``b``."""
        return a > b if self.direction == "maximize" else a < b

    def gain(self, new: float, old: float) -> float:
        """How much better ``new`` is than ``old`` (positive = improvement)."""
        return new - old if self.direction == "maximize" else old - new


class Param(_Strict):
    """One dimension of the search space: a numeric range or a list of choices."""

    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = False
    choices: list[str | int | float | bool] | None = None

    @model_validator(mode="after")
    def _range_or_choices(self) -> Param:
        if self.choices is not None:
            if self.low is not None or self.high is not None:
                raise ValueError("give either choices or low/high, not both")
            if not self.choices:
                raise ValueError("choices must not be empty")
            return self
        if self.low is None or self.high is None:
            raise ValueError("a numeric parameter needs both low and high (or use choices)")
        if self.low >= self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        if self.log and self.low <= 0:
            raise ValueError("a log-scale parameter needs low > 0")
        return self


class Budget(_Strict):
    """How much a job may spend before it stops."""

    iterations: int = Field(8, ge=1, le=10_000)
    experiment_timeout_s: float = Field(300.0, gt=0, le=86_400)
    debug_attempts: int = Field(3, ge=0, le=20)
    llm_tokens: int = Field(200_000, ge=0)
    wall_clock_s: float | None = Field(None, gt=0)
    experiments: int | None = Field(None, ge=1, le=100_000)  # sandbox runs, replicates included


class SandboxSpec(_Strict):
    """Which image and limits the task's experiments run with."""

    image: str | None = None
    cpus: float = Field(1.0, gt=0, le=64)
    memory: str = Field("1g", pattern=r"^\d+[kmg]?$")
    network: Literal["none", "bridge"] = "none"
    pids: int = Field(256, ge=16, le=65_536)
    disk: str = Field("256m", pattern=r"^\d+[kmg]?$")  # workspace + outputs, enforced by the kernel
    files: int = Field(20_000, ge=100, le=10_000_000)  # files and folders on that disk
    gpus: int | Literal["all"] = 0  # NVIDIA GPUs through the engine's device requests

    @field_validator("gpus")
    @classmethod
    def _gpus_not_negative(cls, value: int | str) -> int | str:
        if isinstance(value, int) and value < 0:
            raise ValueError("gpus must be a count (0 or more) or 'all'")
        return value

    def limits(self, timeout_s: float) -> Limits:
        """The sandbox limits for one run of this task."""
        return Limits(
            cpus=self.cpus, memory=self.memory, network=self.network, pids=self.pids, timeout_s=timeout_s,
            disk_bytes=parse_size(self.disk), max_files=self.files,
            gpus=-1 if self.gpus == "all" else self.gpus,
        )


class EnvironmentSpec(_Strict):
    """The Python packages a task's experiments need beyond the sandbox image."""

    requirements: str = Field(REQUIREMENTS_FILE, min_length=1)  # a file beside task.yaml


class Search(_Strict):
    """How the tree of solutions is expanded (see agents/tree.py for the selection policy)."""

    parallel: int = Field(2, ge=1, le=16)  # branches per round; 2 suits a 2-core machine
    drafts: int = Field(1, ge=0, le=100)  # strategy llm: new approaches from the root before improving
    debug_prob: float = Field(0.5, ge=0.0, le=1.0)  # chance a slot repairs a failed node
    max_debug_depth: int | None = Field(None, ge=0, le=20)  # default: budget.debug_attempts


def _task_relative(raw: str, what: str) -> str:
    """``raw`` as a clean task-relative POSIX path, or ValueError saying what to fix."""
    text = raw.strip()
    rel = PurePosixPath(text[2:] if text.startswith("./") else text)
    if not text or rel.is_absolute() or ".." in rel.parts or not rel.parts or text.startswith("~"):
        raise ValueError(f"{what} {raw!r} must be a path relative to the task folder, without '..'")
    return rel.as_posix()


class Evaluation(_Strict):
    """A grader: a command run after each experiment, in its own sandbox run, with files only it sees."""

    command: str = Field(min_length=1)
    files: list[str] = Field(min_length=1)  # task-relative files or folders, hidden from the experiment
    timeout_s: float = Field(60.0, gt=0, le=86_400)

    @field_validator("files")
    @classmethod
    def _relative(cls, value: list[str]) -> list[str]:
        return [_task_relative(raw, "evaluation.files entry") for raw in value]


class Task(_Strict):
    """A validated ``task.yaml``."""

    name: str
    goal: str = Field(min_length=1)
    metric: Metric
    entrypoint: str = Field(min_length=1)
    params: dict[str, Param] = Field(default_factory=dict)
    budget: Budget = Field(default_factory=Budget)
    sandbox: SandboxSpec = Field(default_factory=SandboxSpec)
    replicates: int = Field(3, ge=2, le=50)  # pairs at verification's first look
    max_replicates: int = Field(8, ge=2, le=50)  # pairs at its last look (agents/verify.py); ≥ replicates
    min_gain: float | None = Field(None, gt=0)  # the gain that counts, in metric units (default: relative 1e-9)
    search: Search = Field(default_factory=Search)
    environment: EnvironmentSpec | None = None
    evaluation: Evaluation | None = None
    protect: list[str] = Field(default_factory=list)  # files the experiment may read but no edit may change

    @field_validator("protect")
    @classmethod
    def _protect_relative(cls, value: list[str]) -> list[str]:
        return [_task_relative(raw, "protect entry") for raw in value]

    def check_paths(self, task_dir: Path) -> None:
        """Raise InvalidTask unless every ``evaluation.files`` and ``protect`` path exists inside ``task_dir``."""
        root = task_dir.resolve()
        named = [("evaluation.files", rel) for rel in (self.evaluation.files if self.evaluation else [])]
        named += [("protect", rel) for rel in self.protect]
        for field_name, rel in named:
            path = (task_dir / rel).resolve()
            if not path.is_relative_to(root):
                raise InvalidTask(f"{TASK_FILE}: {field_name} names {rel!r}, which leads outside the task folder")
            if not path.exists():
                raise InvalidTask(f"{TASK_FILE}: {field_name} names {rel!r}, which is not in the task folder; "
                                  "add the file or remove the entry")
        if self.evaluation and self.entrypoint_hidden():
            raise InvalidTask(f"{TASK_FILE}: evaluation.files hides the experiment's own entrypoint; "
                              "list only the grader's files there")

    def entrypoint_hidden(self) -> bool:
        """True when a word of the entrypoint names a file the experiment may not see."""
        hidden = self.evaluation.files if self.evaluation else []
        words = [w[2:] if w.startswith("./") else w for w in self.entrypoint.split()]
        return any(w == h or w.startswith(h + "/") for w in words for h in hidden)

    def requirements(self, task_dir: Path) -> str | None:
        """The task's requirements, checked and normalised (see :func:`declared_requirements`),
        read from ``task_dir``; None when it needs only the sandbox image."""
        return folder_requirements(task_dir, self.environment)

    @property
    def metric_given(self) -> bool:
        """False for an AI Scientist template nobody named a metric for (its baseline lists what it reports)."""
        return self.metric.name != template.METRIC_NOT_GIVEN

    @model_validator(mode="after")
    def _replicates_within_max(self) -> Task:
        if "max_replicates" not in self.model_fields_set:
            self.max_replicates = max(self.max_replicates, self.replicates)  # the default never undercuts replicates
        elif self.max_replicates < self.replicates:
            raise ValueError(f"max_replicates ({self.max_replicates}) must be at least replicates "
                             f"({self.replicates}): verification starts with replicates pairs and may add up to "
                             "max_replicates")
        return self

    @model_validator(mode="after")
    def _name_is_a_slug(self) -> Task:
        if not _NAME.match(self.name):
            raise ValueError(
                "name must be lower-case letters, digits, '.', '_' or '-' (at most 64), "
                f"got {self.name!r}"
            )
        return self


def declared_requirements(environment: EnvironmentSpec | None, read: Callable[[str], bytes | None]) -> str | None:
    """The packages a task declares (the file ``environment`` names, or a ``requirements.txt``
    beside task.yaml) as the normalised list pip is handed: names, versions, extras and markers
    only (:mod:`sandbox.requirements`). None when it declares none.

    ``read`` gives a file's bytes by path relative to the task folder (None when absent).
    InvalidTask (or InvalidRequirements) naming the file, the line and what to write instead.
    """
    name = environment.requirements if environment else REQUIREMENTS_FILE
    relative = PurePosixPath(name)
    if relative.is_absolute() or ".." in relative.parts or "\\" in name or str(relative) == ".":
        raise InvalidTask(f"environment.requirements {name!r} must name a file inside the task folder, "
                          "e.g. requirements.txt")
    data = read(str(relative))
    if data is None:
        if environment is not None:
            raise InvalidTask(f"environment.requirements names {name!r}, which is not in the task folder; "
                              "add the file or remove environment.requirements")
        return None
    if len(data) > MAX_REQUIREMENTS_BYTES:
        raise InvalidTask(f"{name} has {len(data)} bytes; at most {MAX_REQUIREMENTS_BYTES} are accepted")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidTask(f"{name} is not UTF-8 text (byte {data[exc.start]:#04x} at offset {exc.start}); "
                          "save it as UTF-8 with one package per line") from exc
    return normalise_text(text, source=name)


def folder_requirements(task_dir: Path, environment: EnvironmentSpec | None) -> str | None:
    """:func:`declared_requirements` read from the task folder ``task_dir`` (a link out of it is refused)."""
    return declared_requirements(environment, lambda rel: _read_inside(task_dir, rel))


def _read_inside(task_dir: Path, relative: str) -> bytes | None:
    root = task_dir.resolve()
    path = (root / relative).resolve()
    if not path.is_relative_to(root):
        raise InvalidTask(f"{relative} leads outside the task folder; keep the requirements in it")
    if not path.is_file():
        return None
    if path.stat().st_size > MAX_REQUIREMENTS_BYTES:
        raise InvalidTask(f"{relative} has {path.stat().st_size} bytes; at most {MAX_REQUIREMENTS_BYTES} are accepted")
    return path.read_bytes()


def _describe(exc: ValidationError, source: str) -> str:
    lines = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"]) or "(top level)"
        if err["type"] == "extra_forbidden":
            lines.append(f"unknown key '{field}': remove it or check its spelling")
        elif err["type"] == "missing":
            lines.append(f"missing required field '{field}'")
        else:
            lines.append(f"field '{field}': {err['msg']}")
    return f"{source} is invalid:\n  " + "\n  ".join(lines)


def parse_task(text: str, source: str = TASK_FILE) -> Task:
    """Parse and validate the text of a task.yaml; raise InvalidTask naming each bad field."""
    try:
        raw: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidTask(f"{source} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise InvalidTask(f"{source} must be a mapping of keys to values (name, goal, metric, ...)")
    try:
        return Task.model_validate(raw)
    except ValidationError as exc:
        raise InvalidTask(_describe(exc, source)) from exc


def load_task(folder: str | Path, *, fields: Mapping[str, Any] | None = None) -> Task:
    """Load the task in ``folder`` — its task.yaml, or an AI Scientist template with the job's
    ``fields`` (e.g. its metric) over its labloop.yaml; InvalidTask with a fix-it message when wrong."""
    path = Path(folder)
    spec = path / TASK_FILE
    if not path.is_dir():
        raise InvalidTask(f"the task folder {path.name!r} does not exist or is not a folder")
    if spec.is_file():
        if fields:
            raise InvalidTask(f"{TASK_FILE} names the task's metric; a metric given with the job (--metric) is "
                              "for AI Scientist templates (folders without task.yaml) only")
        task = parse_task(_task_file_text(spec), source=TASK_FILE)
        task.check_paths(path)
        return task
    if not template.is_template(path):
        raise InvalidTask(f"the folder {path.name!r} has no {TASK_FILE}; every task folder needs one (or, for an AI Scientist "
                          f"template, {template.EXPERIMENT_FILE} and {template.PROMPT_FILE})")
    return template_task(template.folder_reader(path), default_name=template.slug(path.resolve().name),
                         fields=fields, source="the template")


def _task_file_text(spec: Path) -> str:
    try:
        return spec.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidTask(f"{TASK_FILE} is not UTF-8 text; save it as UTF-8") from exc


def template_task(read: template.Reader, *, default_name: str | None, fields: Mapping[str, Any] | None = None,
                  source: str = "the template") -> Task:
    """An AI Scientist template as a task (see :mod:`agents.template`)."""
    raw = template.template_spec(read, default_name=default_name, fields=fields)
    try:
        return Task.model_validate(raw)
    except ValidationError as exc:
        raise InvalidTask(_describe(exc, f"{source} (with its {template.LABLOOP_FILE} and the job's fields)")) from exc
