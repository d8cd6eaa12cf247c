"""Transactional outbox: events are written to Redis with the state change that caused them,
then relayed to JetStream.

Without it, a crash (or a NATS outage) between "token stored" and "event published"
would lose the event. With it, the event is in Redis the moment the token is, and the
relay publishes it once NATS acknowledges (``Nats-Msg-Id`` = event id, so the stream
drops duplicates a retried relay sends; receivers dedupe by event id beyond that).

With tracing on, an entry also keeps the W3C ``traceparent`` of the work that committed it,
so the event is published in that trace (``traceparent`` in its JetStream headers) however
late the relay gets to it. The published event itself never carries it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
from typing import Any

from nats.js import JetStreamContext
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from shared.contracts.events import EVENT_TYPES, Event
from shared.runtime import tracing
from shared.runtime.background import Background, Periodic
from shared.runtime.keyspace import Keyspace
from shared.runtime.logging import get_logger
from shared.tokens.model import connection_id_of

log = get_logger(__name__)


# The entry's key for the trace context; an event has no field of that name.
TRACEPARENT = "traceparent"


@dataclass(frozen=True)
class Entry:
    """An event waiting in the outbox, with the trace it was committed in (when traced)."""

    event: Event
    traceparent: str | None = None

    @classmethod
    def parse(cls, value: bytes | str) -> Entry:
        raw = json.loads(value)
        traceparent = raw.pop(TRACEPARENT, None)
        return cls(EVENT_TYPES[raw["type"]].model_validate(raw), traceparent)


class Outbox:
    """Pending events in a Redis hash ``<prefix>:outbox`` (event id -> JSON), one per shard.

    An event is written to its connection's shard (with the state change of that connection),
    and one that names no connection to shard 0; the relay drains every shard.
    """

    def __init__(self, redis: Redis, *, prefix: str = "vk", keyspace: Keyspace | None = None) -> None:
        self._redis = redis
        self.keyspace = keyspace or Keyspace(prefix)

    def key_of(self, shard: int) -> str:
        return self.keyspace.key(shard, "outbox")

    @property
    def key(self) -> str:
        """The outbox of shard 0 (the only one on a single server)."""
        return self.key_of(0)

    def shard_of(self, event: Event) -> int:
        """Where an event waits: its connection's shard, or 0 for one that names no connection."""
        if event.user_id is None or event.provider_id is None:
            return 0
        return self.keyspace.shard_of_connection(
            connection_id_of(event.user_id, event.provider_id, event.project)
        )

    @staticmethod
    def entry(event: Event) -> tuple[str, str]:
        """An event's field and value in the outbox hash: event id -> event JSON, plus the
        current ``traceparent`` when tracing is on (an event queued in a traced request)."""
        traceparent = tracing.trace_context()
        if traceparent is None:
            return event.event_id, event.model_dump_json()
        return event.event_id, json.dumps({**event.model_dump(mode="json"), TRACEPARENT: traceparent})

    def add(self, pipe: Pipeline, event: Event, *, shard: int) -> None:
        """Queue an event inside the caller's transaction, on the shard the transaction writes."""
        pipe.hset(self.key_of(shard), *self.entry(event))

    async def add_now(self, event: Event) -> None:
        """Queue an event on its own (when there is no state change to pair it with)."""
        await self._redis.hset(self.key_of(self.shard_of(event)), *self.entry(event))

    async def waiting(self, limit: int = 200, *, shard: int | None = None) -> list[Entry]:
        """Up to ``limit`` entries not yet relayed, of one shard or (None) of every shard."""
        entries: list[Entry] = []
        for each in self.keyspace.all if shard is None else (shard,):
            _, raw = await self._redis.hscan(self.key_of(each), 0, count=limit)
            values: list[Any] = list(raw.values()) if isinstance(raw, dict) else []
            entries += [Entry.parse(v) for v in values[: limit - len(entries)]]
            if len(entries) >= limit:
                break
        return entries

    async def pending(self, limit: int = 200, *, shard: int | None = None) -> list[Event]:
        """Up to ``limit`` events not yet relayed, of one shard or (None) of every shard."""
        return [entry.event for entry in await self.waiting(limit, shard=shard)]

    async def depth(self) -> int:
        """How many events wait to be relayed."""
        return sum(await self._depths())

    async def busy_shards(self) -> list[int]:
        """The shards holding events (every shard, unasked, when there is only one)."""
        if not self.keyspace.sharded:
            return [0]
        return [shard for shard, depth in enumerate(await self._depths()) if depth]

    async def _depths(self) -> list[int]:
        async with self._redis.pipeline(transaction=False) as pipe:  # one round trip for all shards
            for shard in self.keyspace.all:
                pipe.hlen(self.key_of(shard))
            return [int(n) for n in await pipe.execute()]

    async def oldest(self, scan: int = 200) -> float | None:
        """When the oldest of (up to ``scan``) waiting events happened, as a UNIX time; None if none."""
        events = await self.pending(scan)
        return min((e.occurred_at.timestamp() for e in events), default=None)

    async def done(self, *event_ids: str, shard: int = 0) -> None:
        if event_ids:
            await self._redis.hdel(self.key_of(shard), *event_ids)


