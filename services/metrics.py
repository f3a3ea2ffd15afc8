"""Prometheus metrics of one API or worker process, in its own registry (nothing registers at import).

Counts that must survive a restart (jobs by status, experiments, sandbox run time) are read
from the app database when the API is scraped; what happens in a process (checkpoint wait,
decision to resume, LLM tokens) is observed as it happens, so in the scale-out profile each
worker serves its own (``LABLOOP_WORKER_METRICS_PORT``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily, Metric, SummaryMetricFamily
from prometheus_client.registry import Collector

from services.statuses import JOB_STATUSES
from services.store.db import Store
from services.store.stats import store_stats

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _StoreCollector(Collector):
    def __init__(self, store: Store) -> None:
        self.store = store

    def collect(self) -> Iterator[Metric]:
        stats = store_stats(self.store)
        jobs = GaugeMetricFamily("labloop_jobs", "Jobs by status.", labels=["status"])
        for status in JOB_STATUSES:
            jobs.add_metric([status], stats.jobs.get(status, 0))
        yield jobs
        experiments = GaugeMetricFamily("labloop_experiments", "Experiments by status.", labels=["status"])
        for outcome, count in sorted(stats.experiments.items()):
            experiments.add_metric([outcome], count)
        yield experiments
        sandbox = SummaryMetricFamily(
            "labloop_sandbox_duration_seconds", "Wall time of sandboxed experiment runs."
        )
        sandbox.add_metric([], count_value=stats.sandbox_runs, sum_value=stats.sandbox_seconds_sum)
        yield sandbox


class JobMetrics:
    """What the jobs run in this process do: decision to resume, LLM tokens.

    The API's (embedded profile) and each worker's (scale-out, served by
    :func:`serve_worker_metrics`): Prometheus adds the workers' series up.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.decision_to_resume = Histogram(
            "labloop_decision_to_resume_seconds",
            "From a stored decision to its job's thread starting again (the graph's next node follows).",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, float("inf")),
            registry=self.registry,
        )
        self.llm_tokens = Counter(
            "labloop_llm_tokens", "LLM tokens used by jobs run in this process.", registry=self.registry
        )

    def observe_event(self, _event_id: int, _job_id: str, _kind: str, data: Mapping[str, Any]) -> None:
        """A journal listener: count LLM tokens reported by progress events."""
        tokens = data.get("llm_tokens")
        if isinstance(tokens, int | float) and tokens > 0:
            self.llm_tokens.inc(tokens)

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)


class ServiceMetrics(JobMetrics):
    """The metrics the API serves at /metrics: its jobs', checkpoint waits, and counts from the database."""

    def __init__(self, store: Store) -> None:
        super().__init__()
        self.registry.register(_StoreCollector(store))
        self.checkpoint_wait = Histogram(
            "labloop_checkpoint_wait_seconds",
            "How long checkpoints waited for a human decision.",
            buckets=(1, 10, 60, 300, 900, 3600, 4 * 3600, 24 * 3600, float("inf")),
            registry=self.registry,
        )


@contextmanager
def serve_worker_metrics(metrics: JobMetrics, *, addr: str, port: int) -> Iterator[None]:
    """Serve ``metrics`` at ``http://addr:port/metrics`` (any path) while the block runs."""
    server, thread = start_http_server(port, addr=addr, registry=metrics.registry)
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
