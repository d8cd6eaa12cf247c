"""The Redis client factory: retries with backoff so a Redis restart is ridden out, not fatal."""

from __future__ import annotations

import os
import traceback
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast
from urllib.parse import unquote, urlsplit

import redis
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelManagedConnection
from redis.backoff import ExponentialBackoff
from redis.exceptions import (
    AuthenticationError,
    ClusterDownError,
    ClusterError,
    ReadOnlyError,
    RedisClusterException,
    SlotNotCoveredError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from shared.bus.messaging import treat_as_unavailable
from shared.runtime.logging import get_logger
from shared.runtime.settings import RuntimeSettings

# Connections per process. A blocking pool makes a burst wait for a free connection
# instead of failing with MaxConnectionsError, as the default pool does.
MAX_CONNECTIONS = 128
POOL_WAIT_SECONDS = 10

T = TypeVar("T")
log = get_logger(__name__)


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


CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}
SENTINEL_SCHEMES = {"redis+sentinel": False, "rediss+sentinel": True}


def _outage_retry(supported_errors: tuple[type[Exception], ...] | None = None) -> _OutageRetry:
    """~40 s of retries with backoff; ``supported_errors``: what may be retried (redis-py's
    connection and timeout errors unless given)."""
    backoff = ExponentialBackoff(cap=2.0, base=0.05)
    if supported_errors is None:
        return _OutageRetry(backoff, retries=25)
    return _OutageRetry(backoff, retries=25, supported_errors=supported_errors)  # type: ignore[arg-type]


# Redis away, or a Redis Cluster moving a slot to a new primary: a request that met one may be
# sent again, so the services answer it 503 (shared/bus/messaging.py), not 500.
STORE_AWAY = (
    RedisConnectionError,
    RedisTimeoutError,
    ClusterDownError,
    ClusterError,  # "TTL exhausted": redirections went round while slots moved
    TryAgainError,
    SlotNotCoveredError,
    ReadOnlyError,
)
# The cluster client's own view being rebuilt mid-failover: a dead primary's slots uncovered
# until its replica is promoted, nodes disagreeing, none reachable. Other texts of that
# exception are mistakes in the call (no target, too many targets) and stay errors.
CLUSTER_VIEW_REBUILDING = (
    "All slots are not covered",
    "startup_nodes could not agree",
    "Redis Cluster cannot be connected",
)

_CLIENT_DIR = os.path.dirname(redis.__file__) + os.sep


def store_away(exc: BaseException) -> bool:
    """Redis away or a slot moving (:data:`STORE_AWAY`), the cluster client rebuilding its view
    of the slots (:data:`CLUSTER_VIEW_REBUILDING`), or the client's own connection state
    failing while a failover tears its sockets down (an ``AttributeError`` or a closed-transport
    ``RuntimeError`` raised inside redis-py, seen under a Valkey primary's SIGKILL)."""
    if isinstance(exc, STORE_AWAY):
        return True
    if isinstance(exc, RedisClusterException):
        return str(exc).startswith(CLUSTER_VIEW_REBUILDING)
    if not isinstance(exc, AttributeError | RuntimeError) or exc.__traceback__ is None:
        return False
    # Raised inside the client, or below it (asyncio's or uvloop's closed transport, under a
    # write redis-py was making): the client's frames are on the way.
    return any(frame.filename.startswith(_CLIENT_DIR) for frame in traceback.extract_tb(exc.__traceback__))


async def through_outage(do: Callable[[], Awaitable[T]], *, what: str) -> T:
    """Run ``do`` until it gets through, again with backoff while Redis is away
    (:func:`store_away`), ~40 s at most, then raise what it last raised.

    For a write whose data exists nowhere else, such as a refreshed token whose old refresh token
    the provider has just spent. A standalone or Sentinel client already rides out an outage by
    itself; the cluster client's own retries do not wait: while a dead primary's replica is not
    yet promoted (the cluster's node timeout, seconds), each of them is refused at once.
    """

    async def waited(error: Exception, failures: int) -> None:
        log.warning("redis.write_retried", what=what, error=type(error).__name__, failures=failures)

    retry = _outage_retry((*STORE_AWAY, RedisClusterException, AttributeError, RuntimeError))
    return await retry.call_with_retry(do, waited, is_retryable=store_away, with_failure_count=True)


