"""Prometheus metrics every service shares: requests over HTTP and over NATS.

Names and labels are the ones ``deploy/README.md`` lists for dashboards and alerts. No
label ever carries a user id, a token or anything a caller chose freely: routes are path
templates and subjects are our own constants. The collectors live in the process's
default registry, as ``prometheus_client`` intends; nothing here opens a connection.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

# Request-reply answers in microseconds to tool calls in tens of seconds.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

HTTP_REQUESTS = Counter(
    "valetkey_http_requests", "HTTP requests answered, by route template", ["route", "method", "status"]
)
HTTP_DURATION = Histogram(
    "valetkey_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["route", "method"],
    buckets=LATENCY_BUCKETS,
)
NATS_REQUESTS = Counter(
    "valetkey_nats_requests",
    "Request-reply requests handled; error: the reply envelope's ok is false",
    ["subject", "outcome"],
)
NATS_DURATION = Histogram(
    "valetkey_nats_request_duration_seconds",
    "Time to reply to a request",
    ["subject"],
    buckets=LATENCY_BUCKETS,
)


_recording = True


def record_requests(on: bool) -> None:
    """Record the HTTP and NATS request metrics in this process, or not (``VALETKEY_METRICS``)."""
    global _recording
    _recording = on


def recording() -> bool:
    """Whether this process records its per-request metrics (``VALETKEY_METRICS``)."""
    return _recording


# Each label set's children, looked up once: ``labels()`` takes a lock and checks its
# arguments on every call, about 3 µs of each hot request (docs/performance.md). The
# children are the collectors' own (``labels()`` gives the same object every time), and the
# label sets are as bounded as the collectors' (route templates, subjects, status codes).
_http_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
_nats_children: dict[tuple[str, bool], tuple[Any, Any]] = {}


def http_request(route: str, method: str, status: int, seconds: float) -> None:
    """Count one HTTP answer and its latency."""
    if _recording:
        key = (route, method, status)
        children = _http_children.get(key)
        if children is None:
            children = HTTP_REQUESTS.labels(route, method, str(status)), HTTP_DURATION.labels(route, method)
            _http_children[key] = children
        children[0].inc()
        children[1].observe(seconds)


def nats_request(subject: str, ok: bool, seconds: float) -> None:
    """Count one request-reply answer (``ok``: the envelope's) and its latency."""
    if _recording:
        key = (subject, ok)
        children = _nats_children.get(key)
        if children is None:
            children = NATS_REQUESTS.labels(subject, "ok" if ok else "error"), NATS_DURATION.labels(subject)
            _nats_children[key] = children
        children[0].inc()
        children[1].observe(seconds)


def exposition() -> tuple[bytes, str]:
    """The current values in Prometheus' text format, and its content type."""
    return generate_latest(), CONTENT_TYPE_LATEST
