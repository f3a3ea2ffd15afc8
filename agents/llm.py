"""The LLM side: an OpenAI-compatible chat client, per-job token accounting, JSON replies.

* :class:`OpenAIChatModel` implements :class:`~agents.protocols.ChatModel` with the ``openai``
  package: a timeout per call and bounded retries with exponential backoff on transient errors.
* :class:`TokenMeter` counts a job's tokens (and cost, when a price is configured) and refuses a
  call *before* it is made when the estimated prompt plus the reply allowance would exceed the
  ``llm_tokens`` budget.
* :func:`ask_json` parses replies into pydantic models; a reply that does not parse (or does
  not apply) is sent back with the error, then the step fails with LLMReplyInvalid.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import openai
from pydantic import BaseModel, ValidationError

from agents.errors import BudgetExhausted, LLMReplyInvalid, LLMReplyTooLarge, LLMUnavailable
from agents.protocols import ChatModel, ChatReply
from agents.reply_limit import ReplyLimitedClient

ModelT = TypeVar("ModelT", bound=BaseModel)
_TRANSIENT = (openai.APIConnectionError, openai.RateLimitError, openai.InternalServerError)


class OpenAIChatModel:
    """Any OpenAI-compatible chat endpoint (OpenAI, vLLM, Ollama, llama.cpp's server)."""

    def __init__(
        self, *, model: str, base_url: str | None = None, api_key: str | None = None,
        timeout_s: float = 60.0, max_retries: int = 3, max_tokens: int = 2048,
        backoff_s: float = 0.5,
    ) -> None:
        self.model = model
        self.max_tokens = max_tokens
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self._json_format = True
        # The client's own retries are off: ours are bounded, logged by attempt, and mapped.
        self._client = openai.OpenAI(
            base_url=base_url, api_key=api_key or "not-needed", timeout=timeout_s, max_retries=0,
            http_client=ReplyLimitedClient(default_max_tokens=max_tokens, timeout=timeout_s),
        )

    def complete(self, messages: Sequence[Mapping[str, str]], *, json_mode: bool = False,
                 max_tokens: int | None = None) -> ChatReply:
        """Send ``messages``; retry transient failures with backoff; raise LLMUnavailable after."""
        for attempt in range(self.max_retries + 1):
            json_format = json_mode and self._json_format
            extra: dict[str, Any] = {"response_format": {"type": "json_object"}} if json_format else {}
            try:
                response = self._client.chat.completions.create(
                    model=self.model, messages=[dict(m) for m in messages],  # type: ignore[misc]
                    max_tokens=max_tokens or self.max_tokens, **extra,
                )
            except _TRANSIENT as exc:
                if attempt == self.max_retries:
                    raise LLMUnavailable(
                        f"the model endpoint failed {attempt + 1} times ({exc.__class__.__name__}: "
                        f"{exc}); check LABLOOP_LLM_BASE_URL and that the server is up"
                    ) from exc
                time.sleep(self.backoff_s * 2**attempt)
                continue
            except openai.BadRequestError as exc:
                if json_format and "response_format" in str(exc):
                    self._json_format = False  # a server without JSON mode: the prompt asks for JSON anyway
                    return self.complete(messages, json_mode=json_mode, max_tokens=max_tokens)
                raise LLMUnavailable(
                    f"the model endpoint refused the request (400): {exc.message}; check LABLOOP_LLM_MODEL"
                ) from exc
            except openai.APIStatusError as exc:
                raise LLMUnavailable(
                    f"the model endpoint refused the request ({exc.status_code}): {exc.message}; "
                    "check LABLOOP_LLM_MODEL and LABLOOP_LLM_API_KEY"
                ) from exc
            text = (response.choices[0].message.content or "") if response.choices else ""
            truncated = bool(response.choices) and response.choices[0].finish_reason == "length"
            usage = response.usage
            prompt_tokens = usage.prompt_tokens if usage else estimate_tokens(messages)
            completion_tokens = usage.completion_tokens if usage else math.ceil(len(text) / 4)
            return ChatReply(text=text, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                             truncated=truncated)
        raise AssertionError("unreachable")  # pragma: no cover


def estimate_tokens(messages: Sequence[Mapping[str, str]]) -> int:
    """A conservative token estimate of a prompt (three characters per token; code and JSON run dense)."""
    return sum(math.ceil(len(m.get("content", "")) / 3) + 4 for m in messages)


@dataclass
class TokenMeter:
    """A job's LLM spending; ``check`` enforces the budget before each call."""

    budget: int
    used: int = 0
    cost_usd: float = 0.0
    calls: int = 0
    reply_allowance: int = 512  # the most a reply may add: the model's max_tokens when it has one
    price_per_1k_tokens: float | None = None

    def check(self, messages: Sequence[Mapping[str, str]]) -> None:
        """Raise BudgetExhausted when this call could take the job past its token budget."""
        needed = estimate_tokens(messages) + self.reply_allowance
        if self.used + needed > self.budget:
            raise BudgetExhausted(
                f"LLM token budget reached: {self.used} of {self.budget} tokens used and the next "
                f"call needs about {needed}; raise budget.llm_tokens to go further"
            )

    def add(self, reply: ChatReply) -> None:
        """Count a reply's tokens (and cost)."""
        tokens = reply.prompt_tokens + reply.completion_tokens
        self.used += tokens
        self.calls += 1
        if self.price_per_1k_tokens is not None:
            self.cost_usd += tokens / 1000 * self.price_per_1k_tokens


_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)


