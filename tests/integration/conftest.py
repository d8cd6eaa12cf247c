"""Fixtures of the integration layer: an async client of the session's Valkey."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from shared.runtime.redisio import create_redis


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    """The engine's own kind of client (``create_redis``) on the session's Valkey, closed after."""
    client = create_redis(redis_url)
    yield client
    await client.aclose()
