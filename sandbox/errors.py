"""labloop's exceptions, in one place for every layer.

It lives in the lowest layer (``sandbox``) so that ``agents`` and ``services`` can raise and
catch the same classes while imports keep pointing one way. User-code failure is *data*
(an :class:`~sandbox.result.ExperimentResult`); only infrastructure and input problems raise.
Every message says what to do next. Domain errors become HTTP or CLI errors only at the edge.

    LabloopError
    ├── InvalidInput              bad user input; the message names the field     (HTTP 400/422)
    │   └── InvalidTask           task.yaml or the task folder is wrong
    ├── NotFound                  no such task / job / experiment / checkpoint ... (HTTP 404)
    ├── Conflict                  the request contradicts the current state        (HTTP 409)
    ├── Unauthorized              missing or wrong bearer token                    (HTTP 401)
    ├── SandboxError              the sandbox could not run an experiment at all
    │   ├── DockerUnavailable     no Docker engine answers
    │   └── ImageMissing          the sandbox image is not built
    ├── LLMError                  the model endpoint failed or replied unusably
    │   ├── LLMUnavailable        endpoint unreachable / timed out after retries
    │   └── LLMReplyInvalid       a reply did not parse after the allowed retries
    ├── BudgetExhausted           a budget (tokens, iterations, wall clock) would be exceeded
    ├── MemoryStoreError          the findings memory (Chroma) failed
    │   └── EmbedderMismatch      a collection was made with another embedder
    └── ConfigError               settings are missing or unsafe
"""

from __future__ import annotations


class LabloopError(Exception):
    """Base class of every error labloop raises on purpose."""

    code = "labloop_error"


class InvalidInput(LabloopError):
    """Bad user input; the message names the field and what to change."""

    code = "invalid_input"


class InvalidTask(InvalidInput):
    """A task folder or its task.yaml is wrong."""

    code = "invalid_task"


class NotFound(LabloopError):
    """The named thing does not exist."""

    code = "not_found"


class Conflict(LabloopError):
    """The request contradicts the current state (e.g. deciding a checkpoint twice)."""

    code = "conflict"


class Unauthorized(LabloopError):
    """Missing or wrong credentials."""

    code = "unauthorized"


class SandboxError(LabloopError):
    """The sandbox could not run an experiment at all (not: the experiment failed)."""

    code = "sandbox_error"


class DockerUnavailable(SandboxError):
    """No Docker engine answers."""

    code = "docker_unavailable"


class ImageMissing(SandboxError):
    """The sandbox image is not built."""

    code = "image_missing"


class LLMError(LabloopError):
    """The model endpoint failed or replied unusably."""

    code = "llm_error"


class LLMUnavailable(LLMError):
    """The endpoint could not be reached after the allowed retries."""

    code = "llm_unavailable"


class LLMReplyInvalid(LLMError):
    """A reply did not parse into the expected shape after the allowed retries."""

    code = "llm_reply_invalid"


class BudgetExhausted(LabloopError):
    """Going on would exceed a budget."""

    code = "budget_exhausted"


class MemoryStoreError(LabloopError):
    """The findings memory failed."""

    code = "memory_error"


class EmbedderMismatch(MemoryStoreError):
    """A collection was made with a different embedder than the one configured."""

    code = "embedder_mismatch"


class ConfigError(LabloopError):
    """Settings are missing, contradictory or unsafe."""

    code = "config_error"


class ServerUnreachable(LabloopError):
    """No labloop server answers at LABLOOP_API_URL (CLI commands that are its clients)."""

    code = "server_unreachable"
