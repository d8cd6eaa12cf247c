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


class RateCounter:
    """Fixed windows counted in Redis: ``<prefix>:ratelimit:<what>:<window>``."""

    def __init__(self, redis: Redis, *, prefix: str) -> None:
        self._prefix = prefix
        self._count = redis.register_script(COUNT_SCRIPT)

    async def refuse(self, what: str, limit: int, window_seconds: int) -> None:
        """Count one request for ``what``.

        Raises:
            RateLimited: ``what`` is over ``limit`` in this window (with the seconds to the next).
        """
        counter = f"{self._prefix}:ratelimit:{what}:{int(time.time()) // window_seconds}"
        try:
            count, left_ms = await self._count(keys=[counter], args=[window_seconds * 1000])
        except RedisError as exc:
            log.warning("rate_limit.unavailable", error=type(exc).__name__)
            return
        if int(count) > limit:
            wait = max(1, math.ceil(int(left_ms) / 1000))
            raise RateLimited(f"more than {limit} requests in {window_seconds} s", retry_after=wait)


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:24]


class RateLimit:
    """``limit`` requests per API key per ``window_seconds``, shared through Redis."""

    def __init__(self, app: ASGIApp, *, counter: RateCounter, limit: int, window_seconds: int) -> None:
        self.app = app
        self._counter = counter
        self._limit = limit
        self._window = window_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = _key_of(scope) if scope["type"] == "http" else None
        if key is not None:
            try:
                await self._counter.refuse(_digest(key), self._limit, self._window)
            except RateLimited as exc:
                await error_response(exc)(scope, receive, send)
                return
        await self.app(scope, receive, send)


class UserLimit:
    """``user_limit`` requests per user of a project per window, checked where a route reads the
    user id (starting an authorization, a tool's authorization or run)."""

    def __init__(self, counter: RateCounter, *, limit: int, window_seconds: int) -> None:
        self._counter = counter
        self._limit = limit
        self._window = window_seconds

    async def check(self, project: str, user_id: str | None) -> None:
        """Count one request for the user.

        Raises:
            RateLimited: The user is over the limit in this window.
        """
        if user_id:
            await self._counter.refuse(f"u:{_digest(project, user_id)}", self._limit, self._window)
