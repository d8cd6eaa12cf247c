"""Real implementations of the refresher's ports: Redis (store, schedule, locks), the clock, config.

The provider port is `shared.providers.client.ProviderClient` itself (over aiohttp).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from redis.asyncio import Redis

from services.token_refresher.ports import Claim, Locked
from shared.contracts.common import DEFAULT_PROJECT
from shared.contracts.events import Event
from shared.providers.models import Provider
from shared.providers.projects import ProjectProviders
from shared.runtime.due import CLAIM_SCRIPT
from shared.runtime.redisio import text, through_outage
from shared.tokens.model import StoredToken, connection_id_of
from shared.tokens.store import TokenStore, version_of

# The claim (every due set's CLAIM_SCRIPT, shared.runtime.due) takes due entries and pushes
# their score to the lease end in one step: Redis runs a
# script atomically, so two replicas never take the same entry, and an entry whose
# replica died reappears once the lease passes (nothing is lost, nothing is doubled).
# Who each connection belongs to is read right after, outside the script: a script
# touches only the keys it declares (a cluster routes it by them). One script per shard:
# each shard has its own schedule (shared.runtime.keyspace).

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
# in the same step, reads the in-flight marker an earlier holder may have left, and leaves
# ours: "<version of the record> <start, epoch ms> <owner>". The marker outlives the lock
# (ARGV[4]): a holder killed after spending the refresh token leaves it for the next one.
# KEYS: lock, token, in-flight marker. ARGV: owner, lock ttl ms, start ms, marker ttl ms.
LOCK_SCRIPT = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  local record = redis.call('GET', KEYS[2])
  local before = redis.call('GET', KEYS[3])
  local marker = ''
  if record then
    marker = redis.sha1hex(record) .. ' ' .. ARGV[3] .. ' ' .. ARGV[1]
    redis.call('SET', KEYS[3], marker, 'PX', ARGV[4])
  end
  return {1, record, before, marker}
end
return {0}
"""

# Owner-checked release (compare-and-delete): a holder that overran the expiry cannot
# delete the next holder's lock. Our in-flight marker goes too, unless ARGV[2] is empty
# (a call may have spent the refresh token without us seeing the answer).
# KEYS: lock, in-flight marker. ARGV: owner, marker to clear ('' = keep it).
RELEASE_SCRIPT = """
if ARGV[2] ~= '' and redis.call('GET', KEYS[2]) == ARGV[2] then
  redis.call('DEL', KEYS[2])
end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

# Keeps what this replica holds alive, owner-checked: each lock still ours gets a new
# expiry, each claim still at our lease end a new lease end. One flag per lock, then per claim.
# KEYS: a shard's schedule, then n locks of that shard. ARGV: lock ttl ms, new lease end, n, n owners, then
# (connection id, our lease end) pairs.
RENEW_SCRIPT = """
local n = tonumber(ARGV[3])
local renewed = {}
for i = 1, n do
  if redis.call('GET', KEYS[i + 1]) == ARGV[3 + i] then
    redis.call('PEXPIRE', KEYS[i + 1], ARGV[1])
    table.insert(renewed, 1)
  else
    table.insert(renewed, 0)
  end
end
for i = 4 + n, #ARGV, 2 do
  local score = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if score and tonumber(score) == tonumber(ARGV[i + 1]) then
    redis.call('ZADD', KEYS[1], 'XX', ARGV[2], ARGV[i])
    table.insert(renewed, 1)
  else
    table.insert(renewed, 0)
  end
