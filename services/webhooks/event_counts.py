"""Events per project, type and hour, counted as the fan-out reads them from ``VALETKEY_EVENTS``,
and the latest failures (``authorization.failed``, ``token.refresh_failed``) with their reasons.

One Redis hash an hour per project, ``<prefix>:webhooks:counts:<project>:<YYYYMMDDHH>`` (event
type -> count), kept for eight days. The fan-out sees every event once per delivery of it: an
event redelivered after a failed fan-out is counted again, so counts are at least once. The
console's overview draws them (``vk.admin.webhooks.event_counts``). The latest 100 failures of a
project are the list ``<prefix>:webhooks:failures:<project>`` (``vk.admin.webhooks.recent_failures``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from redis.asyncio import Redis

from shared.contracts.webhooks import EventCounts, EventCountsQuery, RecentFailures, RecentFailuresQuery
from shared.runtime.hourly import hour_of, last_hours
from shared.runtime.logging import get_logger

log = get_logger(__name__)
KEEP_SECONDS = 8 * 24 * 3600
FAILURES = ("authorization.failed", "token.refresh_failed")
KEEP_FAILURES = 100


class EventCounter:
    def __init__(self, redis: Redis, *, prefix: str, clock: Callable[[], datetime] | None = None) -> None:
        self._redis = redis
        self._prefix = prefix
        self._clock = clock or (lambda: datetime.now(UTC))

    def _key(self, project: str, hour: datetime) -> str:
        return f"{self._prefix}:webhooks:counts:{project}:{hour:%Y%m%d%H}"

    def _failures_key(self, project: str) -> str:
        return f"{self._prefix}:webhooks:failures:{project}"

    async def record(self, project: str, payload: dict[str, Any]) -> None:
        """Count one event (its shaped payload), keep it if it is a failure; a Redis failure is
        logged and never fails the event's fan-out."""
        event_type = str(payload["type"])
        key = self._key(project, hour_of(self._clock()))
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.hincrby(key, event_type, 1)
                pipe.expire(key, KEEP_SECONDS)
                if event_type in FAILURES:
                    failures = self._failures_key(project)
                    pipe.lpush(failures, json.dumps(payload, separators=(",", ":")))
                    pipe.ltrim(failures, 0, KEEP_FAILURES - 1)
                    pipe.expire(failures, KEEP_SECONDS)
                await pipe.execute()
        except Exception as exc:  # the counts are a view; the delivery matters
            log.warning("webhooks.count_failed", error=repr(exc))

    async def counts(self, query: EventCountsQuery) -> EventCounts:
        hours = last_hours(self._clock(), query.hours)
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

    async def failures(self, query: RecentFailuresQuery) -> RecentFailures:
        raw = await self._redis.lrange(self._failures_key(query.project), 0, query.limit - 1)
        return RecentFailures(items=[json.loads(item) for item in raw])
