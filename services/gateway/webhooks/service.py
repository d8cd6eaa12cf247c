"""The webhooks component of the gateway: built with the app, started and stopped by its lifespan."""

from __future__ import annotations

import secrets

from nats.aio.client import Client as NatsClient

from services.gateway.webhooks import jetstream
from services.gateway.webhooks.dispatcher import (
    QUEUE_TIMEOUT_SECONDS,
    Deliverer,
    Delivery,
    DeliveryQueue,
    Failures,
    FanOut,
)
from services.gateway.webhooks.lanes import MAX_FIRST_WAIT_SECONDS, Lanes
from services.gateway.webhooks.sender import Resolver, Sender, system_resolver
from services.gateway.webhooks.store import DeadLetters, EndpointStore
from shared import subjects
from shared.errors import ServiceUnavailable
from shared.logging import get_logger
from shared.messaging import ensure_streams
from shared.redisio import create_redis
from shared.settings import Settings

log = get_logger(__name__)

# Messages one replica holds at once, per consumer.
FANOUT_IN_FLIGHT = 256
DELIVERY_IN_FLIGHT = 4096
STOP_GRACE_SECONDS = 3.0


class Webhooks:
    """Endpoints, dead letters and the two JetStream loops of one gateway replica.

    Args:
        settings: The engine settings (``webhooks`` section, Redis URL, key prefix, root keys).
        resolver: Host name to addresses (tests inject one).
    """

    def __init__(self, settings: Settings, *, resolver: Resolver = system_resolver) -> None:
        self.config = settings.engine.webhooks
        prefix = settings.runtime.key_prefix
        self.namespace = jetstream.namespace(prefix)
        self.redis = create_redis(settings.runtime.redis_url)
        self.endpoints = EndpointStore(self.redis, settings.cipher(), self.config, prefix=prefix)
        self.dead_letters = DeadLetters(self.redis, prefix=prefix)
        self.resolver = resolver
        # The attempt itself is bounded by the timeout; the rest is slack for the ack to travel.
        self.ack_wait = self.config.timeout_seconds + 5
        # The fan-out may also wait a moment for a lane and then queue a failed delivery.
        self.fanout_ack_wait = self.ack_wait + MAX_FIRST_WAIT_SECONDS + QUEUE_TIMEOUT_SECONDS
        self._loops: list[jetstream.PullLoop] = []
        self._queue: DeliveryQueue | None = None
        self._sender: Sender | None = None

    async def start(self, nc: NatsClient) -> None:
        """Make sure the streams exist, then start fan-out and delivery."""
        js = nc.jetstream()
        await ensure_streams(js)
        await jetstream.ensure_deliveries_stream(js)
        self._queue = DeliveryQueue(js, subjects.webhook_deliver_subject(self.namespace))
        self._sender = Sender(
            timeout=self.config.timeout_seconds,
            allow_private=self.config.allow_private_targets,
            per_endpoint=self.config.max_in_flight_per_endpoint,
            resolver=self.resolver,
        )
        # One set of lanes for both paths: the per-endpoint limit holds for the replica as a whole.
        lanes = Lanes(self.config.max_in_flight_per_endpoint)
        failures = Failures(self.dead_letters, self.config)
        fanout = FanOut(self.endpoints, self._queue, lanes, self._sender, failures)
        deliverer = Deliverer(self.endpoints, lanes, self._sender, failures, ack_wait=self.ack_wait)
        self._loops = [
            jetstream.PullLoop(
                nc,
                js,
                subjects.EVENTS_STREAM,
                jetstream.fanout_consumer(self.namespace, ack_wait=self.fanout_ack_wait),
                fanout.handle,
                max_in_flight=FANOUT_IN_FLIGHT,
            ),
            jetstream.PullLoop(
                nc,
                js,
                subjects.WEBHOOKS_STREAM,
                jetstream.delivery_consumer(self.namespace, ack_wait=self.ack_wait),
                deliverer.handle,
                max_in_flight=DELIVERY_IN_FLIGHT,
            ),
        ]
        for loop in self._loops:
            await loop.start()
        log.info("webhooks.started", endpoints=len(await self._safe_endpoints()))

    async def stop(self) -> None:
        """Finish what is in flight for a moment; anything unacked is redelivered later."""
        for loop in self._loops:
            await loop.stop(STOP_GRACE_SECONDS)
        if self._sender is not None:
            await self._sender.close()
        await self.redis.aclose()

    async def replay(self, dead_id: str) -> None:
        """Queue a dead letter again (a fresh retry window) and remove it from the list.

        Raises:
            NotFound: Unknown dead letter.
            ServiceUnavailable: Webhooks are not started or NATS did not take it.
        """
        record = await self.dead_letters.get(dead_id)
        if self._queue is None:
            raise ServiceUnavailable("webhook delivery is not running")
        delivery = Delivery(record["endpoint_id"], record["event_id"], record["event_type"], record["body"])
        # A fresh Nats-Msg-Id: the original id may still be inside the stream's duplicate window.
        msg_id = f"{record['event_id']}:{record['endpoint_id']}:replay:{secrets.token_hex(6)}"
        try:
            await self._queue.put(delivery, msg_id=msg_id)
        except Exception as exc:
            raise ServiceUnavailable("could not queue the replay; try again") from exc
        await self.dead_letters.remove(dead_id)

    async def _safe_endpoints(self) -> list[object]:
        try:
            return list(await self.endpoints.all())
        except Exception:  # Redis may come up after the gateway; delivery retries on its own
            return []