end
return renewed
"""

# How long an in-flight marker outlives its lock: long enough for any restart to find it.
INFLIGHT_TTL_MS = 24 * 3600 * 1000
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


def _interrupted(before: bytes | None, record: bytes | None, owner: str) -> datetime | None:
    """When an earlier holder began a refresh of this very record and never settled it, else None."""
    if before is None or record is None:
        return None
    version, started_ms, previous_owner = text(before).split(" ", 2)
    if version != version_of(record) or previous_owner == owner:
        return None
    return datetime.fromtimestamp(int(started_ms) / 1000, UTC)


class RedisTokens:
    """The shared :class:`TokenStore` plus the schedule claim and the refresh locks.

    A lock is ``SET <p>:lock:refresh:<connection_id> <owner> NX PX``, taken together with the token
    read and the in-flight marker (``LOCK_SCRIPT``); a successful refresh releases both in the
    same step as its write (``TokenStore.write``): one round trip before the token call and one
    after. Locks expire quickly (``lock_ttl``) and are renewed while held (``renew``, driven by
    ``leases.Leases``), so a killed holder's connections are free again within seconds.

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
        lock_ttl: float = 5.0,
        lock_wait: float = 15.0,
    ) -> None:
        self._store = store
        self._redis = redis
        self._committed = committed
        self._lock_ttl_ms = int(lock_ttl * 1000)
        self._lock_wait = lock_wait
        self._lock = redis.register_script(LOCK_SCRIPT)
        self._claim = redis.register_script(CLAIM_SCRIPT)
        self._unclaim = redis.register_script(UNCLAIM_SCRIPT)
        self._release = redis.register_script(RELEASE_SCRIPT)
        self._renew = redis.register_script(RENEW_SCRIPT)
        # Replicas start their claims at different shards, so they spread over them.
        self._next_shard = secrets.randbelow(store.keyspace.shards)

    async def get(
        self, user_id: str, provider_id: str, *, project: str = DEFAULT_PROJECT
    ) -> StoredToken | None:
        return await self._store.get(user_id, provider_id, project=project)

    async def put(
        self,
        user_id: str,
        provider_id: str,
        token: StoredToken,
        *,
        events: list[Event],
        unlock: Locked | None = None,
        project: str = DEFAULT_PROJECT,
    ) -> str:
        owner, marker = (None, None) if unlock is None else (unlock.owner, unlock.marker)
        # What the provider just answered exists nowhere else: a failover must not drop it.
        written = await through_outage(
            lambda: self._store.write(
                user_id, provider_id, token, events=events, lock_owner=owner, inflight=marker, project=project
            ),
            what="token",
        )
        if unlock is not None:
            unlock.released = True
        self._committed()
        return "" if written is None else written[1]

    async def put_if_current(
        self,
        user_id: str,
        provider_id: str,
        token: StoredToken,
        version: str,
        *,
        project: str = DEFAULT_PROJECT,
    ) -> bool:
        written = await self._store.write(user_id, provider_id, token, if_version=version, project=project)
        return written is not None

    @asynccontextmanager
    async def locked(
        self, user_id: str, provider_id: str, *, project: str = DEFAULT_PROJECT
    ) -> AsyncIterator[Locked | None]:
        connection_id = connection_id_of(user_id, provider_id, project)
        owner = secrets.token_hex(16)
        taken = await self._take(connection_id, owner)
        if taken is None:
            yield None
            return
        record, before, marker = taken
        lock: Locked | None = None
        try:
            token = self._store.decode(user_id, provider_id, record, project=project)
            lock = Locked(connection_id, owner, token, marker, _interrupted(before, record, owner))
            yield lock
        finally:
            if lock is None or not lock.released:
                keep = lock is not None and lock.uncertain
                await self._release(
                    keys=[self._store.lock_key(connection_id), self._store.inflight_key(connection_id)],
                    args=[owner, "" if keep else marker],
                )

    async def _take(self, connection_id: str, owner: str) -> tuple[bytes | None, bytes | None, str] | None:
        """Take the lock, read the token and leave our marker in one round trip; poll while another has it.

        Returns the token record, the marker found, and ours; None when the wait ran out.
        """
        keys = [
            self._store.lock_key(connection_id),
            self._store.token_key(connection_id),
            self._store.inflight_key(connection_id),
        ]
        deadline = time.monotonic() + self._lock_wait
        while True:
            started_ms = int(time.time() * 1000)
            taken, *rest = await self._lock(
                keys=keys, args=[owner, self._lock_ttl_ms, started_ms, INFLIGHT_TTL_MS]
            )
            if taken:
                record, before, marker = rest
                return record, before, text(marker)
            if time.monotonic() >= deadline:
                return None
            await asyncio.sleep(LOCK_POLL_SECONDS)

    async def renew(
        self, locks: Sequence[Locked], claims: Sequence[Claim], lease_until: datetime
    ) -> tuple[list[bool], list[bool]]:
        """One script per shard that holds any of ``locks`` and ``claims``; flags in their order."""
        lock_flags: dict[str, bool] = {}
        claim_flags: dict[str, bool] = {}
        ids = [lock.connection_id for lock in locks] + [claim.connection_id for claim in claims]
        for shard in sorted({self._shard(connection_id) for connection_id in ids}):
            mine = [lock for lock in locks if self._shard(lock.connection_id) == shard]
            held = [claim for claim in claims if self._shard(claim.connection_id) == shard]
            keys = [
                self._store.schedule.due_key_of(shard),
                *(self._store.lock_key(lock.connection_id) for lock in mine),
            ]
            args: list[str | float | int] = [self._lock_ttl_ms, lease_until.timestamp(), len(mine)]
            args.extend(lock.owner for lock in mine)
            for claim in held:
                args.extend((claim.connection_id, claim.lease_until.timestamp()))
            flags = [bool(int(flag)) for flag in await self._renew(keys=keys, args=args)]
            lock_flags.update(zip((lock.owner for lock in mine), flags[: len(mine)], strict=True))
            claim_flags.update(zip((c.connection_id for c in held), flags[len(mine) :], strict=True))
        return [lock_flags[lock.owner] for lock in locks], [claim_flags[c.connection_id] for c in claims]

    def _shard(self, connection_id: str) -> int:
        return self._store.shard(connection_id)

    async def add_event(self, event: Event) -> None:
        await self._store.outbox.add_now(event)
        self._committed()

    async def reschedule(self, connection_id: str, at: datetime) -> None:
        await self._store.schedule.reschedule(connection_id, at)

    async def unschedule(self, connection_id: str) -> None:
        await self._store.schedule.unschedule(connection_id)

    async def record_failure(self, connection_id: str) -> int:
        return await self._store.record_refresh_failure(connection_id)

    async def claim_due(self, now: datetime, lease_until: datetime, limit: int) -> list[Claim]:
        """Claims from one shard after another (from where the last call stopped) until ``limit``."""
        shards = self._store.keyspace.shards
        claims: list[Claim] = []
        for step in range(shards):
            if len(claims) >= limit:
                break
            shard = (self._next_shard + step) % shards
            claims += await self._claim_shard(shard, now, lease_until, limit - len(claims))
        self._next_shard = (self._next_shard + 1) % shards
        return claims

    async def _claim_shard(self, shard: int, now: datetime, lease_until: datetime, limit: int) -> list[Claim]:
        raw = await self._claim(
            keys=[self._store.schedule.due_key_of(shard)],
            args=[now.timestamp(), lease_until.timestamp(), limit],
        )
        ids = [text(connection_id) for connection_id in raw[0::2]]
        async with self._redis.pipeline(transaction=False) as pipe:
            for connection_id in ids:
                pipe.hmget(self._store.meta_key(connection_id), "user_id", "provider_id", "project")
            owners = await pipe.execute() if ids else []
        return [
            Claim(
                connection_id,
                datetime.fromtimestamp(float(text(score)), UTC),
                lease_until,
                None if user is None else text(user),
                None if provider is None else text(provider),
                DEFAULT_PROJECT if project is None else text(project),
            )
            for connection_id, score, (user, provider, project) in zip(ids, raw[1::2], owners, strict=True)
        ]

    async def unclaim(self, claims: list[Claim]) -> None:
        for shard in sorted({self._shard(c.connection_id) for c in claims}):
            args = [
                (c.connection_id, c.lease_until.timestamp(), c.due.timestamp())
                for c in claims
                if self._shard(c.connection_id) == shard
            ]
            await self._unclaim(
                keys=[self._store.schedule.due_key_of(shard)], args=[a for triple in args for a in triple]
            )

    async def next_due(self) -> datetime | None:
        return await self._store.schedule.next_due()


class EnabledProviders:
    """Providers from ``engine.yaml`` and the admin API (``ProviderRegistry``), enabled ones only."""

    def __init__(self, registry: ProjectProviders) -> None:
        self._registry = registry

    async def get(self, provider_id: str, project: str = DEFAULT_PROJECT) -> Provider | None:
        provider = await self._registry.get(provider_id, project)
        return provider if provider is not None and provider.enabled else None
