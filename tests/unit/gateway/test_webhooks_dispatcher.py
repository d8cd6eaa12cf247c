"""What the delivery handler does with each outcome: ack, NAK with a backoff, or dead-letter."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from services.gateway.webhooks import domain
from services.gateway.webhooks.dispatcher import Deliverer, Delivery, FanOut
from services.gateway.webhooks.sender import Outcome
from services.gateway.webhooks.store import Endpoint
from shared.config import WebhooksConfig
from shared.contracts.events import ConnectionRevoked


@dataclass
class FakeMsg:
    data: bytes
    num_delivered: int = 1
    queued_seconds_ago: float = 0.0
    subject: str = "vk.events.x"
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
        self.sent: list[str] = []

    async def send(self, endpoint: Endpoint, msg_id: str, body: bytes) -> Outcome:
        self.sent.append(msg_id)
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
    return Deliverer(store, dead, sender, CONFIG, ack_wait=10), sender, dead  # type: ignore[arg-type]


def delivery_msg(**meta: Any) -> FakeMsg:
    return FakeMsg(Delivery("e1", "evt_1", "connection.revoked", '{"id":"evt_1"}').encode(), **meta)


class TestDeliver:
    async def test_a_2xx_is_acked(self):
        handler, sender, _ = deliverer(Outcome(status=204))
        msg = delivery_msg()
        await handler.handle(msg)
        assert msg.acts == ["ack"] and sender.sent == ["evt_1"]

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


class FakeQueue:
    def __init__(self) -> None:
        self.put_calls: list[tuple[Delivery, str]] = []

    async def put(self, delivery: Delivery, *, msg_id: str) -> None:
        self.put_calls.append((delivery, msg_id))


class TestFanOut:
    async def test_each_subscribed_enabled_endpoint_gets_one_delivery_with_a_dedupe_id(self):
        event = ConnectionRevoked(user_id="u1", connection_id="c1")
        store = FakeStore(hook("a"), hook("b", ["token.refreshed"]), hook("c", enabled=False), hook("d"))
        queue = FakeQueue()
        msg = FakeMsg(event.model_dump_json().encode())
        await FanOut(store, queue).handle(msg)  # type: ignore[arg-type]
        assert msg.acts == ["ack"]
        assert sorted(m for _, m in queue.put_calls) == [f"{event.event_id}:a", f"{event.event_id}:d"]
        body = json.loads(queue.put_calls[0][0].body)
        assert body["data"] == {"user_id": "u1", "connection_id": "c1", "status": "revoked"}

    async def test_an_unreadable_event_is_acked_and_skipped(self):
        msg = FakeMsg(b"not json")
        await FanOut(FakeStore(hook()), FakeQueue()).handle(msg)  # type: ignore[arg-type]
        assert msg.acts == ["ack"]
