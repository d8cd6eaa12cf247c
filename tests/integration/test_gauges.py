"""The gauges /metrics samples at scrape time, read from a real Valkey and a real JetStream."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import nats
import pytest

from services.executor import metrics as executor_metrics
from services.token_refresher import metrics as refresher_metrics
from services.token_refresher.app import schedule_sampler
from services.webhooks import jetstream
from services.webhooks import metrics as webhook_metrics
from services.webhooks.adapters import DeadLetters
from services.webhooks.app import queue_sampler
from shared.bus import subjects
from shared.contracts.events import TokenRefreshed
from shared.runtime import gauges
from shared.runtime.crypto import Cipher, RootKey
from shared.runtime.infra import outbox_sampler
from shared.tokens.model import RefreshPolicy, StoredToken
from shared.tokens.store import TokenStore

pytestmark = pytest.mark.integration

CIPHER = Cipher([RootKey("k", "a-root-key-for-the-gauge-tests", default=True)])


@pytest.fixture
def store(redis):
    return TokenStore(redis, CIPHER, RefreshPolicy(), prefix=f"g{secrets.token_hex(4)}")


def value(gauge) -> float:
    return gauge._value.get()


async def test_the_outbox_gauges_count_waiting_events_and_the_age_of_the_oldest(store):
    a_minute_ago = datetime.now(UTC) - timedelta(seconds=60)
    for occurred in (a_minute_ago, datetime.now(UTC)):
        event = TokenRefreshed(user_id="u", provider_id="p", connection_id="c", occurred_at=occurred)
        await store.outbox.add_now(event)

    await outbox_sampler(store.outbox)()

    assert value(gauges.OUTBOX_DEPTH) == 2
    assert 59 <= value(gauges.OUTBOX_LAG) < 120


async def test_an_empty_outbox_has_no_lag(store):
    await outbox_sampler(store.outbox)()

    assert value(gauges.OUTBOX_DEPTH) == 0 and value(gauges.OUTBOX_LAG) == 0


async def test_the_schedule_gauges_show_its_depth_and_how_late_the_most_overdue_entry_is(store, redis):
    now = datetime.now(UTC).timestamp()
    await redis.zadd(store.schedule.due_key, {"c-late": now - 30, "c-later": now + 600, "c-soon": now + 5})

    await schedule_sampler(store.schedule)()

    assert value(refresher_metrics.SCHEDULE_DEPTH) == 3
    assert 29 <= value(refresher_metrics.SCHEDULE_LAG) < 90


async def test_the_reauthorization_gauge_counts_connections_whose_grant_is_dead(store):
    now = datetime.now(UTC)
    alive = StoredToken(access_token="a", refresh_token="r", issued_at=now, expires_at=now)
    dead = alive.model_copy(update={"status": "reauthorization_required"})
    for user, stored in [("u1", dead), ("u2", dead), ("u3", alive)]:
        await store.put(user, "p", stored)

    await schedule_sampler(store.schedule)()

    assert value(refresher_metrics.NEEDING_REAUTHORIZATION) == 2


async def test_the_webhook_gauges_count_the_work_queue_and_the_dead_letters(redis, nats_url):
    namespace = f"g{secrets.token_hex(4)}"
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        await jetstream.ensure_deliveries_stream(js)
        consumer = jetstream.delivery_consumer(namespace, ack_wait=30)
        await js.add_consumer(subjects.WEBHOOKS_STREAM, config=consumer)
        for _ in range(3):
            await js.publish(subjects.webhook_deliver_subject(namespace), b"{}")
        dead = DeadLetters(redis, prefix=namespace)
        await dead.add({"id": "d1", "dead_at": 1.0})

        await queue_sampler(js, consumer.durable_name or "", dead)()
    finally:
        await nc.close()

    assert value(webhook_metrics.QUEUE_DEPTH) == 3
    assert value(webhook_metrics.DEAD_LETTERS) == 1


async def test_a_failing_sampler_leaves_the_others_and_the_scrape_alone():
    async def broken() -> None:
        raise ConnectionError("redis is away")

    async def working() -> None:
        executor_metrics.WORKER_UP.labels("w1").set(1)

    await gauges.sample([broken, working])

    assert executor_metrics.WORKER_UP.labels("w1")._value.get() == 1
