"""The outbox relay against real NATS (JetStream) and a real Redis-compatible server."""

from __future__ import annotations

import asyncio
import secrets

import nats
import pytest

from shared.bus import subjects
from shared.bus.messaging import ensure_streams
from shared.bus.outbox import Outbox, OutboxRelay
from shared.contracts.events import AuthorizationCompleted
from shared.runtime.redisio import create_redis

pytestmark = pytest.mark.integration


def _event(user: str) -> AuthorizationCompleted:
    return AuthorizationCompleted(user_id=user, provider_id="hooli", authorization_id="ac_1", scopes=[])


async def _until(check, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


class TestSendNow:
    async def test_committed_events_reach_subscribers_and_leave_the_outbox(self, nats_url, redis_url):
        redis, nc = create_redis(redis_url), await nats.connect(nats_url)
        js = nc.jetstream()
        await ensure_streams(js)
        outbox = Outbox(redis, prefix=f"ob{secrets.token_hex(3)}")
        relay = OutboxRelay(outbox, js)
        seen: list[bytes] = []

        async def record(msg) -> None:
            seen.append(msg.data)

        sub = await nc.subscribe(subjects.EVT_AUTHORIZATION_ALL, cb=record)
        try:
            event = _event("send-now")
            await outbox.add_now(event)
            relay.send_now([event])  # no drain runs: the relay was never started
            await _until(lambda: _true(len(seen) == 1))
            await _until(lambda: _empty(redis, outbox.key))
            assert event.event_id.encode() in seen[0]
        finally:
            await sub.unsubscribe()
            await nc.close()
            await redis.aclose()

    async def test_an_event_stays_in_the_outbox_until_nats_takes_it(self, own_nats, redis_url):
        redis, nc = create_redis(redis_url), await nats.connect(own_nats.url, max_reconnect_attempts=-1)
        js = nc.jetstream()
        await ensure_streams(js)
        outbox = Outbox(redis, prefix=f"ob{secrets.token_hex(3)}")
        relay = OutboxRelay(outbox, js)
        try:
            own_nats.kill()
            event = _event("nats-down")
            await outbox.add_now(event)
            relay.send_now([event])
            await asyncio.sleep(0.5)
            assert [e.event_id for e in await outbox.pending()] == [event.event_id]
            own_nats.start()
            await _until(lambda: _drained(relay), timeout=20)
            assert await outbox.pending() == []
        finally:
            await nc.close()
            await redis.aclose()


async def _true(value: bool) -> bool:
    return value


async def _empty(redis, key: str) -> bool:
    return await redis.hlen(key) == 0


async def _drained(relay: OutboxRelay) -> bool:
    try:
        await relay.drain()
    except Exception:
        return False
    return True
