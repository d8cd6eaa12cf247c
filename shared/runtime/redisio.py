"""The Redis client factory: retries with backoff so a Redis restart is ridden out, not fatal."""

from __future__ import annotations

from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

# Connections per process. A blocking pool makes a burst wait for a free connection
# instead of failing with MaxConnectionsError, as the default pool does.
MAX_CONNECTIONS = 128
POOL_WAIT_SECONDS = 10


def create_redis(url: str) -> Redis:
    """An asyncio client (bytes replies) that retries for ~30 s across connection loss."""
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=MAX_CONNECTIONS,
        timeout=POOL_WAIT_SECONDS,
        retry=Retry(ExponentialBackoff(cap=2.0, base=0.05), retries=25),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
        health_check_interval=10,
        socket_connect_timeout=2,
        socket_timeout=5,
    )
    return Redis.from_pool(pool)  # the client owns the pool and closes it with aclose()


def text(value: Any) -> str:
    """A reply as text: clients here return bytes (no ``decode_responses``)."""
    return value.decode() if isinstance(value, bytes) else str(value)
