"""At-least-once under failure: a burst of 1,000 events survives the webhooks service's SIGKILL and a NATS
restart.

Receivers dedupe by ``webhook-id`` (the event id), so the promise checked here is: every
event id arrives, every request carries a valid signature; duplicates are allowed.
"""

from __future__ import annotations

import asyncio
import signal

import pytest

from tests.e2e.webhook_support import (
    SECRET,
    Receiver,
    completed,
    endpoint,
    publish,
    start_services,
    until,
    webhook_engine,
)

pytestmark = pytest.mark.e2e

BURST = 1000
CONFIG = {
    "allow_private_targets": True,
    "timeout_seconds": 2,
    "retry_window_seconds": 120,
    "backoff_base_seconds": 0.2,
    "backoff_max_seconds": 2,
}


async def publish_paced(nats_url: str, events: list, chunk: int = 50) -> None:
    """A burst spread over a second or so, so the failure lands in the middle of it."""
    for start in range(0, len(events), chunk):
        await publish(nats_url, events[start : start + chunk])
        await asyncio.sleep(0.03)


def assert_all_delivered_and_signed(receiver: Receiver, path: str, events: list) -> None:
    got = receiver.on(path)
    assert {r.webhook_id for r in got} == {e.event_id for e in events}
    unsigned = [r.webhook_id for r in got if not r.verifies_with(SECRET)]
    assert unsigned == []
    print(f"\n{len(got)} requests for {len(events)} events ({len(got) - len(events)} duplicates)")


class TestWebhooksServiceKilled:
    async def test_no_event_is_lost_or_unsigned_when_the_webhooks_service_is_killed_mid_burst(
        self, tmp_path, nats_url, redis_url, receiver
    ):
        hooks = [endpoint("burst", receiver.url("/burst"))]
        async with webhook_engine(tmp_path, nats_url, redis_url, endpoints=hooks, **CONFIG) as engine:
            events = [completed(f"u{i}") for i in range(BURST)]
            publishing = asyncio.create_task(publish_paced(nats_url, events))
            await until(lambda: len(receiver.ids("/burst")) >= 100, what="the burst to start arriving")
            engine.stop_service("webhooks", signal.SIGKILL)
            at_kill = len(receiver.ids("/burst"))
            await publishing  # the rest of the burst lands while no webhooks service runs
            start_services(engine, "webhooks")
            await until(lambda: len(receiver.ids("/burst")) == BURST, timeout=60, what="every event id")
        assert at_kill < BURST
        assert_all_delivered_and_signed(receiver, "/burst", events)


class TestNatsRestarted:
    async def test_pending_deliveries_survive_a_nats_kill_and_restart(
        self, tmp_path, own_nats, redis_url, receiver
    ):
        receiver.delays["/burst"] = 0.01  # slow enough that the kill lands mid-delivery
        hooks = [endpoint("burst", receiver.url("/burst"))]
        async with webhook_engine(tmp_path, own_nats.url, redis_url, endpoints=hooks, **CONFIG) as engine:
            events = [completed(f"u{i}") for i in range(BURST)]
            await publish(own_nats.url, events)
            await until(lambda: len(receiver.ids("/burst")) >= 100, what="the burst to start arriving")
            own_nats.kill()
            at_kill = len(receiver.ids("/burst"))
            await asyncio.sleep(1.0)
            own_nats.start()
            await until(lambda: len(receiver.ids("/burst")) == BURST, timeout=90, what="every event id")
            assert engine.procs["webhooks"].poll() is None
        assert at_kill < BURST
        assert_all_delivered_and_signed(receiver, "/burst", events)
