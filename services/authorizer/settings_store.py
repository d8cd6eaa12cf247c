"""Redis keys of the session verification settings (services/authorizer/session_settings.py).

``<p>:settings:verification``: a hash, project -> its choice as JSON (no secret: a mode and a
URL). ``<p>:settings:verifier_test:<project>:<flow id>``: a verifier test flow's user, kept for
the state TTL and deleted by the ``confirm_user`` that uses it.
"""

from __future__ import annotations

import json
from typing import Any

from redis.asyncio import Redis


class RedisChoiceStore:
    def __init__(self, redis: Redis, *, prefix: str) -> None:
        self._redis = redis
        self._hash = f"{prefix}:settings:verification"
        self._tests = f"{prefix}:settings:verifier_test:"

    async def get(self, project: str) -> dict[str, Any] | None:
        raw = await self._redis.hget(self._hash, project)
        if raw is None:
            return None
        try:
            choice = json.loads(raw)
        except ValueError:
            return None
        return choice if isinstance(choice, dict) else None

    async def put(self, project: str, choice: dict[str, Any] | None) -> None:
        if choice is None:
            await self._redis.hdel(self._hash, project)
        else:
            await self._redis.hset(self._hash, project, json.dumps(choice))

    async def add_test(self, flow_id: str, project: str, user_id: str, ttl_seconds: int) -> None:
        await self._redis.set(f"{self._tests}{project}:{flow_id}", user_id, ex=ttl_seconds)

    async def take_test(self, flow_id: str, project: str) -> str | None:
        raw = await self._redis.getdel(f"{self._tests}{project}:{flow_id}")
        if raw is None:
            return None
        return raw.decode() if isinstance(raw, bytes) else str(raw)
