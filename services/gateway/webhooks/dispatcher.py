"""Fan-out and delivery: events become per-endpoint deliveries, deliveries become signed POSTs.

Two durable consumers, each shared by every gateway replica:

1. **fan-out** reads ``vk.events.>``; for each event it queues one delivery per subscribed
   endpoint on the deliveries work queue, and acks the event only once JetStream has
   stored all of them.
2. **delivery** reads the work queue; a 2xx acks, anything else NAKs with an exponential,
   jittered delay until the retry window is spent, then the delivery is written to the
   dead-letter list and acked.

An unacked message is redelivered after its ack wait, so a gateway killed at any point
loses nothing; receivers may see a delivery twice and dedupe by ``webhook-id``.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from nats.aio.msg import Msg
from nats.js import JetStreamContext

from services.gateway.webhooks import domain
from services.gateway.webhooks.sender import Outcome, Sender
from services.gateway.webhooks.store import DeadLetters, Endpoint, EndpointStore
from shared.config import WebhooksConfig
from shared.logging import get_logger

log = get_logger(__name__)

# A lane holds at most this many deliveries per allowed request; beyond it, deliveries are
# deferred (NAK with a short delay) so one slow receiver cannot fill the replica's slots.
LANE_DEPTH_FACTOR = 32
BUSY_DELAY_SECONDS = 1.0


@dataclass(frozen=True)
class Delivery:
    """One event for one endpoint: the body is fixed at fan-out, signatures are made per attempt."""

    endpoint_id: str
    event_id: str
    event_type: str
    body: str

    def encode(self) -> bytes:
        return json.dumps(self.__dict__).encode()

    @classmethod
    def decode(cls, data: bytes) -> Delivery:
        raw = json.loads(data)
        return cls(raw["endpoint_id"], raw["event_id"], raw["event_type"], raw["body"])


class DeliveryQueue:
    """Puts deliveries on the work queue; waits for JetStream's ack."""

    def __init__(self, js: JetStreamContext, subject: str) -> None:
        self._js = js
        self._subject = subject

    async def put(self, delivery: Delivery, *, msg_id: str) -> None:
        await self._js.publish(self._subject, delivery.encode(), headers={"Nats-Msg-Id": msg_id}, timeout=5)


class FanOut:
    """Turns each event into the deliveries of the endpoints subscribed to its type."""

    def __init__(self, store: EndpointStore, queue: DeliveryQueue) -> None:
        self._store = store
        self._queue = queue

    async def handle(self, msg: Msg) -> None:
        try:
            event = json.loads(msg.data)
            payload = domain.shape_payload(event)
        except (ValueError, KeyError, TypeError):
            log.warning("webhooks.event_unreadable", subject=msg.subject)
            await msg.ack()  # a malformed event will not get better by redelivery
            return
        try:
            await self._fan_out(payload)
        except Exception as exc:  # Redis or NATS away: the event is redelivered and fanned out again
            log.warning("webhooks.fanout_failed", event_id=payload["id"], error=repr(exc))
            await msg.nak(delay=1.0)
            return
        await msg.ack()

    async def _fan_out(self, payload: dict[str, Any]) -> None:
        event_type = payload["type"]
        targets = [
            e for e in await self._store.all() if e.enabled and domain.subscribes(e.events, event_type)
        ]
        body = json.dumps(payload, separators=(",", ":"))
        await asyncio.gather(
            *(
                self._queue.put(
                    Delivery(e.id, payload["id"], event_type, body), msg_id=f"{payload['id']}:{e.id}"
                )
                for e in targets
            )
        )


