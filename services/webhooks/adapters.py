"""The webhooks service's adapters: endpoints and dead letters (``engine.yaml`` plus Redis,
shared by every replica) and the JetStream work queue of deliveries.

Endpoints from ``engine.yaml`` are read-only (change the file); endpoints made through the
admin API live in the Redis hash ``<prefix>:webhooks:endpoints`` with their secrets
encrypted by the webhook keys (``security.webhook_keys``; this service holds no root key). An
endpoint stored before webhook keys existed is sealed under a root key: it is skipped, with a
log line naming the fix, until ``valetkey rotate-keys`` moves it under the webhook key.
Each replica caches the merged list for a second, so an admin change reaches every replica
within about a second without any extra messaging.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from nats.js import JetStreamContext
from redis.asyncio import Redis

from services.webhooks import domain
from services.webhooks.domain import Delivery, Endpoint, config_endpoints
from shared.contracts.common import DEFAULT_PROJECT, new_id
from shared.errors import Conflict, NotFound, ServiceUnavailable
from shared.runtime import tracing
from shared.runtime.config import WebhooksConfig
from shared.runtime.crypto import ROOT_KEYS, Cipher, DecryptionError
from shared.runtime.logging import get_logger

CACHE_SECONDS = 1.0
# JetStream's limit for storing one queued delivery.
QUEUE_TIMEOUT_SECONDS = 5.0

log = get_logger(__name__)
MIGRATE = "run `valetkey rotate-keys` with the root and webhook keys to move it under the webhook key"


class EndpointStore:
    """Config endpoints plus API endpoints in Redis, with a short per-replica cache.

    Args:
        redis: The webhooks service's Redis client.
        cipher: The webhook keys' cipher: encrypts secrets at rest (bound to the endpoint id).
        config: The ``webhooks`` section of ``engine.yaml``.
        prefix: The deployment's Redis key prefix.
        clock: Seconds since the epoch (injectable for tests).
    """

    def __init__(
        self,
        redis: Redis,
        cipher: Cipher,
        config: WebhooksConfig,
        *,
        prefix: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._redis = redis
        self._cipher = cipher
        self._grace = config.secret_rotation_grace_seconds
        self._fixed = {e.id: e for e in config_endpoints(config)}
        self._clock = clock
        self.key = f"{prefix}:webhooks:endpoints"
        self._cache: tuple[float, dict[str, Endpoint]] | None = None
        self._reloading = asyncio.Lock()

    async def all(self) -> list[Endpoint]:
        """Every endpoint: config ones first, then API ones by creation time."""
        if not self._fresh():
            # One reload at a time: a burst of events must not become a burst of Redis reads.
            async with self._reloading:
                if not self._fresh():
                    self._cache = (time.monotonic(), await self._load())
        assert self._cache is not None
        return list(self._cache[1].values())

    def _fresh(self) -> bool:
        return self._cache is not None and time.monotonic() - self._cache[0] <= CACHE_SECONDS

    async def of_project(self, project: str) -> list[Endpoint]:
        """The project's endpoints (engine.yaml's are the default project's)."""
        return [e for e in await self.all() if e.project == project]

    async def get(self, endpoint_id: str) -> Endpoint | None:
        return next((e for e in await self.all() if e.id == endpoint_id), None)

    async def require(self, endpoint_id: str, project: str = DEFAULT_PROJECT) -> Endpoint:
        """Raises NotFound for an unknown id, or another project's."""
        endpoint = await self.get(endpoint_id)
        if endpoint is None or endpoint.project != project:
            raise NotFound(f"webhook endpoint {endpoint_id} not found")
        return endpoint

    async def create(
        self, url: str, events: list[str], enabled: bool, description: str, project: str = DEFAULT_PROJECT
    ) -> tuple[Endpoint, str]:
        """Store a new endpoint; returns it with its secret (shown to the caller once)."""
        now = self._clock()
        endpoint_id = new_id("whe")
        secret = domain.new_secret()
        record = {
            "id": endpoint_id,
            "url": url,
            "events": domain.check_event_types(events),
            "enabled": enabled,
            "description": description,
            "project": project,
            "created_at": now,
            "updated_at": now,
            "secret": self._seal(endpoint_id, secret),
        }
        await self._write(record)
        return self._endpoint(record), secret

    async def update(
        self, endpoint_id: str, changes: dict[str, Any], project: str = DEFAULT_PROJECT
    ) -> Endpoint:
        """Apply ``changes`` (url, events, enabled, description) to an API endpoint."""
        record = await self._record(endpoint_id, project)
        if "events" in changes:
            changes["events"] = domain.check_event_types(changes["events"])
        record.update(changes, updated_at=self._clock())
        await self._write(record)
        return self._endpoint(record)

    async def rotate(self, endpoint_id: str, project: str = DEFAULT_PROJECT) -> tuple[Endpoint, str]:
        """A new secret; the old one keeps signing too during the grace period."""
        record = await self._record(endpoint_id, project)
        secret = domain.new_secret()
        now = self._clock()
        record.update(
            previous_secret=record["secret"],
            previous_until=now + self._grace,
            secret=self._seal(endpoint_id, secret),
            updated_at=now,
        )
        await self._write(record)
        return self._endpoint(record), secret

    async def delete(self, endpoint_id: str, project: str = DEFAULT_PROJECT) -> None:
        await self._record(endpoint_id, project)
        await self._redis.hdel(self.key, endpoint_id)
        self._cache = None

    # --- internals --------------------------------------------------------------------

    async def _load(self) -> dict[str, Endpoint]:
        raw = await self._redis.hgetall(self.key)
        stored = sorted((json.loads(v) for v in raw.values()), key=lambda r: r.get("created_at", 0))
        merged = dict(self._fixed)
        for record in stored:
            if record["id"] in self._fixed:
                continue
            try:
                merged[record["id"]] = self._endpoint(record)
            except DecryptionError as exc:
                # one endpoint whose secret no configured webhook key opens must not stop the others
                if Cipher.family_of(record["secret"]) == ROOT_KEYS.version:
                    log.warning("webhooks.endpoint_under_root_key", endpoint_id=record["id"], fix=MIGRATE)
                else:
                    log.warning("webhooks.endpoint_unreadable", endpoint_id=record["id"], error=exc.message)
        return merged

    async def _record(self, endpoint_id: str, project: str) -> dict[str, Any]:
        if endpoint_id in self._fixed and project == DEFAULT_PROJECT:
            raise Conflict(f"webhook endpoint {endpoint_id} is defined in engine.yaml; change it there")
        raw = await self._redis.hget(self.key, endpoint_id)
        record: dict[str, Any] | None = None if raw is None else json.loads(raw)
        if record is None or record.get("project", DEFAULT_PROJECT) != project:
            raise NotFound(f"webhook endpoint {endpoint_id} not found")
        return record

    async def _write(self, record: dict[str, Any]) -> None:
        await self._redis.hset(self.key, record["id"], json.dumps(record))
        self._cache = None

    def _seal(self, endpoint_id: str, secret: str) -> str:
        return self._cipher.encrypt(secret.encode(), aad=endpoint_aad(endpoint_id))

    def _key(self, endpoint_id: str, sealed: str) -> bytes:
        return domain.secret_key(self._cipher.decrypt(sealed, aad=endpoint_aad(endpoint_id)).decode())

    def _endpoint(self, record: dict[str, Any]) -> Endpoint:
        keys = [self._key(record["id"], record["secret"])]
        if record.get("previous_secret") and record.get("previous_until", 0) > self._clock():
            keys.append(self._key(record["id"], record["previous_secret"]))
        fields = {k: record[k] for k in ("id", "url", "events", "enabled", "description")}
        project = record.get("project", DEFAULT_PROJECT)  # saved before projects: the default one's
        endpoint = Endpoint(**fields, source="api", keys=tuple(keys), project=project)
        return replace(endpoint, created_at=record.get("created_at"), updated_at=record.get("updated_at"))


