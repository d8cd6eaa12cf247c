"""JetStream plumbing for webhooks: the deliveries stream, durable consumers and a pull loop.

Consumers are durable and named per deployment (the Redis key prefix), so every replica
of the webhooks service binds to the same consumer and JetStream spreads the messages between them,
while two deployments sharing a NATS server never take each other's work.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import Callable, Coroutine
from typing import Any

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext, api
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)

from shared.bus import subjects
from shared.bus.messaging import EVENTS_MAX_AGE_SECONDS, ensure_stream
from shared.runtime.background import cancel_and_wait
from shared.runtime.logging import get_logger

log = get_logger(__name__)

# Messages one pull request asks for; the next goes out when a quarter of that fits again.
PULL_BATCH = 256
# A pull request stays open this long; the server says it is alive this often.
PULL_EXPIRES_SECONDS = 30.0
PULL_HEARTBEAT_SECONDS = 1.0
# A request not heard from for this many heartbeats is taken as lost.
PULL_MISSED_HEARTBEATS = 3
# After the server ends a request with an error, wait this long before binding and asking again.
PULL_TROUBLE_PAUSE_SECONDS = 0.5


def namespace(prefix: str) -> str:
    """The key prefix made safe for subject tokens and consumer names."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", prefix) or "vk"


async def ensure_deliveries_stream(js: JetStreamContext, *, replicas: int = 1) -> None:
    """A work queue of per-endpoint deliveries: a message is gone once acked.

    File storage and the events stream's age limit, so pending deliveries survive a NATS
    restart; a 2-minute duplicate window so a fan-out that is redelivered mid-way does
    not queue the same delivery twice (``Nats-Msg-Id`` = event id + endpoint id).
    """
    config = StreamConfig(
        name=subjects.WEBHOOKS_STREAM,
        subjects=[subjects.WEBHOOKS_ALL],
        retention=RetentionPolicy.WORK_QUEUE,
        storage=StorageType.FILE,
        max_age=EVENTS_MAX_AGE_SECONDS,
        duplicate_window=120,
    )
    await ensure_stream(js, config, replicas=replicas)


def fanout_consumer(ns: str, *, ack_wait: float) -> ConsumerConfig:
    """Reads every event once per deployment; starts at the first start of webhooks (NEW).

    ``ack_wait`` covers what the fan-out does before it acks: a short wait for a lane, one
    attempt per endpoint, and queueing the deliveries that failed.
    """
    name = f"webhooks_fanout_{ns}"
    return ConsumerConfig(
        name=name,
        durable_name=name,
        filter_subject=subjects.EVENTS_ALL,
        deliver_policy=DeliverPolicy.NEW,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=ack_wait,
        max_deliver=-1,
        max_ack_pending=4096,
    )


def delivery_consumer(ns: str, *, ack_wait: float) -> ConsumerConfig:
    """Reads deliveries; no delivery limit because retries are bounded by time, not count."""
    name = f"webhooks_deliver_{ns}"
    return ConsumerConfig(
        name=name,
        durable_name=name,
        filter_subject=subjects.webhook_deliver_subject(ns),
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=ack_wait,
        max_deliver=-1,
        max_ack_pending=20_000,
    )


