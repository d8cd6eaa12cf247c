"""A Redis behind Sentinel, named by a ``redis+sentinel://`` URL: the engine's client follows the
primary across a failover."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from shared.runtime.redisio import create_redis
from tests.support.cluster import LocalSentinel, local_sentinel

pytestmark = [pytest.mark.integration, pytest.mark.cluster]


@pytest.fixture
def sentinel(tmp_path) -> Iterator[LocalSentinel]:
    with local_sentinel(tmp_path) as running:
        yield running


async def test_the_client_finds_the_promoted_replica_after_the_primary_dies(sentinel):
    client = create_redis(sentinel.redis_url)
    try:
        for index in range(100):
            await client.set(f"vk:sentinel:{index}", index)
        assert await client.wait(1, 2000) == 1  # the replica holds every write before the kill
        sentinel.kill(sentinel.primary_port)
        await _until_writable(client)
        values = [int(await client.get(f"vk:sentinel:{index}")) for index in range(100)]
        assert values == list(range(100))
        info = await client.info("server")
        assert info["tcp_port"] == sentinel.replica_port
    finally:
        await client.aclose()


async def _until_writable(client) -> None:
    """Sentinel needs a moment to see the primary down and promote the replica."""
    for _ in range(300):
        try:
            await client.set("vk:sentinel:probe", 1)
            return
        except Exception:
            await asyncio.sleep(0.1)
    raise AssertionError("no primary accepted a write after the failover")
