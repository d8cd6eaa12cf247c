"""The outbox relay against real NATS (JetStream) and a real Redis-compatible server."""

from __future__ import annotations

import asyncio
import json
import secrets

import nats
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared.bus import subjects
from shared.bus.messaging import ensure_streams
from shared.bus.outbox import Outbox, OutboxRelay
from shared.contracts.events import AuthorizationCompleted
from shared.runtime import tracing
from shared.runtime.keyspace import Keyspace
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


@pytest.fixture
def traced(monkeypatch: pytest.MonkeyPatch) -> InMemorySpanExporter:
    """Tracing on for one test, spans kept in memory; the process's global provider is untouched."""
    exporter, provider = InMemorySpanExporter(), TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(tracing, "_enabled", True)
    monkeypatch.setattr(tracing.trace, "get_tracer", provider.get_tracer)
    return exporter


class TestTraceContext:
    async def test_an_event_drained_later_reaches_jetstream_with_the_traceparent_of_the_work_that_wrote_it(
        self, nats_url, redis_url, traced
    ):
        redis, nc = create_redis(redis_url), await nats.connect(nats_url)
        js = nc.jetstream()
        await ensure_streams(js)
        outbox = Outbox(redis, prefix=f"ob{secrets.token_hex(3)}")
        event = _event("traced")
        try:
            sub = await js.subscribe(event.subject, ordered_consumer=True)
            with tracing.span("authorization.callback") as work:
                await outbox.add_now(event)
            assert await OutboxRelay(outbox, js).drain() == 1  # a relay round, outside that work
            msg = await sub.next_msg(timeout=5)
            while json.loads(msg.data)["event_id"] != event.event_id:
                msg = await sub.next_msg(timeout=5)
        finally:
            await nc.close()
            await redis.aclose()
        trace_id = f"{work.get_span_context().trace_id:032x}"
        assert msg.headers is not None and msg.headers["traceparent"].split("-")[1] == trace_id
        assert "traceparent" not in json.loads(msg.data)


class TestShards:
    async def test_a_drain_publishes_every_shards_events_and_send_now_clears_each_from_its_shard(
        self, nats_url, redis_url
    ):
        redis, nc = create_redis(redis_url), await nats.connect(nats_url)
        js = nc.jetstream()
        await ensure_streams(js)
        outbox = Outbox(redis, keyspace=Keyspace(f"ob{secrets.token_hex(3)}", 4))
        relay = OutboxRelay(outbox, js)
        events = [_event(f"user-{i}") for i in range(8)]
        try:
            for event in events:
                await outbox.add_now(event)
            assert len({outbox.shard_of(e) for e in events}) > 1
            assert await outbox.depth() == 8
            assert await relay.drain() == 8
            assert await outbox.depth() == 0

            late = _event("late")
            await outbox.add_now(late)
            relay.send_now([late])
            await _until(lambda: _empty(redis, outbox.key_of(outbox.shard_of(late))))
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