class Lanes:
    """Per-endpoint concurrency: a slow or dead receiver only ever uses its own slots."""

    def __init__(self, per_endpoint: int) -> None:
        self._limit = per_endpoint
        self._sems: dict[str, asyncio.Semaphore] = defaultdict(lambda: asyncio.Semaphore(per_endpoint))
        self._queued: dict[str, int] = defaultdict(int)

    def full(self, endpoint_id: str) -> bool:
        return self._queued[endpoint_id] >= self._limit * LANE_DEPTH_FACTOR

    async def run(self, endpoint_id: str, msg: Msg, heartbeat: float, work: Any) -> Any:
        """Wait for a slot (telling JetStream we are still on it), then run ``work()``."""
        self._queued[endpoint_id] += 1
        sem = self._sems[endpoint_id]
        try:
            while True:
                try:
                    await asyncio.wait_for(sem.acquire(), heartbeat)
                    break
                except TimeoutError:
                    await msg.in_progress()
        finally:
            self._queued[endpoint_id] -= 1
        try:
            return await work()
        finally:
            sem.release()


class Deliverer:
    """Attempts one delivery and decides: ack, retry later, or dead-letter."""

    def __init__(
        self,
        store: EndpointStore,
        dead: DeadLetters,
        sender: Sender,
        config: WebhooksConfig,
        *,
        ack_wait: float,
    ) -> None:
        self._store = store
        self._dead = dead
        self._sender = sender
        self._config = config
        self._heartbeat = ack_wait / 2
        self._lanes = Lanes(config.max_in_flight_per_endpoint)

    async def handle(self, msg: Msg) -> None:
        try:
            delivery = Delivery.decode(msg.data)
        except (ValueError, KeyError, TypeError):
            log.warning("webhooks.delivery_unreadable")
            await msg.ack()
            return
        try:
            endpoint = await self._store.get(delivery.endpoint_id)
        except Exception as exc:  # Redis away: try again shortly
            log.warning("webhooks.endpoint_lookup_failed", error=repr(exc))
            await msg.nak(delay=1.0)
            return
        if endpoint is None or not endpoint.enabled:
            log.info("webhooks.dropped", endpoint_id=delivery.endpoint_id, event_id=delivery.event_id)
            await msg.ack()
            return
        await self._attempt(msg, endpoint, delivery)

    async def _attempt(self, msg: Msg, endpoint: Endpoint, delivery: Delivery) -> None:
        if self._lanes.full(endpoint.id):
            await msg.nak(delay=BUSY_DELAY_SECONDS * (0.5 + random.random()))
            return

        async def send() -> Outcome:
            return await self._sender.send(endpoint, delivery.event_id, delivery.body.encode())

        outcome: Outcome = await self._lanes.run(endpoint.id, msg, self._heartbeat, send)
        if outcome.ok:
            await msg.ack()
            return
        await self._failed(msg, delivery, outcome)

    async def _failed(self, msg: Msg, delivery: Delivery, outcome: Outcome) -> None:
        meta = msg.metadata
        queued_at = meta.timestamp.timestamp()
        step = domain.after_failure(
            meta.num_delivered,
            time.time() - queued_at,
            window=self._config.retry_window_seconds,
            base=self._config.backoff_base_seconds,
            cap=self._config.backoff_max_seconds,
            rand=random.random,
        )
        fields = {"endpoint_id": delivery.endpoint_id, "event_id": delivery.event_id}
        if isinstance(step, domain.Retry):
            log.info(
                "webhooks.retry",
                **fields,
                attempt=meta.num_delivered,
                outcome=outcome.describe(),
                delay=round(step.delay, 2),
            )
            await msg.nak(delay=step.delay)
            return
        await self._dead.add(dead_letter(delivery, outcome, meta.num_delivered, queued_at))
        log.warning(
            "webhooks.dead_lettered", **fields, attempts=meta.num_delivered, outcome=outcome.describe()
        )
        await msg.ack()


def dead_letter(delivery: Delivery, outcome: Outcome, attempts: int, queued_at: float) -> dict[str, Any]:
    """The record an admin lists and replays."""
    return {
        "id": domain.delivery_key(delivery.event_id, delivery.endpoint_id),
        "endpoint_id": delivery.endpoint_id,
        "event_id": delivery.event_id,
        "event_type": delivery.event_type,
        "body": delivery.body,
        "attempts": attempts,
        "first_queued_at": queued_at,
        "dead_at": time.time(),
        "last_status": outcome.status,
        "last_error": outcome.error,
    }