_CONNECTION: dict[str, Any] = {
    "retry_on_error": [RedisConnectionError, RedisTimeoutError],
    "socket_connect_timeout": 2,
    "socket_timeout": 5,
}


def create_redis(url: str, **options: Any) -> Redis:
    """An asyncio client (bytes replies) that retries for ~30 s across connection loss.

    ``url`` may carry a user and password (``redis://user:pw@host:port/0``) and ask for TLS
    (``rediss://``); ``options`` (:func:`redis_options`: a password, a CA bundle) add what the
    URL leaves out, and may set ``socket_timeout`` (5 s by default).
    ``redis+cluster://host:port[,host:port...]`` is a Redis or Valkey Cluster reached through any
    of its seed nodes; ``redis+sentinel://host:port[,...]/primary-name[/db]``
    is the primary that Sentinel names, followed across a failover (docs/scaling.md, "A cluster").
    """
    treat_as_unavailable(store_away)
    scheme = urlsplit(url).scheme
    if scheme in CLUSTER_SCHEMES:
        return _cluster(url, **options)
    if scheme in SENTINEL_SCHEMES:
        return _sentinel(url, **options)
    pool = BlockingConnectionPool.from_url(
        url,
        **(_CONNECTION | options),  # an option given (a socket_timeout) wins over the default
        max_connections=MAX_CONNECTIONS,
        timeout=POOL_WAIT_SECONDS,
        retry=_outage_retry(),
        health_check_interval=10,
    )
    return Redis.from_pool(pool)  # the client owns the pool and closes it with aclose()


def _cluster(url: str, **options: Any) -> Redis:
    """A Redis Cluster client. It speaks the same commands as :class:`Redis` for the keys we use
    (every script and transaction keeps its keys in one slot, docs/scaling.md), so the services
    hold it under that type."""
    parts = urlsplit(url)
    scheme = CLUSTER_SCHEMES[parts.scheme]
    hosts = parts.netloc.rpartition("@")[2]
    seeds = [_host_port(seed) for seed in hosts.split(",") if seed]
    if parts.username is not None:
        options.setdefault("username", unquote(parts.username) or None)
    if parts.password is not None:
        options["password"] = unquote(parts.password)
    cluster = RedisCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in seeds],
        ssl=scheme == "rediss",
        max_connections=MAX_CONNECTIONS,
        retry=_outage_retry(),
        **(_CONNECTION | options),
    )
    return cast(Redis, cluster)


def _sentinel(url: str, **options: Any) -> Redis:
    """The primary that Sentinel names, found again after a failover."""
    parts = urlsplit(url)
    hosts = parts.netloc.rpartition("@")[2]
    path = [segment for segment in parts.path.split("/") if segment]
    if not path:
        raise ValueError("redis+sentinel:// needs the primary's name: redis+sentinel://host:port/name")
    password = unquote(parts.password) if parts.password is not None else options.pop("password", None)
    sentinel = Sentinel(  # type: ignore[no-untyped-call]
        [_host_port(seed) for seed in hosts.split(",") if seed],
        sentinel_kwargs={"password": password, **_CONNECTION},
        ssl=SENTINEL_SCHEMES[parts.scheme],
        password=password,
        db=int(path[1]) if len(path) > 1 else 0,
        retry=_outage_retry(),
        **(_CONNECTION | options),
    )
    primary: Redis = sentinel.master_for(path[0], connection_class=_PrimaryConnection)
    return primary


class _PrimaryConnection(SentinelManagedConnection):
    """A connection to whichever server Sentinel names primary now.

    redis-py 8.1 reconnects a dropped connection through ``connect_check_health``, which skips the
    Sentinel lookup that ``connect`` does, so a retried command went on dialling the dead primary
    (seen in tests/integration/test_sentinel.py). Ask Sentinel first.
    """

    async def connect_check_health(
        self, check_health: bool = True, retry_socket_connect: bool = True
    ) -> None:
        if not self.is_connected and self.connection_pool.is_master:
            self.host, self.port = await self.connection_pool.get_master_address()
        await super().connect_check_health(check_health, retry_socket_connect)


def _host_port(seed: str) -> tuple[str, int]:
    host, _, port = seed.rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port or 6379)


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
