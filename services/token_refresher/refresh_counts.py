"""Refreshes per project and hour, for the console's overview: started, done, failed and late.

Counted in process at each refresh decision and written every few seconds in one pipeline to
``<prefix>:refresh:counts:<project>:<YYYYMMDDHH>`` (a hash: started, done, failed, late), kept
eight days like the webhooks service's event counts; nothing is written on a refresh's path. A
refresh is *late* when it ran more than ``LATE_SECONDS`` after its scheduled moment (the same
measure as ``valetkey_refresh_lateness_seconds``). A replica killed between two flushes loses
those seconds' counts: the counts are a view (docs/console.md, "Overview").
Read with ``vk.tokens.refresh_counts``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime

from redis.asyncio import Redis

from services.token_refresher.metrics import COUNTED
from shared.contracts.webhooks import EventCounts, EventCountsQuery
from shared.runtime.background import Periodic
from shared.runtime.hourly import hour_of, last_hours

KEEP_SECONDS = 8 * 24 * 3600
FLUSH_SECONDS = 5.0
LATE_SECONDS = 60.0
SERIES = ("started", "done", "failed", "late")


def counted(outcome: str, lateness_seconds: float | None) -> list[str]:
    """What one refresh decision adds to: a refresh made is started and done or failed; a
    scheduled one that ran past ``LATE_SECONDS`` is late too; ``fresh`` (nothing to do) counts nothing."""
    if outcome not in COUNTED:
        return []
    result = "done" if COUNTED[outcome][0] == "refreshed" else "failed"
    late = lateness_seconds is not None and lateness_seconds > LATE_SECONDS
    return ["started", result, *(["late"] if late else [])]


class RefreshCounts:
    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str,
        clock: Callable[[], datetime] | None = None,
        interval: float = FLUSH_SECONDS,
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._clock = clock or (lambda: datetime.now(UTC))
        self._waiting: Counter[tuple[str, str]] = Counter()
        self._loop = Periodic(
            self.flush,
            interval,
            name="refresh-counts",
            failed="refresh.count_failed",
            last_round_at_stop=True,
        )

    def _key(self, project: str, hour: datetime) -> str:
        return f"{self._prefix}:refresh:counts:{project}:{hour:%Y%m%d%H}"

    def note(self, project: str, outcome: str, lateness_seconds: float | None) -> None:
        key = self._key(project, hour_of(self._clock()))
        for series in counted(outcome, lateness_seconds):
            self._waiting[(key, series)] += 1

    async def flush(self) -> int:
        """Write the counts noted since the last flush; on failure they wait for the next one."""
        if not self._waiting:
            return 0
        taken, self._waiting = self._waiting, Counter()
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for (key, series), n in taken.items():
                    pipe.hincrby(key, series, n)
                    pipe.expire(key, KEEP_SECONDS)
                await pipe.execute()
        except Exception:
            self._waiting.update(taken)
            raise
        return sum(taken.values())

    async def counts(self, query: EventCountsQuery) -> EventCounts:
        """Per series (``refresh.started``, ...) a count an hour, oldest first, over ``query.hours``."""
        hours = last_hours(self._clock(), query.hours)
        async with self._redis.pipeline(transaction=False) as pipe:
            for hour in hours:
                pipe.hgetall(self._key(query.project, hour))
            found = await pipe.execute()
        counts = {f"refresh.{s}": [0] * len(hours) for s in SERIES}
        for i, per_series in enumerate(found):
            for raw, value in per_series.items():
                name = raw.decode() if isinstance(raw, bytes) else str(raw)
                if name in SERIES:
                    counts[f"refresh.{name}"][i] = int(value)
        return EventCounts(hours=[h.isoformat() for h in hours], counts=counts)

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        """Stop the loop, then write what is left."""
        await self._loop.stop()