def endpoint_aad(endpoint_id: str) -> bytes:
    return f"valetkey:webhook-secret:{endpoint_id}".encode()


class DeadLetters:
    """Deliveries that ran out of retries: a hash of records plus a time index for paging."""

    def __init__(self, redis: Redis, *, prefix: str) -> None:
        self._redis = redis
        self.key = f"{prefix}:webhooks:dead"
        self.index = f"{prefix}:webhooks:dead:by_time"

    async def count(self) -> int:
        return int(await self._redis.zcard(self.index))

    async def add(self, record: dict[str, Any]) -> None:
        """Idempotent: a redelivered failure overwrites its own record."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.key, record["id"], json.dumps(record))
            pipe.zadd(self.index, {record["id"]: record["dead_at"]})
            await pipe.execute()

    async def page(
        self, offset: int, limit: int, endpoint_id: str | None
    ) -> tuple[list[dict[str, Any]], int]:
        """Newest first; filtered by endpoint when asked."""
        if endpoint_id is None:
            total = int(await self._redis.zcard(self.index))
            ids = await self._redis.zrevrange(self.index, offset, offset + limit - 1)
            return await self._many(ids), total
        matching = [r for r in await self.all() if r["endpoint_id"] == endpoint_id]
        return matching[offset : offset + limit], len(matching)

    async def all(self) -> list[dict[str, Any]]:
        return await self._many(await self._redis.zrevrange(self.index, 0, -1))

    async def get(self, dead_id: str) -> dict[str, Any]:
        raw = await self._redis.hget(self.key, dead_id)
        if raw is None:
            raise NotFound(f"dead letter {dead_id} not found")
        record: dict[str, Any] = json.loads(raw)
        return record

    async def remove(self, dead_id: str) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hdel(self.key, dead_id)
            pipe.zrem(self.index, dead_id)
            await pipe.execute()

    async def _many(self, ids: list[Any]) -> list[dict[str, Any]]:
        if not ids:
            return []
        values = await self._redis.hmget(self.key, ids)
        return [json.loads(v) for v in values if v is not None]


class DeliveryQueue:
    """Puts deliveries on the work queue; waits for JetStream's ack.

    Built with the service, bound to JetStream once NATS is connected (``bind``).
    """

    def __init__(self, subject: str) -> None:
        self._js: JetStreamContext | None = None
        self._subject = subject

    def bind(self, js: JetStreamContext) -> None:
        self._js = js

    async def put(self, delivery: Delivery, *, msg_id: str | None = None) -> None:
        """Raises ServiceUnavailable before ``bind``; JetStream's errors as they come."""
        if self._js is None:
            raise ServiceUnavailable("webhook delivery is not running")
        headers = {"Nats-Msg-Id": msg_id or delivery.queue_id}
        tracing.carry(headers)  # its retries join the trace of the attempt (or replay) queueing it
        await self._js.publish(
            self._subject, delivery.encode(), headers=headers, timeout=QUEUE_TIMEOUT_SECONDS
        )
