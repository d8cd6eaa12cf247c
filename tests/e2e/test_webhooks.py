"""Webhooks end to end: the gateway and the webhooks service as real processes, real NATS and Redis,
a real receiver on loopback.

Events are produced the way services produce them: into the outbox and through the relay,
or published to JetStream with ``Nats-Msg-Id`` = event id (what the relay does).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time

import nats
import pytest

from services.webhooks.domain import new_secret
from shared.bus.outbox import Outbox, OutboxRelay
from shared.contracts.events import (
    ConnectionRevoked,
    TokenRefreshFailed,
    ToolExecutionCompleted,
)
from shared.runtime.redisio import create_redis
from tests.e2e.webhook_support import (
    FAST_RETRIES,
    SECRET,
    Received,
    Receiver,
    admin,
    always,
    completed,
    endpoint,
    fail_first,
    publish,
    until,
    webhook_engine,
)

pytestmark = pytest.mark.e2e


class TestSignedDelivery:
    async def test_events_from_the_outbox_arrive_signed_and_verify_with_standardwebhooks(
        self, tmp_path, nats_url, redis_url, receiver
    ):
        events = [
            completed(),
            TokenRefreshFailed(
                user_id="u1", provider_id="github", connection_id="c1", reason="invalid_grant"
            ),
            ToolExecutionCompleted(
                execution_id="te_1", tool_name="Github.Star", status="success", success=True
            ),
        ]
        hooks = [
            endpoint("all", receiver.url("/all")),
            endpoint("revoked", receiver.url("/revoked"), ["connection.revoked"]),
        ]
        async with webhook_engine(
            tmp_path, nats_url, redis_url, endpoints=hooks, allow_private_targets=True
        ) as engine:
            redis = create_redis(redis_url)
            outbox = Outbox(redis, prefix=engine.env["VALETKEY_KEY_PREFIX"])
            nc = await nats.connect(nats_url)
            for event in events:
                await outbox.add_now(event)
            await OutboxRelay(outbox, nc.jetstream()).drain()
            await nc.close()
            await redis.aclose()
            await until(lambda: len(receiver.on("/all")) == 3, what="three deliveries")
        got = {r.webhook_id: r for r in receiver.on("/all")}
        assert set(got) == {e.event_id for e in events}
        assert all(r.verifies_with(SECRET) for r in got.values())
        assert not any(r.verifies_with(new_secret()) for r in got.values())
        body = json.loads(got[events[0].event_id].body)
        assert body["type"] == "authorization.completed"
        assert body["data"] == {
            "user_id": "u1",
            "provider_id": "github",
            "authorization_id": "ac_1",
            "status": "completed",
            "scopes": ["repo"],
        }
        assert "token" not in json.dumps([json.loads(r.body) for r in got.values()]).replace("token.", "")
        assert receiver.on("/revoked") == []  # subscribed to another type only


class TestRetries:
    async def test_a_receiver_answering_500_is_retried_with_growing_gaps_until_it_accepts(
        self, tmp_path, nats_url, redis_url, receiver
    ):
        receiver.scripts["/flaky"] = fail_first(3)
        hooks = [endpoint("flaky", receiver.url("/flaky"))]
        async with webhook_engine(tmp_path, nats_url, redis_url, endpoints=hooks, **FAST_RETRIES) as engine:
            event = completed()
            await publish(nats_url, [event])
            await until(lambda: len(receiver.on("/flaky")) == 4, what="four attempts")
            await asyncio.sleep(1)
            dead = admin(engine, "GET", "/dead_letters").json()
        attempts = receiver.on("/flaky")
        assert len(attempts) == 4 and {a.webhook_id for a in attempts} == {event.event_id}
        assert all(a.verifies_with(SECRET) for a in attempts)
        gaps = [b.at - a.at for a, b in itertools.pairwise(attempts)]
        assert gaps[0] >= 0.09 and gaps[2] > gaps[0]  # base 0.2 s with jitter in [d/2, d], doubling
        assert dead["total_count"] == 0

    async def test_a_receiver_answering_429_with_retry_after_is_not_retried_sooner(
        self, tmp_path, nats_url, redis_url, receiver
    ):
        def busy_once(rec: Receiver, req: Received) -> tuple[int, dict[str, str]]:
            first = sum(1 for r in rec.on(req.path) if r.webhook_id == req.webhook_id) <= 1
            return (429, {"Retry-After": "2"}) if first else (200, {})

        receiver.scripts["/busy"] = busy_once
        hooks = [endpoint("busy", receiver.url("/busy"))]
        async with webhook_engine(tmp_path, nats_url, redis_url, endpoints=hooks, **FAST_RETRIES):
            await publish(nats_url, [completed()])
            await until(lambda: len(receiver.on("/busy")) == 2, what="the retry")
        first, second = receiver.on("/busy")
        assert second.at - first.at >= 2.0  # the backoff alone would be 0.1-0.2 s

    async def test_a_slow_receiver_does_not_hold_up_a_fast_one(self, tmp_path, nats_url, redis_url, receiver):
        receiver.delays["/slow"] = 3.0  # beyond the 1.5 s timeout: every attempt times out
        hooks = [endpoint("slow", receiver.url("/slow")), endpoint("fast", receiver.url("/fast"))]
        config = {**FAST_RETRIES, "retry_window_seconds": 30, "max_in_flight_per_endpoint": 2}
        async with webhook_engine(tmp_path, nats_url, redis_url, endpoints=hooks, **config):
            events = [completed(f"u{i}") for i in range(100)]
            started = time.monotonic()
            await publish(nats_url, events)
            await until(lambda: len(receiver.ids("/fast")) == 100, timeout=10, what="fast deliveries")
            elapsed = time.monotonic() - started
        assert elapsed < 3.0, f"fast endpoint took {elapsed:.1f}s next to a slow one"


class TestDeadLetters:
    async def test_failures_past_the_window_are_dead_lettered_and_replay_delivers_them(
        self, tmp_path, nats_url, redis_url, receiver
    ):
        receiver.scripts["/down"] = always(503)
        hooks = [endpoint("down", receiver.url("/down"))]
        async with webhook_engine(tmp_path, nats_url, redis_url, endpoints=hooks, **FAST_RETRIES) as engine:
            events = [completed("u1"), ConnectionRevoked(user_id="u2", connection_id="c2")]
            await publish(nats_url, events)

            def dead_count() -> int:
                return int(admin(engine, "GET", "/dead_letters").json()["total_count"])

            await until(lambda: dead_count() == 2, timeout=20, what="two dead letters")
            page = admin(engine, "GET", "/dead_letters", params={"limit": 1}).json()
            first = page["items"][0]
            assert page["page_count"] == 1 and page["total_count"] == 2
            assert first["endpoint_id"] == "down" and first["last_status"] == 503 and first["attempts"] >= 2
            assert first["payload"]["id"] in {e.event_id for e in events}
            attempts_before = len(receiver.on("/down"))
            await asyncio.sleep(1.0)
            assert len(receiver.on("/down")) == attempts_before  # no retries after dead-lettering

            receiver.scripts["/down"] = always(204)
            one = admin(engine, "POST", f"/dead_letters/{first['id']}/replay")
            assert one.status_code == 202 and one.json() == {"replayed": 1}
            await until(lambda: dead_count() == 1 and first["payload"]["id"] in receiver.accepted("/down"))
            rest = admin(engine, "POST", "/dead_letters/replay")
            assert rest.json() == {"replayed": 1}
            await until(lambda: receiver.accepted("/down") == {e.event_id for e in events})
            assert dead_count() == 0
            assert admin(engine, "POST", f"/dead_letters/{first['id']}/replay").status_code == 404

    async def test_a_redirect_is_not_followed_and_counts_as_a_failure(
        self, tmp_path, nats_url, redis_url, receiver
    ):
        receiver.scripts["/moved"] = always(302, {"location": receiver.url("/landing")})
        hooks = [endpoint("moved", receiver.url("/moved"))]
        async with webhook_engine(tmp_path, nats_url, redis_url, endpoints=hooks, **FAST_RETRIES) as engine:
            await publish(nats_url, [completed()])
            await until(
                lambda: admin(engine, "GET", "/dead_letters").json()["total_count"] == 1, what="dead letter"
            )
            dead = admin(engine, "GET", "/dead_letters").json()["items"][0]
        assert dead["last_status"] == 302
        assert receiver.on("/landing") == []
