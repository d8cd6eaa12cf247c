"""Gauges of shared state, sampled when Prometheus scrapes: the outbox here, the rest in services.

Counters move where work happens; these numbers live in Redis or JetStream instead, so
each is read at scrape time by a *sampler* the service registers with its ops server.
Every replica that samples a global number reports the same value: dashboards and
alerts take ``max()`` over instances. A sampler that fails or takes longer than
``SAMPLE_TIMEOUT_S`` leaves its gauge as it was; the scrape itself never fails.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence

from prometheus_client import Gauge

from shared.runtime.logging import get_logger

log = get_logger(__name__)

Sampler = Callable[[], Awaitable[None]]
SAMPLE_TIMEOUT_S = 1.0

OUTBOX_DEPTH = Gauge("valetkey_outbox_depth", "Events written to the outbox, not yet relayed to JetStream")
OUTBOX_LAG = Gauge(
    "valetkey_outbox_relay_lag_seconds", "Age of the oldest event waiting in the outbox (0 when empty)"
)


async def sample(samplers: Sequence[Sampler]) -> None:
    """Run every sampler at once; failures are logged, never raised."""
    results = await asyncio.gather(
        *(asyncio.wait_for(sampler(), SAMPLE_TIMEOUT_S) for sampler in samplers), return_exceptions=True
    )
    for result in results:
        if isinstance(result, BaseException):
            log.warning("metrics.sample_failed", error=repr(result))


def age_seconds(oldest: float | None, *, now: float | None = None) -> float:
    """Seconds since ``oldest`` (a UNIX time), 0 when there is none or it lies ahead."""
    if oldest is None:
        return 0.0
    return max(0.0, (time.time() if now is None else now) - oldest)
