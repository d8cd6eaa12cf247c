"""The Redis client factory: retries with backoff so a Redis restart is ridden out, not fatal."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import AuthenticationError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from shared.runtime.settings import RuntimeSettings

# Connections per process. A blocking pool makes a burst wait for a free connection
# instead of failing with MaxConnectionsError, as the default pool does.
MAX_CONNECTIONS = 128
POOL_WAIT_SECONDS = 10

T = TypeVar("T")


class _OutageRetry(Retry):
    """Rides out a lost connection; a refused password (redis-py counts it a connection error) is
    no outage, so it fails at once instead of after every retry."""

    async def call_with_retry(
        self,
        do: Callable[[], Awaitable[T]],
        fail: Any,
        is_retryable: Callable[[Exception], bool] | None = None,
        with_failure_count: bool = False,
    ) -> T:
        def retryable(error: Exception) -> bool:
            if isinstance(error, AuthenticationError):
                return False
            return is_retryable is None or is_retryable(error)

        return await super().call_with_retry(do, fail, retryable, with_failure_count)


def create_redis(url: str, **options: Any) -> Redis:
    """An asyncio client (bytes replies) that retries for ~30 s across connection loss.

    ``url`` may carry a user and password (``redis://user:pw@host:port/0``) and ask for TLS
    (``rediss://``); ``options`` (:func:`redis_options`: a password, a CA bundle) add what the
    URL leaves out.
    """
    pool = BlockingConnectionPool.from_url(
        url,
        **options,
        max_connections=MAX_CONNECTIONS,
        timeout=POOL_WAIT_SECONDS,
        retry=_OutageRetry(ExponentialBackoff(cap=2.0, base=0.05), retries=25),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
        health_check_interval=10,
        socket_connect_timeout=2,
        socket_timeout=5,
    )
    return Redis.from_pool(pool)  # the client owns the pool and closes it with aclose()


def redis_options(url: str, runtime: RuntimeSettings) -> dict[str, Any]:
    """Keyword arguments beside ``url`` from the settings: the password (``VALETKEY_REDIS_PASSWORD``)
    and, for ``rediss://``, the CA bundle (``VALETKEY_REDIS_CA``); what the URL says wins."""
    options: dict[str, Any] = {}
    if runtime.redis_password is not None:
        options["password"] = runtime.redis_password.get_secret_value()
    if runtime.redis_ca is not None and urlsplit(url).scheme.startswith("rediss"):
        options["ssl_ca_certs"] = str(runtime.redis_ca)
    return options


def service_redis(runtime: RuntimeSettings) -> Redis:
    """The Redis client of a service (not connected yet), with its password and CA."""
    return create_redis(runtime.redis_url, **redis_options(runtime.redis_url, runtime))


def text(value: Any) -> str:
    """A reply as text: clients here return bytes (no ``decode_responses``)."""
    return value.decode() if isinstance(value, bytes) else str(value)