class PullLoop:
    """Consumes one durable consumer and runs each message in its own task.

    One pull request is kept open at a time: JetStream streams messages into this replica's
    inbox as they arrive, up to the batch asked for, and the next request goes out as soon as
    that one is spent or expires. Compared with ``fetch`` this costs no request per message
    when traffic is light and no round trip before each batch when it is heavy.

    At most ``max_in_flight`` messages are held by this replica at once (plus a few, rarely,
    from a request given up as lost), so one replica never hoards what another could deliver.
    An idle heartbeat from the server shows the request is alive; when heartbeats stop (NATS
    restarted, connection lost) the consumer is bound again and a new request goes out.

    Args:
        nc: NATS connection.
        js: JetStream context.
        stream: Stream the consumer reads.
        config: Consumer config (created, or updated if it exists).
        handle: Called once per message; it must ack, nak or leave it to redeliver.
        max_in_flight: Messages held at once.
    """

    def __init__(
        self,
        nc: NatsClient,
        js: JetStreamContext,
        stream: str,
        config: ConsumerConfig,
        handle: Callable[[Msg], Coroutine[Any, Any, None]],
        *,
        max_in_flight: int,
    ) -> None:
        self._nc = nc
        self._js = js
        self._stream = stream
        self._config = config
        self._handle = handle
        self._max = max_in_flight
        self._low = max(1, min(PULL_BATCH, max_in_flight) // 4)
        self.consumer = config.durable_name or ""
        self._next = f"{api.DEFAULT_PREFIX}.CONSUMER.MSG.NEXT.{stream}.{config.durable_name}"
        self._inbox = nc.new_inbox()
        self._tasks: set[asyncio.Task[None]] = set()
        self._asked = 0  # messages the open request may still bring; 0: no request open
        self._heard = 0.0  # when the server last sent anything on the inbox
        self._troubled = False  # the server ended a request with an error: bind again first
        self._wake = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._sub: Subscription | None = None

    async def start(self) -> None:
        await self._js.add_consumer(self._stream, config=self._config)
        self._sub = await self._nc.subscribe(self._inbox, cb=self._arrived)
        self._wake.set()  # the first request goes out at once
        self._runner = asyncio.create_task(self._run(), name=f"pull-{self._config.durable_name}")

    async def stop(self, grace: float) -> None:
        """Stop asking, let in-flight messages finish for ``grace`` seconds, cancel the rest."""
        if self._runner is not None:
            await cancel_and_wait(self._runner)
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def _arrived(self, msg: Msg) -> None:
        self._heard = time.monotonic()
        status = msg.headers.get(api.Header.STATUS) if msg.headers else None
        if status is None:
            task = asyncio.create_task(self._handle(msg))
            self._tasks.add(task)
            task.add_done_callback(self._done)
            self._asked -= 1
            if self._asked <= 0:
                self._spent()
        elif status in (api.StatusCode.NO_MESSAGES, api.StatusCode.REQUEST_TIMEOUT):
            self._spent()  # the request expired: ask again
        elif status != api.StatusCode.CONTROL_MESSAGE:  # 409 or 503: the consumer moved or vanished
            self._troubled = True
            self._spent()

    def _spent(self) -> None:
        self._asked = 0
        self._wake.set()

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not self._asked and self._max - len(self._tasks) >= self._low:
            self._wake.set()
        if not task.cancelled() and task.exception() is not None:
            log.error("webhooks.handler_crashed", error=repr(task.exception()))

    async def _run(self) -> None:
        failures = 0
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(PULL_HEARTBEAT_SECONDS):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self._tick()
                failures = 0
            except Exception as exc:  # NATS away or the consumer lost: back off, then bind again
                failures += 1
                log.warning("webhooks.pull_failed", consumer=self._config.durable_name, error=repr(exc))
                self._asked = 0
                await asyncio.sleep(min(5.0, 0.2 * 2**failures))
                with contextlib.suppress(Exception):
                    await self._js.add_consumer(self._stream, config=self._config)

    async def _tick(self) -> None:
        silent = time.monotonic() - self._heard
        if self._asked and silent > PULL_HEARTBEAT_SECONDS * PULL_MISSED_HEARTBEATS:
            log.info("webhooks.pull_lost", consumer=self._config.durable_name, silent=round(silent, 1))
            self._asked, self._troubled = 0, True
        if self._troubled:
            await asyncio.sleep(PULL_TROUBLE_PAUSE_SECONDS)
            await self._js.add_consumer(self._stream, config=self._config)  # NATS may have restarted
            self._troubled = False
        room = self._max - len(self._tasks)
        if self._asked or room < self._low:
            return
        await self._pull(min(PULL_BATCH, room))

    async def _pull(self, batch: int) -> None:
        request = {
            "batch": batch,
            "expires": int(PULL_EXPIRES_SECONDS * 1e9),
            "idle_heartbeat": int(PULL_HEARTBEAT_SECONDS * 1e9),
        }
        self._asked = batch
        self._heard = time.monotonic()
        await self._nc.publish(self._next, json.dumps(request).encode(), reply=self._inbox)