class OutboxRelay:
    """Publishes outbox events to JetStream; woken after each commit, and every second anyway."""

    def __init__(self, outbox: Outbox, js: JetStreamContext, *, interval: float = 1.0) -> None:
        self._outbox = outbox
        self._js = js
        # NATS or Redis away: a drain fails, the events stay queued, and the next one tries again.
        self._loop = Periodic(self.drain, interval, name="outbox-relay", failed="outbox.relay_failed")
        self._sending = Background()

    def wake(self) -> None:
        """Ask for a drain now (call after committing events)."""
        self._loop.wake()

    async def drain(self) -> int:
        """Publish every pending event; returns how many were published.

        A batch is published concurrently and removed from the outbox with one command,
        keeping only the events JetStream did not acknowledge.
        """
        sent = 0
        for shard in await self._outbox.busy_shards():
            while entries := await self._outbox.waiting(shard=shard):
                acked, failure = await self._relay(entries, shard)
                sent += acked
                if failure is not None:
                    raise failure  # NATS is away: the rest stays queued for the next attempt
        return sent

    async def _relay(self, entries: list[Entry], shard: int) -> tuple[int, BaseException | None]:
        """Publish ``entries`` (of one shard) concurrently, then remove the acknowledged ones from
        the outbox with one command; returns how many were acknowledged and the first publish failure."""
        results = await asyncio.gather(*(self._publish(e) for e in entries), return_exceptions=True)
        acked = [
            e.event.event_id
            for e, r in zip(entries, results, strict=True)
            if not isinstance(r, BaseException)
        ]
        await self._outbox.done(*acked, shard=shard)
        return len(acked), next((r for r in results if isinstance(r, BaseException)), None)

    def send_now(self, events: list[Event]) -> None:
        """Publish events just committed without waiting for a drain to find them.

        Saves the outbox read on the completion path (a long-poll wakes ~1 ms sooner). The
        events stay in the outbox until JetStream acknowledges them, so a failure here only
        leaves them to the next drain; a drain that races this publishes them twice, and
        the stream drops the duplicate by ``Nats-Msg-Id``.
        """
        if events:
            self._sending.run(self._send(events), name="outbox.send_now")

    async def _send(self, events: list[Event]) -> None:
        by_shard: dict[int, list[Entry]] = {}
        for event in events:
            by_shard.setdefault(self._outbox.shard_of(event), []).append(Entry(event))
        try:
            failures = [(await self._relay(batch, shard))[1] for shard, batch in by_shard.items()]
            failure = next((f for f in failures if f is not None), None)
        except Exception as exc:  # Redis away: the next drain publishes them again, deduplicated
            log.warning("outbox.send_now_failed", error=type(exc).__name__)
            return
        if failure is not None:
            self.wake()

    async def _publish(self, entry: Entry) -> None:
        # With tracing on, the publish continues the trace of the work that committed the event:
        # the one its entry kept, or (send_now) the request still at hand.
        event = entry.event
        with tracing.nats_publish(event.subject, entry.traceparent) as trace_headers:
            headers = {"Nats-Msg-Id": event.event_id, **(trace_headers or {})}
            await self._js.publish(
                event.subject, event.model_dump_json().encode(), headers=headers, timeout=5
            )

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        """Drain what can be drained, then stop."""
        await self._loop.stop()
        await self._sending.drain(timeout=3)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.drain(), 3)
