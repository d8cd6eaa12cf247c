"""JetStream plumbing for webhooks: the deliveries stream, durable consumers and a pull loop.

Consumers are durable and named per deployment (the Redis key prefix), so every gateway
replica binds to the same consumer and JetStream spreads the messages between them,
while two deployments sharing a NATS server never take each other's work.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable, Coroutine
from typing import Any

from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)

from shared import subjects
from shared.logging import get_logger
from shared.messaging import EVENTS_MAX_AGE_SECONDS, ensure_stream

log = get_logger(__name__)

FETCH_BATCH = 256
FETCH_WAIT_SECONDS = 5.0
FANOUT_ACK_WAIT_SECONDS = 30.0


def namespace(prefix: str) -> str:
    """The key prefix made safe for subject tokens and consumer names."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", prefix) or "vk"


async def ensure_deliveries_stream(js: JetStreamContext) -> None:
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
    await ensure_stream(js, config)


def fanout_consumer(ns: str) -> ConsumerConfig:
    """Reads every event once per deployment; starts at the first start of webhooks (NEW)."""
    name = f"webhooks_fanout_{ns}"
    return ConsumerConfig(
        name=name,
        durable_name=name,
        filter_subject=subjects.EVENTS_ALL,
        deliver_policy=DeliverPolicy.NEW,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=FANOUT_ACK_WAIT_SECONDS,
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
    """Fetches from one durable consumer and runs each message in its own task.

    At most ``max_in_flight`` messages are held by this replica at once, so one replica
    never hoards what another could be delivering.

    Args:
        js: JetStream context.
        stream: Stream the consumer reads.
        config: Consumer config (created, or updated if it exists).
        handle: Called once per message; it must ack, nak or leave it to redeliver.
        max_in_flight: Messages held at once.
    """

    def __init__(
        self,
        js: JetStreamContext,
        stream: str,
        config: ConsumerConfig,
        handle: Callable[[Msg], Coroutine[Any, Any, None]],
        *,
        max_in_flight: int,
    ) -> None:
        self._js = js
        self._stream = stream
        self._config = config
        self._handle = handle
        self._max = max_in_flight
        self._tasks: set[asyncio.Task[None]] = set()
        self._room = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._sub: JetStreamContext.PullSubscription | None = None

    async def start(self) -> None:
        await self._bind()
        self._runner = asyncio.create_task(self._run(), name=f"pull-{self._config.durable_name}")

    async def stop(self, grace: float) -> None:
        """Stop fetching, let in-flight messages finish for ``grace`` seconds, cancel the rest."""
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        await self._unbind()

    async def _bind(self) -> None:
        await self._js.add_consumer(self._stream, config=self._config)
        self._sub = await self._js.pull_subscribe_bind(
            durable=str(self._config.durable_name), stream=self._stream
        )

    async def _unbind(self) -> None:
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
            self._sub = None

    async def _run(self) -> None:
        failures = 0
        while True:
            try:
                await self._fetch_once()
                failures = 0
            except (TimeoutError, NatsTimeoutError):
                continue
            except Exception as exc:  # NATS away or the consumer lost: back off, then bind again
                failures += 1
                log.warning("webhooks.fetch_failed", consumer=self._config.durable_name, error=repr(exc))
                await asyncio.sleep(min(5.0, 0.2 * 2**failures))
                with contextlib.suppress(Exception):
                    await self._unbind()
                    await self._bind()

    async def _fetch_once(self) -> None:
        while len(self._tasks) >= self._max:
            self._room.clear()
            await self._room.wait()
        assert self._sub is not None
        batch = min(FETCH_BATCH, self._max - len(self._tasks))
        for msg in await self._sub.fetch(batch, timeout=FETCH_WAIT_SECONDS):
            task = asyncio.create_task(self._handle(msg))
            self._tasks.add(task)
            task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._room.set()
        if not task.cancelled() and task.exception() is not None:
            log.error("webhooks.handler_crashed", error=repr(task.exception()))
