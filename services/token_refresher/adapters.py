"""Real implementations of the refresher's ports: Redis (store, schedule, locks), httpx, config."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
from redis.asyncio import Redis
from redis.exceptions import LockError

from services.token_refresher.ports import Claim
from shared.contracts.events import Event
from shared.provider_registry import ProviderRegistry
from shared.providers import http
from shared.providers.http import ProviderResponse
from shared.providers.models import Provider
from shared.providers.oauth import HttpRequestSpec
from shared.tokens import StoredToken
from shared.tokenstore import Connection, TokenStore

# Takes due entries and pushes their score to the lease end in one step: Redis runs a
# script atomically, so two replicas never take the same entry, and an entry whose
# replica died reappears once the lease passes (nothing is lost, nothing is doubled).
CLAIM_SCRIPT = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[3]))
for i = 1, #due, 2 do
  redis.call('ZADD', KEYS[1], 'XX', ARGV[2], due[i])
end
return due
"""


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisTokens:
    """The shared :class:`TokenStore` plus the schedule claim.

    Args:
        store: The token store.
        redis: The same Redis client (for the claim script).
        committed: Called after a write that carried events (wakes the outbox relay).
    """

    def __init__(
        self, store: TokenStore, redis: Redis, *, committed: Callable[[], None] = lambda: None
    ) -> None:
        self._store = store
        self._committed = committed
        self._claim = redis.register_script(CLAIM_SCRIPT)

    async def get(self, user_id: str, provider_id: str) -> StoredToken | None:
        return await self._store.get(user_id, provider_id)

    async def connection(self, conn: str) -> Connection | None:
        return await self._store.connection(conn)

    async def put(
        self, user_id: str, provider_id: str, token: StoredToken, *, provider_type: str, events: list[Event]
    ) -> None:
        await self._store.put(user_id, provider_id, token, provider_type=provider_type, events=events)
        self._committed()

    async def add_event(self, event: Event) -> None:
        await self._store.outbox.add_now(event)
        self._committed()

    async def reschedule(self, conn: str, at: datetime) -> None:
        await self._store.reschedule(conn, at)

    async def unschedule(self, conn: str) -> None:
        await self._store.unschedule(conn)

    async def record_failure(self, conn: str) -> int:
        return await self._store.record_refresh_failure(conn)

    async def claim_due(self, now: datetime, lease_until: datetime, limit: int) -> list[Claim]:
        raw = await self._claim(
            keys=[self._store.due_key], args=[now.timestamp(), lease_until.timestamp(), limit]
        )
        pairs = zip(raw[0::2], raw[1::2], strict=True)
        return [Claim(_text(conn), datetime.fromtimestamp(float(_text(score)), UTC)) for conn, score in pairs]

    async def next_due(self) -> datetime | None:
        return await self._store.next_due()


class RedisLocks:
    """Per-connection refresh locks on redis-py's ``Lock``.

    redis-py's lock is the owner-checked kind Nango's is not: ``SET key <uuid> NX PX``
    to take it and a Lua compare-and-delete to release it, so a holder that overran
    the expiry cannot delete the next holder's lock. The refresher also bounds every
    refresh to a deadline below the expiry (settings.checked), so overrunning does not happen.

    Args:
        redis: The Redis client.
        prefix: Key prefix; locks live at ``<prefix>:lock:refresh:<conn>``.
        ttl: Lock expiry, seconds.
        wait: How long to wait for a lock held elsewhere, seconds.
    """

    def __init__(self, redis: Redis, *, prefix: str, ttl: float, wait: float) -> None:
        self._redis = redis
        self._prefix = prefix
        self._ttl = ttl
        self._wait = wait

    @asynccontextmanager
    async def hold(self, conn: str) -> AsyncIterator[bool]:
        lock = self._redis.lock(
            f"{self._prefix}:lock:refresh:{conn}",
            timeout=self._ttl,
            sleep=0.05,
            blocking_timeout=self._wait,
            thread_local=False,
        )
        acquired = bool(await lock.acquire())
        try:
            yield acquired
        finally:
            if acquired:
                # LockError: it expired; with the deadline below the TTL only a stalled process gets here.
                with contextlib.suppress(LockError):
                    await lock.release()


class HttpxTokenEndpoint:
    """Provider calls over one pooled httpx client."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def send(self, spec: HttpRequestSpec, *, timeout: float) -> ProviderResponse:
        return await http.send(self._client, spec, timeout=timeout)


def http_client(max_connections: int) -> httpx.AsyncClient:
    """The refresher's client: pooled, no proxy from the environment, redirects never followed."""
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
    return httpx.AsyncClient(limits=limits, trust_env=False, follow_redirects=False)


class EnabledProviders:
    """Providers from ``engine.yaml`` and the admin API (``ProviderRegistry``), enabled ones only."""

    def __init__(self, registry: ProviderRegistry) -> None:
        self._registry = registry

    async def get(self, provider_id: str) -> Provider | None:
        provider = await self._registry.get(provider_id)
        return provider if provider is not None and provider.enabled else None
