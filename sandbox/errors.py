"""labloop's errors, rooted here in the lowest layer; each layer adds its own beside its code.

``sandbox`` holds the root and the sandbox's own errors; ``agents.errors`` adds the research
graph's (and re-exports these, so ``services`` imports every error below it from ``agents``);
``services.errors`` adds the service's. Imports keep pointing one way. User-code failure is
*data* (an :class:`~sandbox.result.ExperimentResult`); only infrastructure and input problems
raise. Every message says what to do next. Domain errors become HTTP or CLI errors only at
the edge.

    LabloopError                  (sandbox.errors)
    ├── InvalidInput              bad user input; the message names the field     (HTTP 400/422)
    │   ├── InvalidTask           task.yaml or the task folder is wrong           (agents.errors)
    │   ├── PolicyViolation       a task asks for more than the server's sandbox policy allows
    │   └── EnvironmentBuildFailed  a task's packages could not be fetched or installed
    │                                                                   (sandbox.environment)
    ├── ConfigError               settings are missing or unsafe
    ├── SandboxError              the sandbox could not run an experiment at all
    │   ├── DockerUnavailable     no Docker engine answers
    │   └── ImageMissing          the sandbox image is not built
    ├── LLMError                  the model endpoint failed or replied unusably   (agents.errors)
    │   ├── LLMUnavailable        endpoint unreachable / timed out after retries
    │   └── LLMReplyInvalid       a reply did not parse after the allowed retries
    ├── BudgetExhausted           a budget (tokens, iterations, wall clock) would be exceeded
    │                                                                             (agents.errors)
    ├── NotFound                  no such task / job / checkpoint ...  (HTTP 404) (services.errors)
    ├── Conflict                  the request contradicts the current state
    │                             (HTTP 409)                                     (services.errors)
    ├── Unauthorized              missing or wrong bearer token (HTTP 401)        (services.errors)
    ├── ServerUnreachable         no labloop server at LABLOOP_API_URL            (services.errors)
    └── MemoryStoreError          the findings memory (Chroma) failed             (services.errors)
        └── EmbedderMismatch      a collection was made with another embedder
"""

from __future__ import annotations


class LabloopError(Exception):
    """Base class of every error labloop raises on purpose."""

    code = "labloop_error"


class InvalidInput(LabloopError):
    """Bad user input; the message names the field and what to change."""

    code = "invalid_input"


class PolicyViolation(InvalidInput):
    """A task asks the sandbox for more than the server's policy allows (names the setting)."""

    code = "sandbox_policy"


class SandboxError(LabloopError):
    """The sandbox could not run an experiment at all (not: the experiment failed)."""

    code = "sandbox_error"


class DockerUnavailable(SandboxError):
    """No Docker engine answers."""

    code = "docker_unavailable"


class ImageMissing(SandboxError):
    """The sandbox image is not built."""

    code = "image_missing"


class ConfigError(LabloopError):
    """Settings are missing, contradictory or unsafe."""

    code = "config_error"
