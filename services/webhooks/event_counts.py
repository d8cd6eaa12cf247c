"""Events per project, type and hour, counted as the fan-out reads them from ``VALETKEY_EVENTS``.

One Redis hash an hour per project, ``<prefix>:webhooks:counts:<project>:<YYYYMMDDHH>`` (event
type -> count), kept for eight days. The fan-out sees every event once per delivery of it: an
event redelivered after a failed fan-out is counted again, so counts are at least once. The
console's overview draws them (``vk.admin.webhooks.event_counts``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis

from shared.contracts.webhooks import EventCounts, EventCountsQuery
from shared.runtime.logging import get_logger

log = get_logger(__name__)
KEEP_SECONDS = 8 * 24 * 3600


def _hour(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


class EventCounter:
    def __init__(self, redis: Redis, *, prefix: str, clock: Callable[[], datetime] | None = None) -> None:
        self._redis = redis
        self._prefix = prefix
        self._clock = clock or (lambda: datetime.now(UTC))

    def _key(self, project: str, hour: datetime) -> str:
        return f"{self._prefix}:webhooks:counts:{project}:{hour:%Y%m%d%H}"

    async def record(self, project: str, event_type: str) -> None:
        """Count one event; a failure is logged and never fails the event's fan-out."""
        key = self._key(project, _hour(self._clock()))
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.hincrby(key, event_type, 1)
                pipe.expire(key, KEEP_SECONDS)
                await pipe.execute()
        except Exception as exc:  # the counts are a view; the delivery matters
            log.warning("webhooks.count_failed", error=repr(exc))

    async def counts(self, query: EventCountsQuery) -> EventCounts:
        now = _hour(self._clock())
        hours = [now - timedelta(hours=n) for n in range(query.hours - 1, -1, -1)]
        async with self._redis.pipeline(transaction=False) as pipe:
            for hour in hours:
                pipe.hgetall(self._key(query.project, hour))
            found = await pipe.execute()
        counts: dict[str, list[int]] = {}
        for i, per_type in enumerate(found):
            for raw_type, raw_count in per_type.items():
                name = raw_type.decode() if isinstance(raw_type, bytes) else str(raw_type)
                counts.setdefault(name, [0] * len(hours))[i] = int(raw_count)
        return EventCounts(hours=[h.isoformat() for h in hours], counts=dict(sorted(counts.items())))
