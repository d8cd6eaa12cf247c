"""Real implementations of the refresher's ports: Redis (store, schedule, locks), the clock, config.

The provider port is `shared.providers.client.ProviderClient` itself (over aiohttp).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from redis.asyncio import Redis

from services.token_refresher.ports import Claim, Locked
from shared.contracts.events import Event
from shared.providers.models import Provider
from shared.providers.registry import ProviderRegistry
from shared.runtime.redisio import text
from shared.tokens.model import StoredToken, connection_id_of
from shared.tokens.store import TokenStore

# Takes due entries and pushes their score to the lease end in one step: Redis runs a
# script atomically, so two replicas never take the same entry, and an entry whose
# replica died reappears once the lease passes (nothing is lost, nothing is doubled).
# It also reads who the connection belongs to (ARGV[4] is the metadata hash prefix), so a
# claim needs no second round trip; those hashes are not in KEYS, which is fine on a
# single Redis (the store's transactions span many keys anyway) but not on a cluster.
CLAIM_SCRIPT = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[3]))
local claims = {}
for i = 1, #due, 2 do
  redis.call('ZADD', KEYS[1], 'XX', ARGV[2], due[i])
  local who = redis.call('HMGET', ARGV[4] .. due[i], 'user_id', 'provider_id')
  table.insert(claims, due[i])
  table.insert(claims, due[i + 1])
  table.insert(claims, who[1])
  table.insert(claims, who[2])
end
return claims
"""

# Puts unstarted claims back at their due moment, but only entries still at our lease end:
# a write (or another replica's claim after our lease ran out) moved the others on purpose.
UNCLAIM_SCRIPT = """
for i = 1, #ARGV, 3 do
  local score = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if score and tonumber(score) == tonumber(ARGV[i + 1]) then
    redis.call('ZADD', KEYS[1], 'XX', ARGV[i + 2], ARGV[i])
  end
end
return 0
"""

