"""What fan-out and delivery do with each outcome: ack, queue or NAK with a backoff, or dead-letter."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import pytest
from prometheus_client import REGISTRY

from services.webhooks import domain
from services.webhooks.dispatcher import Deliverer, Failures, FanOut
from services.webhooks.domain import Delivery, Endpoint
from services.webhooks.lanes import Lanes
from services.webhooks.sender import Outcome
from shared.contracts.events import ConnectionRevoked
from shared.runtime.config import WebhooksConfig


@dataclass
class FakeMsg:
    data: bytes
    num_delivered: int = 1
    queued_seconds_ago: float = 0.0
    subject: str = "vk.events.x"
    headers: dict[str, str] | None = None
    acts: list[Any] = field(default_factory=list)

    @property
    def metadata(self) -> Any:
        queued = datetime.fromtimestamp(time.time() - self.queued_seconds_ago, UTC)
        return type("Meta", (), {"num_delivered": self.num_delivered, "timestamp": queued})()

    async def ack(self) -> None:
        self.acts.append("ack")

    async def nak(self, delay: float | None = None) -> None:
        self.acts.append(("nak", delay))

    async def in_progress(self) -> None:
        self.acts.append("in_progress")


class FakeStore:
    def __init__(self, *endpoints: Endpoint) -> None:
        self.endpoints = list(endpoints)

    async def all(self) -> list[Endpoint]:
        return self.endpoints

    async def get(self, endpoint_id: str) -> Endpoint | None:
        return next((e for e in self.endpoints if e.id == endpoint_id), None)


class FakeSender:
    def __init__(self, outcome: Outcome) -> None:
        self.outcome = outcome
        self.sent: list[tuple[str, str]] = []

    async def send(self, endpoint: Endpoint, msg_id: str, body: bytes) -> Outcome:
        self.sent.append((endpoint.id, msg_id))
        return self.outcome


class FakeDead:
    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    async def add(self, record: dict[str, Any]) -> None:
        self.records.append(record)


def hook(id_: str = "e1", events: list[str] | None = None, enabled: bool = True) -> Endpoint:
    return Endpoint(id_, "http://127.0.0.1:9/", events or ["*"], enabled, "api", (b"k" * 32,))


CONFIG = WebhooksConfig(retry_window_seconds=60, backoff_base_seconds=1, backoff_max_seconds=30)


def deliverer(outcome: Outcome, *endpoints: Endpoint) -> tuple[Deliverer, FakeSender, FakeDead]:
    sender, dead = FakeSender(outcome), FakeDead()
    store = FakeStore(*(endpoints or (hook(),)))
    return Deliverer(store, Lanes(4), sender, Failures(dead, CONFIG), ack_wait=10), sender, dead


DELIVERY = Delivery("e1", "evt_1", "connection.revoked", '{"id":"evt_1"}')


def delivery_msg(delivery: Delivery = DELIVERY, **meta: Any) -> FakeMsg:
    return FakeMsg(delivery.encode(), **meta)


class TestDeliver:
    async def test_a_2xx_is_acked(self):
        handler, sender, _ = deliverer(Outcome(status=204))
        msg = delivery_msg()
        await handler.handle(msg)
        assert msg.acts == ["ack"] and sender.sent == [("e1", "evt_1")]

    async def test_a_failure_inside_the_window_is_naked_with_a_backoff(self):
        handler, _, dead = deliverer(Outcome(status=500))
        msg = delivery_msg(num_delivered=3)
        await handler.handle(msg)
        [(action, delay)] = msg.acts
        assert action == "nak" and 2.0 <= delay <= 4.0
        assert dead.records == []

    async def test_a_failure_past_the_window_is_dead_lettered_then_acked(self):
        handler, _, dead = deliverer(Outcome(error="ConnectError"))
        msg = delivery_msg(num_delivered=7, queued_seconds_ago=59)
        await handler.handle(msg)
        assert msg.acts == ["ack"]
        [record] = dead.records
        assert record["id"] == domain.delivery_key("evt_1", "e1")
        assert record["attempts"] == 7 and record["last_error"] == "ConnectError"

    async def test_deliveries_to_deleted_or_disabled_endpoints_are_dropped(self):
        handler, sender, _ = deliverer(Outcome(status=200), hook(enabled=False))
        msg = delivery_msg()
        await handler.handle(msg)
        assert msg.acts == ["ack"] and sender.sent == []

    async def test_a_delivery_the_fan_out_tried_waits_on_arrival_until_its_retry_time(self):
        handler, sender, _ = deliverer(Outcome(status=204))
        tried = replace(DELIVERY, tried=1, first_tried_at=time.time(), retry_at=time.time() + 2)
        msg = delivery_msg(tried)
        await handler.handle(msg)
        [(action, delay)] = msg.acts
        assert action == "nak" and 1.5 < delay <= 2 and sender.sent == []

    async def test_attempts_the_fan_out_made_count_toward_the_backoff_and_the_record(self):
        handler, _, dead = deliverer(Outcome(status=500))
        first = time.time() - 59
        tried = replace(DELIVERY, tried=1, first_tried_at=first, retry_at=first + 1)
        msg = delivery_msg(tried, num_delivered=3)  # arrival (deferred), then attempts 2 and 3
        await handler.handle(msg)
        [record] = dead.records
        assert msg.acts == ["ack"]
        assert record["attempts"] == 3 and record["first_queued_at"] == first

    async def test_an_old_style_queued_delivery_still_decodes(self):
        old = json.dumps({"endpoint_id": "e1", "event_id": "evt_1", "event_type": "t", "body": "{}"})
        assert Delivery.decode(old.encode()) == Delivery("e1", "evt_1", "t", "{}")


class FakeQueue:
    def __init__(self, fails: bool = False) -> None:
        self.fails = fails
        self.put_calls: list[tuple[Delivery, str]] = []

    async def put(self, delivery: Delivery, *, msg_id: str | None = None) -> None:
        if self.fails:
            raise TimeoutError("nats: timeout")
        self.put_calls.append((delivery, msg_id or delivery.queue_id))


class StalledLanes(Lanes):
    """Lanes whose every slot is taken by requests that never end."""

    async def take(self, endpoint_id: str) -> bool:
        return False


def fan_out(
    outcome: Outcome, *endpoints: Endpoint, queue: FakeQueue | None = None, lanes: Lanes | None = None
) -> tuple[FanOut, FakeSender, FakeQueue, FakeDead]:
    sender, dead, queue = FakeSender(outcome), FakeDead(), queue or FakeQueue()
    store = FakeStore(*(endpoints or (hook(),)))
    return FanOut(store, queue, lanes or Lanes(4), sender, Failures(dead, CONFIG)), sender, queue, dead


def event_msg() -> tuple[ConnectionRevoked, FakeMsg]:
    event = ConnectionRevoked(user_id="u1", connection_id="c1")
    return event, FakeMsg(event.model_dump_json().encode())


class TestFanOut:
    async def test_each_subscribed_enabled_endpoint_gets_one_first_attempt(self):
        endpoints = hook("a"), hook("b", ["token.refreshed"]), hook("c", enabled=False), hook("d")
        handler, sender, queue, _ = fan_out(Outcome(status=204), *endpoints)
        event, msg = event_msg()
        await handler.handle(msg)  # type: ignore[arg-type]
        assert msg.acts == ["ack"] and queue.put_calls == []
        assert sorted(sender.sent) == [("a", event.event_id), ("d", event.event_id)]

    async def test_an_event_goes_only_to_its_own_projects_endpoints(self):
        endpoints = hook("of-default"), replace(hook("of-a"), project="a"), replace(hook("of-b"), project="b")
        handler, sender, _, _ = fan_out(Outcome(status=204), *endpoints)
        event = ConnectionRevoked(user_id="u1", connection_id="c1", project="a")
        msg = FakeMsg(event.model_dump_json().encode())
        await handler.handle(msg)  # type: ignore[arg-type]
        assert sender.sent == [("of-a", event.event_id)]

    async def test_a_failed_first_attempt_is_queued_with_its_attempt_and_retry_time(self):
        handler, _, queue, dead = fan_out(Outcome(status=503))
        event, msg = event_msg()
        before = time.time()
        await handler.handle(msg)  # type: ignore[arg-type]
        [(delivery, msg_id)] = queue.put_calls
        assert msg.acts == ["ack"] and dead.records == []
        assert msg_id == f"{event.event_id}:e1" and delivery.tried == 1
        assert delivery.first_tried_at is not None and before <= delivery.first_tried_at
        assert 0.5 <= delivery.retry_at - delivery.first_tried_at <= 1.0  # base 1 s, jitter [d/2, d]
        assert json.loads(delivery.body)["data"] == {
            "user_id": "u1",
            "connection_id": "c1",
            "status": "revoked",
        }

    async def test_a_receiver_that_asks_to_wait_gets_its_retry_no_sooner(self):
        handler, _, queue, _ = fan_out(Outcome(status=429, retry_after=45.0))  # backoff alone: <= 1 s
        _, msg = event_msg()
        await handler.handle(msg)  # type: ignore[arg-type]
        [(delivery, _)] = queue.put_calls
        assert delivery.retry_at - delivery.first_tried_at == pytest.approx(45.0)

    async def test_an_endpoint_whose_lane_has_no_room_soon_gets_its_delivery_queued_untried(self):
        handler, sender, queue, _ = fan_out(Outcome(status=204), lanes=StalledLanes(4))
        _, msg = event_msg()
        await handler.handle(msg)  # type: ignore[arg-type]
        [(delivery, _)] = queue.put_calls
        assert msg.acts == ["ack"] and sender.sent == [] and delivery.tried == 0

    async def test_a_first_failure_with_no_time_left_in_the_window_is_dead_lettered(self):
        sender, dead, queue = FakeSender(Outcome(status=500)), FakeDead(), FakeQueue()
        tight = WebhooksConfig(retry_window_seconds=0.1, backoff_base_seconds=1, backoff_max_seconds=1)
        handler = FanOut(FakeStore(hook()), queue, Lanes(4), sender, Failures(dead, tight))
        _, msg = event_msg()
        await handler.handle(msg)  # type: ignore[arg-type]
        [record] = dead.records
        assert msg.acts == ["ack"] and queue.put_calls == []
        assert record["attempts"] == 1 and record["last_status"] == 500

    async def test_an_event_whose_delivery_cannot_be_queued_is_given_back_for_later(self):
        handler, _, _, _ = fan_out(Outcome(status=500), hook("a"), hook("b"), queue=FakeQueue(fails=True))
        _, msg = event_msg()
        await handler.handle(msg)  # type: ignore[arg-type]
        assert msg.acts == [("nak", 1.0)]

    async def test_an_unreadable_event_is_acked_and_skipped(self):
        handler, sender, _, _ = fan_out(Outcome(status=204))
        msg = FakeMsg(b"not json")
        await handler.handle(msg)  # type: ignore[arg-type]
        assert msg.acts == ["ack"] and sender.sent == []


def _deliveries(endpoint: str, outcome: str) -> float:
    value = REGISTRY.get_sample_value(
        "valetkey_webhook_deliveries_total", {"endpoint": endpoint, "outcome": outcome}
    )
    return value or 0.0


class TestDeliveryMetrics:
    @pytest.mark.parametrize(
        ("outcome", "meta", "counted"),
        [
            (Outcome(status=204), {}, "delivered"),
            (Outcome(status=500), {"num_delivered": 3}, "retrying"),
            (Outcome(error="ConnectError"), {"num_delivered": 7, "queued_seconds_ago": 59}, "dead_lettered"),
        ],
    )
    async def test_each_attempt_is_counted_by_endpoint_and_outcome(self, outcome, meta, counted):
        endpoint = f"metrics-{counted}"
        handler, _, _ = deliverer(outcome, hook(endpoint))
        before = _deliveries(endpoint, counted)
        await handler.handle(delivery_msg(replace(DELIVERY, endpoint_id=endpoint), **meta))
        assert _deliveries(endpoint, counted) == before + 1


class NotedAttempts:
    def __init__(self) -> None:
        self.notes: list[tuple[str, str, int | None, int]] = []

    def note(self, project: str, delivery: Delivery, outcome: Outcome, *, attempt: int) -> None:
        self.notes.append((project, delivery.endpoint_id, outcome.status, attempt))


class TestAttemptsNotedForTheConsole:
    async def test_the_fan_outs_first_attempt_and_a_queued_retry_are_each_noted_with_their_number(self):
        noted = NotedAttempts()
        sender, dead, queue = FakeSender(Outcome(status=503)), FakeDead(), FakeQueue()
        fanning = FanOut(FakeStore(hook()), queue, Lanes(4), sender, Failures(dead, CONFIG), attempts=noted)
        await fanning.handle(event_msg()[1])  # type: ignore[arg-type]
        handler = Deliverer(
            FakeStore(hook()),
            Lanes(4),
            FakeSender(Outcome(status=204)),
            Failures(dead, CONFIG),
            ack_wait=10,
            attempts=noted,
        )
        await handler.handle(delivery_msg(num_delivered=2))
        assert noted.notes == [("default", "e1", 503, 1), ("default", "e1", 204, 2)]
