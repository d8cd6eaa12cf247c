"""Composition root of the webhooks service: fan-out and delivery on JetStream, the admin subjects.

The service owns everything outbound webhooks need: the endpoint store with its secrets
(Redis, sealed by the webhook keys), the dead letters, the two durable consumers and the
HTTP sender. The gateway only forwards the admin API here over NATS.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from faststream import FastStream
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from services.webhooks import handlers, jetstream, metrics
from services.webhooks.adapters import DeadLetters, DeliveryQueue, EndpointStore
from services.webhooks.admin import WebhookAdmin
from services.webhooks.delivery_log import DeliveryLog
from services.webhooks.dispatcher import Deliverer, Failures, FanOut
from services.webhooks.event_counts import EventCounter
from services.webhooks.lanes import Lanes
from services.webhooks.sender import Sender
from services.webhooks.settings import (
    DELIVERY_IN_FLIGHT,
    FANOUT_IN_FLIGHT,
    STOP_GRACE_SECONDS,
    WebhooksSettings,
)
from shared.bus import subjects
from shared.bus.access import service_broker
from shared.bus.flushing import reach_server
from shared.bus.messaging import ensure_streams
from shared.bus.rpc import RpcServer, add_health
from shared.runtime import keycheck, tracing
from shared.runtime.addresses import Resolver, system_resolver
from shared.runtime.gauges import Sampler
from shared.runtime.logging import get_logger
from shared.runtime.ops import OpsServer, service_checks
from shared.runtime.redisio import service_redis
from shared.runtime.service import Service, freeze_startup_heap
from shared.runtime.settings import Settings

log = get_logger(__name__)

Handle = Callable[[Msg], Coroutine[Any, Any, None]]


def pull_loops(
    nc: NatsClient, js: JetStreamContext, config: WebhooksSettings, fanout: Handle, deliver: Handle
) -> list[jetstream.PullLoop]:
    """The fan-out on ``vk.events.>`` and the delivery on the deployment's work queue."""
    fanout_consumer = jetstream.fanout_consumer(config.namespace, ack_wait=config.fanout_ack_wait)
    delivery_consumer = jetstream.delivery_consumer(config.namespace, ack_wait=config.ack_wait)
    return [
        jetstream.PullLoop(
            nc, js, subjects.EVENTS_STREAM, fanout_consumer, fanout, max_in_flight=FANOUT_IN_FLIGHT
        ),
        jetstream.PullLoop(
            nc, js, subjects.WEBHOOKS_STREAM, delivery_consumer, deliver, max_in_flight=DELIVERY_IN_FLIGHT
        ),
    ]


def create_service(settings: Settings, *, resolver: Resolver = system_resolver) -> Service:
    """Build the service; nothing connects until it runs.

    Args:
        settings: The engine settings (``webhooks`` section, Redis URL, key prefix, webhook keys).
        resolver: Host name to addresses (tests inject one).
    """
    config = WebhooksSettings.from_settings(settings)
    hooks = config.config
    broker = service_broker(settings.runtime, service="webhooks")
    server = RpcServer(seal=settings.bus_seal())
    redis = service_redis(settings.runtime)
    add_health(server, service="webhooks", instance=settings.runtime.instance, checks={"redis": redis.ping})
    cipher = settings.webhook_cipher()  # the webhook keys: this service holds no root key
    keyspace = settings.keyspace()
    # Written together (a dead letter and its index): one slot for all of them on a cluster.
    stored = keyspace.grouped("webhooks")
    endpoints = EndpointStore(redis, cipher, hooks, prefix=stored)
    dead_letters = DeadLetters(redis, prefix=stored)
    queue = DeliveryQueue(subjects.webhook_deliver_subject(config.namespace))
    counter = EventCounter(redis, prefix=stored)
    attempts = DeliveryLog(redis, prefix=stored)
    admin = WebhookAdmin(endpoints, dead_letters, queue, hooks, resolver)
    handlers.register(server, admin, counter, attempts)
    tracing.hide_url_paths()  # a webhook URL's path may be its secret: POST spans show the origin
    sender = Sender(
        timeout=hooks.timeout_seconds,
        allow_private=hooks.allow_private_targets,
        per_endpoint=hooks.max_in_flight_per_endpoint,
        resolver=resolver,
    )
    # One set of lanes for both paths: the per-endpoint limit holds for the replica as a whole.
    lanes = Lanes(hooks.max_in_flight_per_endpoint)
    failures = Failures(dead_letters, hooks)
    fanout = FanOut(endpoints, queue, lanes, sender, failures, counter, attempts)
    deliverer = Deliverer(endpoints, lanes, sender, failures, ack_wait=config.ack_wait, attempts=attempts)
    loops: list[jetstream.PullLoop] = []
    app = FastStream(broker, logger=None)

    ops: list[OpsServer] = []
    checking: list[asyncio.Task[None]] = []

    @app.after_startup
    async def started() -> None:
        file = str(settings.runtime.config)
        if task := await keycheck.verify_at_start(
            redis, cipher, prefix=config.prefix, file=file, keyspace=keyspace
        ):
            checking.append(task)
        nc = broker.connection
        js = nc.jetstream()
        replicas = settings.runtime.jetstream_replicas
        await ensure_streams(js, replicas=replicas)
        await jetstream.ensure_deliveries_stream(js, replicas=replicas)
        queue.bind(js)
        attempts.start()
        loops.extend(pull_loops(nc, js, config, fanout.handle, deliverer.handle))
        for loop in loops:
            await loop.start()
        await server.start(nc)
        # the subscriptions reach the server before we report ready; else a first request gets NoResponders
        await reach_server(nc)
        if settings.runtime.ops_port:
            ops.append(
                OpsServer(
                    settings.runtime.ops_port,
                    service_checks(lambda: nc.is_connected, redis.ping, lambda: server.serving),
                    samplers=[queue_sampler(js, loops[1].consumer, dead_letters)],
                )
            )
            await ops[0].start()
        freeze_startup_heap()
        log.info("webhooks.started", endpoints=await _count(endpoints))

    @app.on_shutdown
    async def stopping() -> None:
        """Drain the admin subjects, let deliveries in flight finish a moment; unacked ones come back."""
        for task in checking:
            task.cancel()
        await server.stop(grace=settings.runtime.graceful_timeout / 2)
        for ops_server in ops:
            await ops_server.stop()
        for loop in loops:
            await loop.stop(STOP_GRACE_SECONDS)
        await attempts.stop()
        await sender.close()
        await redis.aclose()

    return Service(app, server)


def queue_sampler(js: JetStreamContext, consumer: str, dead_letters: DeadLetters) -> Sampler:
    """Deliveries waiting or unacknowledged on the work queue, and dead letters kept, for /metrics."""

    async def sample() -> None:
        info = await js.consumer_info(subjects.WEBHOOKS_STREAM, consumer)
        metrics.QUEUE_DEPTH.set(info.num_pending + info.num_ack_pending)
        metrics.DEAD_LETTERS.set(await dead_letters.count())

    return sample


async def _count(endpoints: EndpointStore) -> int:
    try:
        return len(await endpoints.all())
    except Exception:  # Redis may come up after the service; delivery retries on its own
        return 0
