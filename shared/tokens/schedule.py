"""The proactive-refresh schedule and the set of connections waiting for a new consent.

Keys (``<p>`` the configured prefix; on a Redis Cluster each exists once per shard, with the
shard's hash tag after ``<p>``: :mod:`shared.runtime.keyspace`)::

    <p>:refresh:due     zset connection id -> epoch seconds a proactive refresh is due (the
                        refresher leases entries by pushing their score forward)
    <p>:conns:reauth    set of the connection ids whose grant is dead (status
                        reauthorization_required)

:class:`shared.tokens.store.TokenStore` writes both with each token in one script; this class
names them and serves the refresher's and the gauges' reads and moves. A connection's entries
are in the shard of its id; counts and listings read every shard and merge.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, cast

from redis.asyncio import Redis

from shared.runtime.keyspace import Keyspace
from shared.runtime.redisio import text

Scored = list[tuple[bytes, float]]  # a WITHSCORES reply


class RefreshSchedule:
    """When each connection's token is next refreshed, and which connections need a new consent."""

    def __init__(self, redis: Redis, keyspace: Keyspace) -> None:
        self._redis = redis
        self.keyspace = keyspace

    def due_key_of(self, shard: int) -> str:
        """A shard's refresh schedule."""
        return self.keyspace.key(shard, "refresh:due")

    def reauth_key_of(self, shard: int) -> str:
        """A shard's set of connections whose grant is dead: they wait for a new consent."""
        return self.keyspace.key(shard, "conns:reauth")

    @property
    def due_key(self) -> str:
        """The refresh schedule of shard 0 (the only one on a single server)."""
        return self.due_key_of(0)

    @property
    def reauth_key(self) -> str:
        """The reauthorization set of shard 0 (the only one on a single server)."""
        return self.reauth_key_of(0)

    async def due(self, now: datetime, *, limit: int = 100) -> list[str]:
        """Connection ids whose refresh is due, earliest first (read-only; the refresher claims)."""
        replies = await self._each_shard(
            lambda pipe, shard: pipe.zrangebyscore(
                self.due_key_of(shard), "-inf", now.timestamp(), start=0, num=limit, withscores=True
            )
        )
        found = [(float(score), text(member)) for raw in replies for member, score in cast(Scored, raw)]
        return [member for _, member in sorted(found)[:limit]]

    async def reschedule(self, connection_id: str, at: datetime) -> None:
        """Move a scheduled connection's next refresh to ``at``; an unscheduled one stays out."""
        await self._redis.zadd(self._due_key_for(connection_id), {connection_id: at.timestamp()}, xx=True)

    async def unschedule(self, connection_id: str) -> None:
        """Take a connection out of the refresh schedule."""
        await self._redis.zrem(self._due_key_for(connection_id), connection_id)

    async def depth(self) -> int:
        """How many connections the refresh schedule holds."""
        return sum(await self._each_shard(lambda pipe, shard: pipe.zcard(self.due_key_of(shard))))

    async def needing_reauthorization(self) -> int:
        """How many connections wait for a new consent (their refresh failed for good)."""
        return sum(await self._each_shard(lambda pipe, shard: pipe.scard(self.reauth_key_of(shard))))

    async def next_due(self) -> datetime | None:
        """The earliest scheduled refresh moment, or None when nothing is scheduled."""
        firsts = await self._each_shard(
            lambda pipe, shard: pipe.zrange(self.due_key_of(shard), 0, 0, withscores=True)
        )
        scores = [float(first[0][1]) for first in firsts if first]
        return datetime.fromtimestamp(min(scores), UTC) if scores else None

    def _due_key_for(self, connection_id: str) -> str:
        return self.due_key_of(self.keyspace.shard_of_connection(connection_id))

    async def _each_shard(self, command: Callable[[Any, int], object]) -> list[Any]:
        """One command per shard, pipelined (cluster-wide, not atomic); their replies in shard order."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for shard in self.keyspace.all:
                command(pipe, shard)
            return list(await pipe.execute())
