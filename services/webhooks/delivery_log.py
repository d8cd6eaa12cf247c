"""The latest attempts per endpoint (status code, attempt number, time), for the console's webhooks page.

Each attempt, on the fan-out's path or the work queue's, is noted in process (no I/O on the
delivery's path) and the notes are written once a second in one pipeline: per endpoint the
list ``<prefix>:webhooks:deliveries:<project>:<endpoint id>``, newest first, trimmed to
``KEEP`` and kept a week after its last attempt. A replica killed between two flushes loses
at most a second of notes: the log is a view, the deliveries themselves are JetStream's
(docs/console.md, "Webhooks"). Read with ``vk.admin.webhooks.recent_deliveries``.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict

from redis.asyncio import Redis

from services.webhooks.domain import Delivery
from services.webhooks.sender import Outcome
from shared.contracts.webhooks import RecentDeliveries, RecentDeliveriesQuery
from shared.runtime.background import Periodic

KEEP = 20
KEEP_SECONDS = 7 * 24 * 3600
FLUSH_SECONDS = 1.0
# Notes waiting for a flush at most (Redis away for long): the oldest are dropped first.
MAX_WAITING = 10_000


def attempt_note(delivery: Delivery, outcome: Outcome, attempt: int, at: float) -> dict[str, object]:
    """One attempt as the console lists it (ids, status and error only: never the body)."""
    return {
        "event_id": delivery.event_id,
        "event_type": delivery.event_type,
        "attempt": attempt,
        "status": outcome.status,
        "error": outcome.error,
        "ok": outcome.ok,
        "at": at,
    }


class DeliveryLog:
    def __init__(self, redis: Redis, *, prefix: str, interval: float = FLUSH_SECONDS) -> None:
        self._redis = redis
        self._prefix = prefix
        self._waiting: list[tuple[str, str]] = []
        self._loop = Periodic(
            self.flush,
            interval,
            name="webhook-delivery-log",
            failed="webhooks.log_failed",
            last_round_at_stop=True,
        )

    def _key(self, project: str, endpoint_id: str) -> str:
        return f"{self._prefix}:webhooks:deliveries:{project}:{endpoint_id}"

    def note(self, project: str, delivery: Delivery, outcome: Outcome, *, attempt: int) -> None:
        """Keep one attempt for the next flush."""
        if len(self._waiting) >= MAX_WAITING:
            del self._waiting[0]
        note = attempt_note(delivery, outcome, attempt, time.time())
        self._waiting.append((self._key(project, delivery.endpoint_id), json.dumps(note)))

    async def flush(self) -> int:
        """Write what was noted since the last flush; on failure the notes wait for the next one."""
        if not self._waiting:
            return 0
        taken, self._waiting = self._waiting, []
        by_key: dict[str, list[str]] = defaultdict(list)
        for key, note in taken:
            by_key[key].append(note)
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for key, notes in by_key.items():
                    pipe.lpush(key, *notes)
                    pipe.ltrim(key, 0, KEEP - 1)
                    pipe.expire(key, KEEP_SECONDS)
                await pipe.execute()
        except Exception:
            self._waiting[:0] = taken[-MAX_WAITING:]
            raise
        return len(taken)

    async def recent(self, query: RecentDeliveriesQuery) -> RecentDeliveries:
        async with self._redis.pipeline(transaction=False) as pipe:
            for endpoint_id in query.endpoint_ids:
                pipe.lrange(self._key(query.project, endpoint_id), 0, query.limit - 1)
            found = await pipe.execute()
        items = {
            endpoint_id: [json.loads(raw) for raw in raws]
            for endpoint_id, raws in zip(query.endpoint_ids, found, strict=True)
        }
        return RecentDeliveries(items=items)

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        """Stop the loop, then write what is left (a clean shutdown loses nothing)."""
        await self._loop.stop()
