"""A due set: a Redis zset of members by the moment they are due, claimed by lease.

Claiming takes the due members and pushes each one's score to the lease end in one step (a
script over the one key: atomic, so two replicas never take the same member). A member is
removed when its work is done, only if its score is still our lease end (:meth:`DueSet.done`);
a claimer that died leaves it at its lease end, where the next claim after that moment takes
it again. Nothing is lost across restarts and, while leases hold, nothing is taken twice.

The token refresher's schedule works the same way (services/token_refresher/adapters.py); the
scheduled executions use this class.
"""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from shared.runtime.redisio import text

# KEYS: the zset. ARGV: now, lease end, most to take. Returns member, score pairs (score before).
CLAIM_SCRIPT = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[3]))
for i = 1, #due, 2 do
  redis.call('ZADD', KEYS[1], 'XX', ARGV[2], due[i])
end
return due
"""

# KEYS: the zset. ARGV: member, our lease end. Removes the member only while it is still ours.
DONE_SCRIPT = """
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) == tonumber(ARGV[2]) then
  return redis.call('ZREM', KEYS[1], ARGV[1])
end
return 0
"""


@dataclass(frozen=True)
class Claimed:
    """A member taken until ``lease_until`` (epoch seconds); ``due`` is when it was due."""

    member: str
    due: float
    lease_until: float


class DueSet:
    """One zset of due members.

    Args:
        redis: An asyncio Redis client (bytes responses).
        key: The zset's key.
    """

    def __init__(self, redis: Redis, key: str) -> None:
        self._redis = redis
        self.key = key
        self._claim = redis.register_script(CLAIM_SCRIPT)
        self._done = redis.register_script(DONE_SCRIPT)

    async def add(self, member: str, due: float) -> None:
        """Make ``member`` due at ``due`` (epoch seconds)."""
        await self._redis.zadd(self.key, {member: due})

    async def claim(self, now: float, lease_until: float, limit: int) -> list[Claimed]:
        """Take up to ``limit`` members due at ``now``, each until ``lease_until``."""
        raw = await self._claim(keys=[self.key], args=[now, lease_until, limit])
        pairs = zip(raw[::2], raw[1::2], strict=True)
        return [Claimed(text(member), float(score), lease_until) for member, score in pairs]

    async def done(self, claimed: Claimed) -> bool:
        """Remove a claimed member, unless someone claimed it again after our lease ran out."""
        return bool(await self._done(keys=[self.key], args=[claimed.member, claimed.lease_until]))

    async def size(self) -> int:
        return int(await self._redis.zcard(self.key))