def parse_reply(text: str, schema: type[ModelT]) -> ModelT:
    """Parse a JSON reply (optionally fenced in ```json) into ``schema``."""
    match = _FENCE.match(text)
    body = match.group(1) if match else text.strip()
    return schema.model_validate(json.loads(body))


def ask_json(
    model: ChatModel, meter: TokenMeter, messages: list[dict[str, str]], schema: type[ModelT], *,
    attempts: int = 3, check: Callable[[ModelT], object] | None = None, max_tokens: int | None = None,
    limit_setting: str = "the step's max_tokens setting",
) -> ModelT:
    """Ask for a JSON reply shaped like ``schema``; feed parse (and ``check``) errors back.

    A reply the endpoint cut at ``max_tokens`` is a failed attempt with its own feedback (reply
    shorter); when the last attempt was cut, the error names ``limit_setting`` to raise.
    """
    conversation = list(messages)
    problem = ""
    limit = max_tokens or model.max_tokens
    cut_off = False
    for _ in range(attempts):
        meter.check(conversation)
        try:
            reply = model.complete(conversation, json_mode=True, max_tokens=limit)
        except LLMReplyTooLarge as exc:  # dropped before parsing: a failed attempt the model is told of
            meter.add(ChatReply(text="", prompt_tokens=estimate_tokens(conversation),
                                completion_tokens=meter.reply_allowance))
            problem, cut_off = str(exc), False
            conversation += [{"role": "user", "content": (
                f"Your last reply could not be used: it was longer than this step allows ({problem}). "
                f"Reply again, shorter: one JSON object with the fields {sorted(schema.model_fields)}."
            )}]
            continue
        meter.add(reply)
        cut_off = reply.truncated
        if cut_off:
            conversation += [
                {"role": "assistant", "content": reply.text},
                {"role": "user", "content": (
                    f"Your reply was cut off at {limit} tokens, the most this step may have. Reply again, "
                    "shorter: one JSON object, with search/replace edits instead of whole files where you can."
                )},
            ]
            continue
        try:
            parsed = parse_reply(reply.text, schema)
            if check is not None:
                check(parsed)
            return parsed
        except (json.JSONDecodeError, ValidationError, ValueError) as exc:
            problem = str(exc)
            conversation += [
                {"role": "assistant", "content": reply.text},
                {"role": "user", "content": (
                    f"Your reply could not be used: {problem}\nReply again with only one JSON "
                    f"object with the fields {sorted(schema.model_fields)}."
                )},
            ]
    if cut_off:
        raise LLMReplyInvalid(
            f"the model's reply was cut off at {limit} tokens (this step's limit) on the last of {attempts} "
            f"attempts; raise {limit_setting}"
        )
    raise LLMReplyInvalid(
        f"the model's reply did not parse as {schema.__name__} after {attempts} attempts "
        f"(last error: {problem[:300]}); try a stronger model via LABLOOP_LLM_MODEL"
    )
