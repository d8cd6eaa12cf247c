"""The lean GET of the token read (shared/runtime/held_reads.py) on a real Valkey: it reads what the
ordinary client reads, holds no more connections than it may, and rides out a dropped connection."""

from __future__ import annotations

import asyncio
import secrets

import pytest

from shared.runtime.held_reads import HeldReads

pytestmark = pytest.mark.integration


@pytest.fixture
def key() -> str:
    return f"held-reads-{secrets.token_hex(6)}"


async def test_a_read_gives_the_value_or_none_as_the_client_does(redis, key):
    reads = HeldReads(redis)
    await redis.set(key, b"\x00token\xff", ex=60)
    assert [await reads.get(key), await reads.get(key + "-absent")] == [b"\x00token\xff", None]


async def test_concurrent_reads_keep_at_most_the_held_connections_out_of_the_pool(redis, key):
    reads = HeldReads(redis, held=2)
    await redis.set(key, b"v", ex=60)
    values = await asyncio.gather(*(reads.get(key) for _ in range(20)))
    pool = redis.connection_pool
    assert values == [b"v"] * 20
    assert len(pool._in_use_connections) == 2  # the two held; every other went back


async def test_a_held_connection_killed_by_the_server_is_replaced_and_the_read_answers(redis, key):
    reads = HeldReads(redis)
    await redis.set(key, b"v", ex=60)
    assert await reads.get(key) == b"v"
    await redis.execute_command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
    assert await reads.get(key) == b"v"
    assert await reads.get(key) == b"v"


async def test_a_client_on_another_pool_reads_the_ordinary_way(redis, key):
    class Other:
        connection_pool = object()

        async def get(self, name: str) -> bytes:
            return b"ordinary " + name.encode()

    assert await HeldReads(Other()).get(key) == b"ordinary " + key.encode()  # type: ignore[arg-type]


async def test_a_script_runs_on_a_held_connection_and_again_the_ordinary_way_once_the_server_forgot_it(
    redis, key
):
    reads = HeldReads(redis)
    script = redis.register_script("return redis.call('INCRBY', KEYS[1], ARGV[1])")
    assert await reads.run(script, [key], [2]) == 2  # unknown to the server: loaded the ordinary way
    assert await reads.run(script, [key], [3]) == 5
    await redis.script_flush()
    assert await reads.run(script, [key], [4]) == 9
