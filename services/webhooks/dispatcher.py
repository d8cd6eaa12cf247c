"""Fan-out and delivery: events become signed POSTs, and failed ones become queued retries.

Two durable consumers, each shared by every replica of the webhooks service:

1. **fan-out** reads ``vk.events.>``. For each endpoint subscribed to the event it makes the
   first attempt itself when the endpoint's lane has room now or soon (see ``lanes``);
   otherwise, and after a failed first attempt, it queues the delivery on the deliveries
   work queue. The event is acked only once every endpoint got it (a 2xx) or JetStream has
   stored its delivery, so one hop through JetStream is the common path and two the
   exception.
2. **delivery** reads the work queue; a 2xx acks, anything else NAKs with an exponential,
   jittered delay until the retry window is spent, then the delivery is written to the
   dead-letter list and acked.

An unacked message is redelivered after its ack wait, so a replica killed at any point
loses nothing; receivers may see a delivery twice and dedupe by ``webhook-id``.

With tracing on, the fan-out of an event is a consumer span in the trace its headers name
(the work that committed the event), each attempt a ``webhook.deliver`` span in it, and a
queued delivery carries that context in its own headers, so its retries join the trace too.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import Any

from nats.aio.msg import Msg

from services.webhooks import domain
from services.webhooks.domain import Delivery, Endpoint
from services.webhooks.lanes import Lanes
from services.webhooks.metrics import DELIVERIES
from services.webhooks.ports import AttemptLog, Counter, DeadLetterList, Queue, Send, Store
from services.webhooks.sender import Outcome
from shared.contracts.common import DEFAULT_PROJECT
from shared.runtime import tracing
from shared.runtime.config import WebhooksConfig
from shared.runtime.logging import get_logger

log = get_logger(__name__)

# A delivery that finds its lane crowded comes back after about this long.
BUSY_DELAY_SECONDS = 1.0
DELIVER_SPAN = "webhook.deliver"


def _attempt_span(delivery: Delivery) -> AbstractContextManager[Any]:
    """The span of one attempt (ids and type only: the body and the URL stay out); with
    tracing off, nothing, not even its attributes."""
    if not tracing.enabled():
        return tracing.OFF
    return tracing.span(
        DELIVER_SPAN,
        **{
            "valetkey.webhook.endpoint_id": delivery.endpoint_id,
            "valetkey.event_id": delivery.event_id,
            "valetkey.event_type": delivery.event_type,
        },
    )


def _outcome_on(span: Any, outcome: Outcome) -> None:
    if span is not None and not outcome.ok:
        tracing.mark_failed(span, "webhook_delivery_failed")


def _delivered(delivery: Delivery, outcome: Outcome, *, attempt: int) -> None:
    """The one line per delivered webhook (ids and status only; the body is never logged)."""
    DELIVERIES.labels(delivery.endpoint_id, "delivered").inc()
    log.info(
        "webhooks.delivered",
        endpoint_id=delivery.endpoint_id,
        event_id=delivery.event_id,
        event_type=delivery.event_type,
        status=outcome.status,
        attempt=attempt,
    )


class Failures:
    """After a failed attempt, on either path: a retry after a backoff, or a dead letter."""

    def __init__(self, dead: DeadLetterList, config: WebhooksConfig) -> None:
        self._dead = dead
        self._config = config

    async def settle(
        self, delivery: Delivery, outcome: Outcome, *, attempt: int, since: float
    ) -> float | None:
        """Seconds until the next attempt, or None once the delivery is dead-lettered."""
        step = domain.after_failure(
            attempt,
            time.time() - since,
            window=self._config.retry_window_seconds,
            base=self._config.backoff_base_seconds,
            cap=self._config.backoff_max_seconds,
            rand=random.random,
            retry_after=outcome.retry_after,
        )
        fields = {"endpoint_id": delivery.endpoint_id, "event_id": delivery.event_id}
        if isinstance(step, domain.Retry):
            DELIVERIES.labels(delivery.endpoint_id, "retrying").inc()
            log.info(
                "webhooks.retry",
                **fields,
                attempt=attempt,
                outcome=outcome.describe(),
                delay=round(step.delay, 2),
            )
            return step.delay
        await self._dead.add(dead_letter(delivery, outcome, attempt, since))
        DELIVERIES.labels(delivery.endpoint_id, "dead_lettered").inc()
        log.warning("webhooks.dead_lettered", **fields, attempts=attempt, outcome=outcome.describe())
        return None


class FanOut:
    """Turns each event into a first attempt per subscribed endpoint, or a queued delivery."""

    def __init__(
        self,
        store: Store,
        queue: Queue,
        lanes: Lanes,
        sender: Send,
        failures: Failures,
        counter: Counter | None = None,
        attempts: AttemptLog | None = None,
    ) -> None:
        self._counter = counter
        self._attempts = attempts
        self._store = store
        self._queue = queue
        self._lanes = lanes
        self._sender = sender
        self._failures = failures

    async def handle(self, msg: Msg) -> None:
        with tracing.nats_consume(msg.subject, msg.headers):
            await self._handle(msg)

    async def _handle(self, msg: Msg) -> None:
        try:
            event = json.loads(msg.data)
            payload = domain.shape_payload(event)
        except (ValueError, KeyError, TypeError):
            log.warning("webhooks.event_unreadable", subject=msg.subject)
            await msg.ack()  # a malformed event will not get better by redelivery
            return
        project = str(event.get("project") or DEFAULT_PROJECT)
        try:
            await self._fan_out(payload, project)
        except Exception as exc:  # Redis or NATS away: the event is redelivered and fanned out again
            log.warning("webhooks.fanout_failed", event_id=payload["id"], error=repr(exc))
            await msg.nak(delay=1.0)
            return
        if self._counter is not None:
            await self._counter.record(project, payload)
        await msg.ack()

    async def _fan_out(self, payload: dict[str, Any], project: str) -> None:
        event_type = payload["type"]
        targets = [
            e
            for e in await self._store.all()
            if e.enabled and e.project == project and domain.subscribes(e.events, event_type)
        ]
        body = json.dumps(payload, separators=(",", ":"))
        raw = body.encode()
        firsts = [self._first(e, Delivery(e.id, payload["id"], event_type, body), raw) for e in targets]
        if len(firsts) == 1:
            await firsts[0]  # the common case, without a task per endpoint
            return
        results = await asyncio.gather(*firsts, return_exceptions=True)
        # Every attempt has ended before the event is given back: no request outlives its event.
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed:
            raise failed[0]

    async def _first(self, endpoint: Endpoint, delivery: Delivery, body: bytes) -> None:
        with _attempt_span(delivery) as span:
            await self._try_first(endpoint, delivery, body, span)

    async def _try_first(self, endpoint: Endpoint, delivery: Delivery, body: bytes, span: Any) -> None:
        if not await self._lanes.take(endpoint.id):
            await self._queue.put(delivery)
            return

        async def send() -> Outcome:
            return await self._sender.send(endpoint, delivery.event_id, body)

        outcome = await self._lanes.run(endpoint.id, send)
        _outcome_on(span, outcome)
        if self._attempts is not None:
            self._attempts.note(endpoint.project, delivery, outcome, attempt=1)
        if outcome.ok:
            _delivered(delivery, outcome, attempt=1)
            return
        now = time.time()
        delay = await self._failures.settle(delivery, outcome, attempt=1, since=now)
        if delay is not None:
            await self._queue.put(replace(delivery, tried=1, first_tried_at=now, retry_at=now + delay))


class Deliverer:
    """Attempts one queued delivery and decides: ack, retry later, or dead-letter."""

    def __init__(
        self,
        store: Store,
        lanes: Lanes,
        sender: Send,
        failures: Failures,
        *,
        ack_wait: float,
        attempts: AttemptLog | None = None,
    ) -> None:
        self._attempts = attempts
        self._store = store
        self._lanes = lanes
        self._sender = sender
        self._failures = failures
        self._heartbeat = ack_wait / 2

    async def handle(self, msg: Msg) -> None:
        try:
            delivery = Delivery.decode(msg.data)
        except (ValueError, KeyError, TypeError):
            log.warning("webhooks.delivery_unreadable")
            await msg.ack()
            return
        if delivery.tried and (msg.metadata.num_delivered == 1 or delivery.retry_at > time.time()):
            # Its first receipt stands for the attempt the fan-out made: wait for the retry time.
            await msg.nak(delay=max(0.0, delivery.retry_at - time.time()))
            return
        with tracing.nats_consume(msg.subject, msg.headers), _attempt_span(delivery) as span:
            await self._deliver(msg, delivery, span)

    async def _deliver(self, msg: Msg, delivery: Delivery, span: Any) -> None:
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
        await self._attempt(msg, endpoint, delivery, span)

    async def _attempt(self, msg: Msg, endpoint: Endpoint, delivery: Delivery, span: Any) -> None:
        if self._lanes.crowded(endpoint.id):
            await msg.nak(delay=BUSY_DELAY_SECONDS * (0.5 + random.random()))
            return

        async def send() -> Outcome:
            return await self._sender.send(endpoint, delivery.event_id, delivery.body.encode())

        await self._lanes.wait(endpoint.id, beat=msg.in_progress, every=self._heartbeat)
        outcome = await self._lanes.run(endpoint.id, send)
        _outcome_on(span, outcome)
        meta = msg.metadata
        # A delivery the fan-out tried was deferred once on arrival (see handle).
        attempt = delivery.tried + meta.num_delivered - (1 if delivery.tried else 0)
        if self._attempts is not None:
            self._attempts.note(endpoint.project, delivery, outcome, attempt=attempt)
        if outcome.ok:
            await msg.ack()
            _delivered(delivery, outcome, attempt=attempt)
            return
        since = delivery.first_tried_at or meta.timestamp.timestamp()
        delay = await self._failures.settle(delivery, outcome, attempt=attempt, since=since)
        if delay is None:
            await msg.ack()
        else:
            await msg.nak(delay=delay)


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
