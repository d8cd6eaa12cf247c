"""A lean ``GET`` for the hottest read (a user's token, on every tool call and status read), and
``EVALSHA`` for the hottest write (an execution's history record).

redis-py's client spends ~35 µs of CPU around each command on one server (measured: ~55 µs for
``Redis.get`` against ~19 µs for the same command on a connection held by the caller): the
blocking pool's condition, lock and wait timeout on the way out and back, the check that a
connection handed out has nothing left to read, the retry wrapper and the observability events.
:class:`HeldReads` keeps a few of the pool's connections out of it and sends the command on one
of them. Anything that goes wrong on a held connection (Redis away, a timeout, a reply cut short,
a script the server forgot) drops that connection and sends the command again the ordinary way,
which rides out an outage as every other command does (``shared/runtime/redisio.py``): only for
commands that may run twice (a read; the history's script, which writes the same values again).
A Redis Cluster or Sentinel client (whose connections a key or a failover chooses) always takes
the ordinary way.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.connection import AbstractConnection
from redis.commands.core import AsyncScript

#: Connections held at most: the reads a process makes at once beyond that take the ordinary way
#: and give theirs back to the pool.
HELD = 8


class HeldReads:
    """``GET`` and scripts on connections held out of ``redis``'s pool; closing the client closes them too.

    Args:
        redis: The client (its pool's connections are borrowed, never more than :data:`HELD`).
        held: How many connections to keep.
    """

    def __init__(self, redis: Redis, *, held: int = HELD) -> None:
        self._redis = redis
        pool = getattr(redis, "connection_pool", None)
        # Only a plain client on one server's blocking pool (create_redis's): not a cluster's or
        # Sentinel's (a subclass of the plain pool), whose connections are chosen per command.
        self._pool: BlockingConnectionPool | None = pool if type(pool) is BlockingConnectionPool else None
        self._keep = held
        self._idle: list[AbstractConnection] = []

    async def get(self, key: str) -> Any:
        """The value at ``key`` (bytes), or None."""
        if self._pool is None:
            return await self._redis.get(key)
        try:
            return await self._on_held(self._pool, "GET", key)
        except Exception:  # that connection was dropped; the ordinary way reconnects and retries
            return await self._redis.get(key)

    async def run(self, script: AsyncScript, keys: list[str], args: list[Any]) -> Any:
        """``script``'s answer (``EVALSHA``); a script the server does not know (a restart) and any
        failure go the ordinary way, which loads it."""
        if self._pool is None:
            return await script(keys=keys, args=args)
        try:
            return await self._on_held(self._pool, "EVALSHA", script.sha, len(keys), *keys, *args)
        except Exception:  # NOSCRIPT, or the connection dropped: the ordinary way loads and retries
            return await script(keys=keys, args=args)

    async def _on_held(self, pool: BlockingConnectionPool, *command: Any) -> Any:
        connection = self._idle.pop() if self._idle else await pool.get_connection()  # type: ignore[no-untyped-call]
        try:
            await connection.send_command(*command)
            value = await connection.read_response()
        except BaseException:  # a cancel included: the reply may still be on its way
            await connection.disconnect()
            await pool.release(connection)
            raise
        if len(self._idle) < self._keep:
            self._idle.append(connection)
        else:
            await pool.release(connection)
        return value
