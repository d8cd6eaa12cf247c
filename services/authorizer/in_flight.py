"""The authorizations in flight of a project, and how many started each hour, for the console
(``vk.auth.in_flight``, ``vk.auth.started_counts``).

One sorted set per project (and per shard on a Redis Cluster), ``<p>:authz:pending:<project>``:
authorization id -> the epoch second it stops being in flight unless it moves on (its state's
expiry while the user is at the provider, then its stage's deadline). The store writes it in the
same step as the record (``adapters.RedisAuthorizationStore``): added at the start, moved at each
stage, removed when the record is done. A flow abandoned at the provider is never done: its
entry is past its score, skipped by reads and pruned by the next start; the set itself expires
with the records (docs/console.md, "Authorizations").
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

from redis.asyncio import Redis

from shared.contracts.authorization import InFlight, InFlightAuthorization, InFlightQuery
from shared.contracts.webhooks import EventCounts, EventCountsQuery
from shared.runtime.hourly import last_hours
from shared.runtime.keyspace import Keyspace
from shared.runtime.redisio import text

KEEP_COUNTS_SECONDS = 8 * 24 * 3600


def in_flight_key(keys: Keyspace, shard: int, project: str) -> str:
    return keys.key(shard, f"authz:pending:{project}")


def started_key(keys: Keyspace, shard: int, project: str, at: datetime) -> str:
    """The hash counting the authorizations started in ``at``'s hour (one per shard), written in
    the start's own transaction."""
    return keys.key(shard, f"authz:counts:{project}:{at.astimezone(UTC):%Y%m%d%H}")


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def in_flight_item(raw: bytes | str, until: float) -> InFlightAuthorization:
    """A stored record as the console lists it; its sealed secrets are never opened."""
    record: dict[str, Any] = json.loads(raw)
    return InFlightAuthorization(
        id=record["id"],
        user_id=record["user_id"],
        provider_id=record["provider_id"],
        stage=record.get("stage", "consent"),
        scopes=record.get("scopes") or [],
        created_at=record["created_at"],
        until=_iso(until),
    )


class InFlightReader:
    """Reads the index of every shard in one round trip, then the records it names in another."""

    def __init__(self, redis: Redis, keys: Keyspace) -> None:
        self._redis = redis
        self._keys = keys

    async def list(self, query: InFlightQuery) -> InFlight:
        now = time.time()
        async with self._redis.pipeline(transaction=False) as pipe:
            for shard in self._keys.all:
                key = in_flight_key(self._keys, shard, query.project)
                pipe.zcount(key, now, "+inf")
                pipe.zrangebyscore(key, now, "+inf", start=0, num=query.limit, withscores=True)
            replies = await pipe.execute()
        total = sum(int(n) for n in replies[0::2])
        found = [(text(member), float(score)) for entries in replies[1::2] for member, score in entries]
        if not found:
            return InFlight(total_count=total)
        async with self._redis.pipeline(transaction=False) as pipe:
            for auth_id, _ in found:
                pipe.get(self._keys.key(self._keys.shard_of(auth_id), f"authz:{auth_id}"))
            records = await pipe.execute()
        items = [in_flight_item(raw, until) for raw, (_, until) in zip(records, found, strict=True) if raw]
        items.sort(key=lambda item: item.created_at, reverse=True)
        return InFlight(items=items[: query.limit], total_count=total)

    async def started(self, query: EventCountsQuery) -> EventCounts:
        """Authorizations started per hour over ``query.hours``, oldest first, summed over the shards
        (``authorization.started``: there is no event for a start)."""
        hours = last_hours(datetime.now(UTC), query.hours)
        async with self._redis.pipeline(transaction=False) as pipe:
            for hour in hours:
                for shard in self._keys.all:
                    pipe.hget(started_key(self._keys, shard, query.project, hour), "started")
            found = await pipe.execute()
        width = len(self._keys.all)
        values = [sum(int(n or 0) for n in found[i * width : (i + 1) * width]) for i in range(len(hours))]
        return EventCounts(hours=[h.isoformat() for h in hours], counts={"authorization.started": values})
