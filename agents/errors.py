"""The research graph's errors, on the root the sandbox defines (drawn in :mod:`sandbox.errors`).

    LabloopError ─┬─ InvalidInput ── InvalidTask     task.yaml or the task folder is wrong
                  ├─ LLMError ─┬─ LLMUnavailable     endpoint unreachable after the retries
                  │            ├─ LLMReplyInvalid    a reply did not parse after the retries
                  │            └─ LLMReplyTooLarge   a reply's body passed its size cap (dropped before parsing)
                  └─ BudgetExhausted                 going on would exceed a budget

The sandbox's errors are re-exported here, so ``services`` imports every error of the layers
below it from ``agents`` and never reaches past it into ``sandbox``.
"""

from __future__ import annotations

from sandbox.errors import (
    ConfigError,
    DockerUnavailable,
    ImageMissing,
    InvalidInput,
    LabloopError,
    PolicyViolation,
    SandboxError,
)

__all__ = [
    "BudgetExhausted",
    "ConfigError",
    "DockerUnavailable",
    "ImageMissing",
    "InvalidInput",
    "InvalidTask",
    "LLMError",
    "LLMReplyInvalid",
    "LLMReplyTooLarge",
    "LLMUnavailable",
    "LabloopError",
    "PolicyViolation",
    "SandboxError",
]


class InvalidTask(InvalidInput):
    """A task folder or its task.yaml is wrong."""

    code = "invalid_task"


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


class LLMReplyTooLarge(LLMError):
    """A reply's body passed the cap its request's max_tokens sets; it was dropped before parsing."""

    code = "llm_reply_too_large"