# Takes a connection's refresh lock (SET NX PX) and, only if it was taken, reads the token
# in the same step: one command and one reply before the token call.
LOCK_SCRIPT = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {1, redis.call('GET', KEYS[2])}
end
return {0}
"""

# Owner-checked release (compare-and-delete): a holder that overran the expiry cannot
# delete the next holder's lock. Nango's lock lacks this; redis-py's Lock has the same.
RELEASE_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

LOCK_POLL_SECONDS = 0.05


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class Coalesced:
    """Calls ``action`` once, ``delay`` seconds after the first of any number of calls.

    The refresher wakes the outbox relay this way: a wake per write would make the relay
    drain (and scan Redis) once per event; coalesced, one drain carries a batch.
    """

    def __init__(self, action: Callable[[], object], delay: float) -> None:
        self._action = action
        self._delay = delay
        self._timer: asyncio.TimerHandle | None = None

    def __call__(self) -> None:
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._delay, self._fire)

    def _fire(self) -> None:
        self._timer = None
        self._action()


def _claim(raw: list[Any], lease_until: datetime) -> list[Claim]:
    return [
        Claim(
            text(connection_id),
            datetime.fromtimestamp(float(text(score)), UTC),
            lease_until,
            None if user is None else text(user),
            None if provider is None else text(provider),
        )
        for connection_id, score, user, provider in zip(
            raw[0::4], raw[1::4], raw[2::4], raw[3::4], strict=True
        )
    ]


class RedisTokens:
    """The shared :class:`TokenStore` plus the schedule claim and the refresh locks.

    A lock is ``SET <p>:lock:refresh:<connection_id> <owner> NX PX``, taken together with the token
    read (``LOCK_SCRIPT``); a successful refresh releases it in the same step as its write
    (``TokenStore.put``): one round trip before the token call and one after. The refresher
    bounds every refresh to a deadline below ``lock_ttl`` (settings.checked), so a lock does
    not expire under it.

    Args:
        store: The token store.
        redis: The same Redis client (for the scripts).
        committed: Called after a write that carried events (wakes the outbox relay).
        lock_ttl: Lock expiry, seconds.
        lock_wait: How long to wait for a lock held elsewhere, seconds.
    """

    def __init__(
        self,
        store: TokenStore,
        redis: Redis,
        *,
        committed: Callable[[], None] = lambda: None,
        lock_ttl: float = 30.0,
        lock_wait: float = 15.0,
    ) -> None:
        self._store = store
        self._committed = committed
        self._lock_ttl_ms = int(lock_ttl * 1000)
        self._lock_wait = lock_wait
        self._lock = redis.register_script(LOCK_SCRIPT)
        self._claim = redis.register_script(CLAIM_SCRIPT)
        self._unclaim = redis.register_script(UNCLAIM_SCRIPT)
        self._release = redis.register_script(RELEASE_SCRIPT)

    async def get(self, user_id: str, provider_id: str) -> StoredToken | None:
        return await self._store.get(user_id, provider_id)

    async def put(
        self,
        user_id: str,
        provider_id: str,
        token: StoredToken,
        *,
        events: list[Event],
        unlock: Locked | None = None,
    ) -> None:
        owner = None if unlock is None else unlock.owner
        await self._store.put(user_id, provider_id, token, events=events, lock_owner=owner)
        if unlock is not None:
            unlock.released = True
        self._committed()

    @asynccontextmanager
    async def locked(self, user_id: str, provider_id: str) -> AsyncIterator[Locked | None]:
        connection_id = connection_id_of(user_id, provider_id)
        owner = secrets.token_hex(16)
        taken, record = await self._take(connection_id, owner)
        if not taken:
            yield None
            return
        lock: Locked | None = None
        try:
            lock = Locked(connection_id, owner, self._store.decode(user_id, provider_id, record))
            yield lock
        finally:
            if lock is None or not lock.released:
                await self._release(keys=[self._store.lock_key(connection_id)], args=[owner])

    async def _take(self, connection_id: str, owner: str) -> tuple[bool, bytes | None]:
        """Take the lock and read the token in one round trip; poll while another holder has it."""
        keys = [self._store.lock_key(connection_id), self._store.token_key(connection_id)]
        deadline = time.monotonic() + self._lock_wait
        while True:
            taken, *record = await self._lock(keys=keys, args=[owner, self._lock_ttl_ms])
            if taken or time.monotonic() >= deadline:
                return bool(taken), record[0] if record else None
            await asyncio.sleep(LOCK_POLL_SECONDS)

    async def add_event(self, event: Event) -> None:
        await self._store.outbox.add_now(event)
        self._committed()

    async def reschedule(self, connection_id: str, at: datetime) -> None:
        await self._store.reschedule(connection_id, at)

    async def unschedule(self, connection_id: str) -> None:
        await self._store.unschedule(connection_id)

    async def record_failure(self, connection_id: str) -> int:
        return await self._store.record_refresh_failure(connection_id)

    async def claim_due(self, now: datetime, lease_until: datetime, limit: int) -> list[Claim]:
        raw = await self._claim(
            keys=[self._store.due_key],
            args=[now.timestamp(), lease_until.timestamp(), limit, self._store.meta_prefix],
        )
        return _claim(raw, lease_until)

    async def unclaim(self, claims: list[Claim]) -> None:
        if claims:
            args = [(c.connection_id, c.lease_until.timestamp(), c.due.timestamp()) for c in claims]
            await self._unclaim(keys=[self._store.due_key], args=[a for triple in args for a in triple])

    async def next_due(self) -> datetime | None:
        return await self._store.next_due()


class EnabledProviders:
    """Providers from ``engine.yaml`` and the admin API (``ProviderRegistry``), enabled ones only."""

    def __init__(self, registry: ProviderRegistry) -> None:
        self._registry = registry

    async def get(self, provider_id: str) -> Provider | None:
        provider = await self._registry.get(provider_id)
        return provider if provider is not None and provider.enabled else None
