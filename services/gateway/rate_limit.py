"""``api.rate_limit``: ``limit`` requests per API key per window, counted in Redis (docs/config.md).

One fixed window per key (``<prefix>:ratelimit:<key digest>:<window>``), shared by every gateway
replica. Over the limit: 429 ``rate_limited`` in the error shape with ``Retry-After`` (seconds to
the next window). Requests without a key are not counted (they are refused anyway); one key's
count never slows another's. If Redis cannot be reached the request goes through (logged):
limiting guards the engine, it is no reason to stop serving.

The gateway keeps no other state in Redis and loads no Redis client unless this is configured
(``app.py`` imports this module only then); ``rate_limit.redis`` may name a Redis of its own.
"""

from __future__ import annotations

import hashlib
import math
import time

from redis.asyncio import Redis
from redis.exceptions import RedisError
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from services.gateway.errors import error_response
from shared.errors import RateLimited
from shared.runtime.logging import get_logger

log = get_logger(__name__)

# KEYS: the window's counter. ARGV: window length in ms. Returns the count and the ms left.
COUNT_SCRIPT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local left = redis.call('PTTL', KEYS[1])
if left < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); left = tonumber(ARGV[1]) end
return {count, left}
"""


def _key_of(scope: Scope) -> str | None:
    """The bearer key of the request, if any (checked for validity later, by the routes)."""
    value = Headers(scope=scope).get("authorization") or ""
    scheme, _, key = value.partition(" ")
    return key.strip() or None if scheme.lower() == "bearer" else None


class RateLimit:
    """``limit`` requests per API key per ``window_seconds``, shared through Redis."""

    def __init__(
        self, app: ASGIApp, *, redis: Redis, limit: int, window_seconds: int, prefix: str = "vk"
    ) -> None:
        self.app = app
        self._redis = redis
        self._limit = limit
        self._window = window_seconds
        self._prefix = prefix
        self._count = redis.register_script(COUNT_SCRIPT)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = _key_of(scope) if scope["type"] == "http" else None
        if key is not None and (wait := await self._over(key)) is not None:
            response = error_response(RateLimited(f"more than {self._limit} requests in {self._window} s"))
            response.headers["Retry-After"] = str(wait)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _over(self, key: str) -> int | None:
        """Seconds until the key's next window when it is over its limit, else None."""
        window = int(time.time()) // self._window
        digest = hashlib.sha256(key.encode()).hexdigest()[:24]
        counter = f"{self._prefix}:ratelimit:{digest}:{window}"
        try:
            count, left_ms = await self._count(keys=[counter], args=[self._window * 1000])
        except RedisError as exc:
            log.warning("rate_limit.unavailable", error=type(exc).__name__)
            return None
        if int(count) <= self._limit:
            return None
        return max(1, math.ceil(int(left_ms) / 1000))
