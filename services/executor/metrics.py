"""The executor's Prometheus metrics (names as deploy/README.md lists them)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from shared.runtime.metrics import LATENCY_BUCKETS

EXECUTIONS = Counter(
    "valetkey_tool_executions",
    "Tool executions that ran, by tool, source and outcome",
    ["tool", "source", "outcome"],
)
DURATION = Histogram(
    "valetkey_tool_execution_duration_seconds",
    "Time to run a tool",
    ["tool", "source"],
    buckets=LATENCY_BUCKETS,
)


def record(tool: str, source: str, success: bool, seconds: float) -> None:
    EXECUTIONS.labels(tool, source, "success" if success else "failed").inc()
    DURATION.labels(tool, source).observe(seconds)


WORKER_UP = Gauge(
    "valetkey_worker_up", "1 when the worker's catalog answered at the last refresh, else 0", ["worker"]
)
