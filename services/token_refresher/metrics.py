"""The token_refresher's Prometheus metrics (names as deploy/README.md lists them)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

REFRESHES = Counter(
    "valetkey_refreshes", "Refreshes done, by outcome (refreshed, failed)", ["provider", "outcome"]
)
FAILURES = Counter(
    "valetkey_refresh_failures",
    "Failed refreshes by class: reauthorize (the grant is dead), transient (retried later), "
    "rejected (refused otherwise, e.g. invalid_client: retried slowly, an operator must act)",
    ["provider", "class"],
)
LATENESS = Histogram(
    "valetkey_refresh_lateness_seconds",
    "How long after its scheduled moment a scheduled refresh ran",
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
# What each logged outcome counts as: (refreshes outcome, failure class or None).
COUNTED = {
    "refreshed": ("refreshed", None),
    "refreshed_elsewhere": ("refreshed", None),
    "reauthorization_required": ("failed", "reauthorize"),
    "retrying": ("failed", "transient"),
}


def record(
    provider: str, outcome: str, lateness_seconds: float | None, *, failure_class: str | None = None
) -> None:
    """Count one refresh decision; outcomes that are not a refresh (``fresh``) count nothing.
    ``failure_class`` names a failure's class when the outcome alone does not (``retrying``:
    transient or rejected)."""
    if outcome in COUNTED:
        result, failure = COUNTED[outcome]
        REFRESHES.labels(provider, result).inc()
        if failure is not None:
            FAILURES.labels(provider, failure_class or failure).inc()
    if lateness_seconds is not None:
        LATENESS.observe(max(lateness_seconds, 0.0))


SCHEDULE_DEPTH = Gauge("valetkey_refresh_schedule_depth", "Connections in the refresh schedule")
SCHEDULE_LAG = Gauge(
    "valetkey_refresh_schedule_lag_seconds",
    "How far past its moment the most overdue scheduled refresh is (0 when none is overdue)",
)
NEEDING_REAUTHORIZATION = Gauge(
    "valetkey_connections_needing_reauthorization",
    "Connections whose refresh failed for good (invalid_grant): they wait for the user's new consent",
)
