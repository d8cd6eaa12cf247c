"""When a tool last used a connection's token: the ``last_used_at`` field of its metadata hash.

The executor reads a token for every execution that needs one; writing the time on each would
add a Redis write per execution. So a process writes it at most once a minute per connection
(``EVERY_SECONDS``), after the reply (``shared.runtime.background.Background``), never on the
execution's path: the time shown is at most a minute early. The write is a script that touches
only an existing hash, so a connection revoked meanwhile is not brought back (docs/console.md,
"Connections").
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from cachetools import TTLCache
from redis.asyncio import Redis

from shared.runtime.background import Background
from shared.tokens.model import connection_id_of
from shared.tokens.store import TokenStore

EVERY_SECONDS = 60.0
# Connections remembered as written within the minute, at most (beyond: written again sooner).
REMEMBERED = 100_000

# KEYS: the connection's metadata hash. ARGV: the time (ISO 8601).
TOUCH_SCRIPT = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[1], 'last_used_at', ARGV[1])
end
"""


class LastUse:
    def __init__(
        self,
        redis: Redis,
        tokens: TokenStore,
        background: Background,
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._tokens = tokens
        self._background = background
        self._touch = redis.register_script(TOUCH_SCRIPT)
        self._clock = clock or (lambda: datetime.now(UTC))
        self._written: TTLCache[str, bool] = TTLCache(maxsize=REMEMBERED, ttl=EVERY_SECONDS)

    def note(self, user_id: str, provider_id: str, project: str) -> None:
        """A tool is about to use this token: write the time unless this process did within a minute."""
        connection_id = connection_id_of(user_id, provider_id, project)
        if connection_id in self._written:
            return
        self._written[connection_id] = True
        self._background.run(self.write(connection_id, self._clock()), name="tokens.last_use")

    async def write(self, connection_id: str, at: datetime) -> None:
        await self._touch(keys=[self._tokens.meta_key(connection_id)], args=[at.isoformat()])
