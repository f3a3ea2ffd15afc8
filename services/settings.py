"""The one settings object: every ``LABLOOP_*`` variable, validated on load.

This is the only module that reads the environment. Build it with :func:`get_settings`
(cached; tests call ``get_settings.cache_clear()`` after changing the environment).
"""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from agents.context import ModelLimits
from agents.errors import ConfigError
from sandbox.policy import SandboxPolicy


class Settings(BaseSettings):
    """Settings of one labloop process (API, worker or CLI)."""

    model_config = SettingsConfigDict(env_prefix="LABLOOP_", extra="ignore")

    home: Path = Field(Path(".labloop"), description="Where the embedded profile keeps its state.")
    database_url: str | None = Field(None, description="App database; default SQLite under home.")
    chroma_url: str | None = Field(None, description="Chroma server URL; default embedded under home.")
    executor: Literal["inprocess", "queue"] = "inprocess"
    api_token: SecretStr | None = Field(None, description="Bearer token of the one user named by api_token_user.")
    api_token_user: str = Field("owner", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$",
                                description="The name LABLOOP_API_TOKEN's holder is recorded under (created_by, "
                                            "decided_by); a server without tokens records 'local'.")
    api_tokens: str | None = Field(None, description="Named tokens: 'alice:tok1,bob:tok2'.")
    host: str = "127.0.0.1"
    port: int = 8000
    llm_base_url: str | None = None
    llm_api_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("LABLOOP_LLM_API_KEY", "OPENAI_API_KEY")
    )
    llm_model: str = "gpt-4o-mini"
    llm_timeout_s: float = 60.0
    llm_max_retries: int = 3
    llm_price_per_1k_tokens: float | None = None
    llm_context_tokens: int = Field(32_000, ge=4_000, description="The model's context window; prompts are sized from it.")
    llm_max_tokens_code: int = Field(8_000, ge=256, description="Most tokens of a reply that changes code (implement, debug).")
    llm_max_tokens_text: int = Field(2_000, ge=256, description="Most tokens of any other reply (ideas, reviews, critiques).")
    embedding_model: str | None = None
    sandbox_image: str = "labloop-sandbox:latest"
    sandbox_pool_size: int = Field(2, ge=0, le=32)
    sandbox_expiry_s: int = Field(6 * 3600, ge=60)
    sandbox_registry: str | None = Field(None, description="Registry (host[:port]/path) that task environments are pulled from and pushed to.")
    sandbox_runtime: str | None = Field(None, description="OCI runtime of experiments, e.g. runsc (gVisor); default the engine's.")
    sandbox_allowed_images: str = Field("", description="Images a task may name besides the sandbox image and images built FROM it (comma-separated).")
    sandbox_allow_network: bool = Field(False, description="Let tasks ask for network (an isolated bridge that reaches neither the host nor other containers).")
    sandbox_max_cpus: float = Field(4.0, gt=0, description="Most CPUs a task may ask for.")
    sandbox_max_memory: str = Field("8g", pattern=r"^\d+[kmgKMG]?$", description="Most memory a task may ask for.")
    sandbox_max_pids: int = Field(4096, ge=16, description="Most processes a task may ask for.")
    sandbox_max_timeout_s: float = Field(24 * 3600, gt=0, description="Longest experiment timeout a task may ask for.")
    sandbox_max_disk: str = Field("4g", pattern=r"^\d+[kmgKMG]?$", description="Largest run disk a task may ask for.")
    sandbox_max_gpus: int = Field(0, ge=0, description="Most GPUs a task may ask for.")
    grader_gap: float = Field(0.05, ge=0, description="Relative gap between an experiment's self-reported metric and its grader's that flags the finding for a human (graded tasks).")
    reviewers: int = Field(3, ge=0, le=10, description="Automated reviews of a job's paper (0: none).")
    literature_url: str | None = Field(None, description="A Semantic Scholar-compatible API the paper's references are searched in (optional; the search never blocks the paper).")
    chromium: str | None = Field(None, description="The Chromium that prints papers to PDF; default: chromium on the PATH.")
    max_concurrent_jobs: int = Field(2, ge=1)
    artifacts_dir: Path | None = Field(None, description="Shared artifact folder; default home/runs.")
    tasks_dir: Path | None = Field(None, description="Uploaded task folders (shared in scale-out); default home/tasks.")
    worker_concurrency: int = Field(2, ge=1, le=64, description="Jobs one `labloop worker` drives at once.")
    worker_heartbeat_s: float = Field(5.0, gt=0, description="How often a worker tells the queue it is alive.")
    worker_stalled_s: float = Field(30.0, gt=0, description="Silence after which a worker's jobs go to another.")
    worker_shutdown_grace_s: float = Field(10.0, ge=0, description="After SIGTERM, how long running jobs may go on.")
    worker_metrics_port: int = Field(0, ge=0, le=65535, description="Port of a worker's /metrics; 0 serves none.")
    worker_metrics_host: str = Field("127.0.0.1", description="Address a worker's /metrics listens on.")
    schedule_grace_s: int = Field(3600, ge=0)
    schedule_tick_s: float = Field(5.0, gt=0, le=3600, description="How often the scheduler looks for due firings.")
    api_url: str = Field("http://127.0.0.1:8000", description="Where CLI commands find a running server.")
    upload_max_bytes: int = Field(20 * 1024 * 1024, ge=1024, description="Largest accepted task upload.")
    body_max_bytes: int = Field(1024 * 1024, ge=1024, description="Largest request body of every other route.")
    allowed_hosts: str = Field("", description="Host names the server answers to besides loopback ones (comma-separated; "
                               "'*.example.org' for subdomains, '*' for any); ignored without a token.")
    max_event_streams: int = Field(16, ge=1, le=10_000, description="Open event streams per token (per client address without tokens).")
    log_level: str = "INFO"

    @property
    def runs_dir(self) -> Path:
        """Where experiment workspaces, outputs and reports live."""
        return (self.artifacts_dir or self.home / "runs").resolve()

    @property
    def task_store_dir(self) -> Path:
        """Where uploaded task versions are written (every worker must read the same folder)."""
        return (self.tasks_dir or self.home / "tasks").resolve()

    @property
    def db_url(self) -> str:
        """The SQLAlchemy URL of the app database."""
        return self.database_url or f"sqlite:///{(self.home / 'labloop.db').resolve()}"

    def sandbox_policy(self) -> SandboxPolicy:
        """The ceiling on what tasks may ask of the sandbox (LABLOOP_SANDBOX_*)."""
        return SandboxPolicy(
            allowed_images=tuple(i.strip() for i in self.sandbox_allowed_images.split(",") if i.strip()),
            max_cpus=self.sandbox_max_cpus,
            max_memory=self.sandbox_max_memory,
            max_pids=self.sandbox_max_pids,
            max_timeout_s=self.sandbox_max_timeout_s,
            max_disk=self.sandbox_max_disk,
            max_gpus=self.sandbox_max_gpus,
            allow_network=self.sandbox_allow_network,
        )

    @property
    def llm_configured(self) -> bool:
        """True when an OpenAI-compatible endpoint is configured."""
        return bool(self.llm_base_url or self.llm_api_key)

    def tokens(self) -> dict[str, str]:
        """Map each accepted bearer token to the name of its user."""
        named: dict[str, str] = {}
        if self.api_token is not None and self.api_token.get_secret_value():
            named[self.api_token.get_secret_value()] = self.api_token_user
        for item in filter(None, (self.api_tokens or "").split(",")):
            name, sep, token = item.strip().partition(":")
            if not sep or not name or not token:
                raise ConfigError(f"LABLOOP_API_TOKENS entry {item!r} must look like 'name:token'")
            named[token] = name
        return named

    def allowed_host_names(self) -> tuple[str, ...]:
        """LABLOOP_ALLOWED_HOSTS as lower-case names; ConfigError for an entry that is not a host name."""
        names = tuple(n.strip().lower() for n in self.allowed_hosts.split(",") if n.strip())
        for name in names:
            bare = name.removeprefix("*.") if name != "*" else "x"
            if not re.fullmatch(r"[a-z0-9_.-]+|\[[0-9a-f:.]+\]", bare):
                raise ConfigError(f"LABLOOP_ALLOWED_HOSTS entry {name!r} must be a host name such as "
                                  "lab.example.org or *.example.org (no scheme, no port)")
        return names

    def model_limits(self) -> ModelLimits:
        """The model's context and reply limits (LABLOOP_LLM_CONTEXT_TOKENS, LABLOOP_LLM_MAX_TOKENS_*)."""
        return ModelLimits(context_tokens=self.llm_context_tokens, code_reply_tokens=self.llm_max_tokens_code,
                           text_reply_tokens=self.llm_max_tokens_text)

    @model_validator(mode="after")
    def _refuse_unsafe(self) -> Settings:
        self.allowed_host_names()
        longest = max(self.llm_max_tokens_code, self.llm_max_tokens_text)
        if self.llm_context_tokens < longest + 2_000:
            raise ConfigError(
                f"LABLOOP_LLM_CONTEXT_TOKENS ({self.llm_context_tokens}) leaves no room for a prompt beside a "
                f"{longest}-token reply: raise it to at least {longest + 2_000} or lower LABLOOP_LLM_MAX_TOKENS_*"
            )
        if not self._loopback(self.host) and not self.tokens():
            raise ConfigError(
                f"refusing to listen on {self.host} without a token: set LABLOOP_API_TOKEN "
                "(or LABLOOP_API_TOKENS), or bind to 127.0.0.1"
            )
        return self

    @staticmethod
    def _loopback(host: str) -> bool:
        if host == "localhost":
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False


@lru_cache
def get_settings() -> Settings:
    """The process's settings, read from the environment once."""
    return Settings()
