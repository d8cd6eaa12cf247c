"""The executor's Prometheus metrics (names as deploy/README.md lists them)."""

from __future__ import annotations

from typing import Any

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


#: The labelled children of each (tool, source, success), found once (``labels`` is a locked
#: look-up per call); as many as the metrics' own series.
_children: dict[tuple[str, str, bool], tuple[Any, Any]] = {}


def record(tool: str, source: str, success: bool, seconds: float) -> None:
    key = (tool, source, success)
    children = _children.get(key)
    if children is None:
        outcome = "success" if success else "failed"
        children = _children[key] = EXECUTIONS.labels(tool, source, outcome), DURATION.labels(tool, source)
    children[0].inc()
    children[1].observe(seconds)


WORKER_UP = Gauge(
    "valetkey_worker_up", "1 when the worker's catalog answered at the last refresh, else 0", ["worker"]
)
