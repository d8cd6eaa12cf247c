"""Which remote workers exist: ``tools.directors[].workers[]`` from engine.yaml, plus ``/v1/workers``.

Workers created through the API are kept in the Redis hash ``<p>:workers`` (id -> JSON),
with the shared secret (an MCP worker's secret headers, as JSON, in ``sealed_headers``) encrypted
under the root-key cipher and bound to the worker id.
Configured workers are read-only here (``binding.type: static``): the file is their source.
Grants pinned at a worker's first listing (services/executor/grants.py) live in ``<p>:worker_grants``
(id -> JSON), for engine.yaml's workers and the API's alike; written grants stay in the record or the file.
"""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from typing import Any

from redis.asyncio import Redis

from services.executor.grants import Grants
from services.executor.worker_specs import (
    PROJECT_BINDING,
    STATIC_BINDING,
    CreateBody,
    UpdateBody,
    WorkerSpec,
    changes_of,
    parse_body,
    spec_of,
    toolkit_of,
)
from shared.contracts.common import DEFAULT_PROJECT, utcnow
from shared.errors import Conflict, NotFound, TargetRefused
from shared.runtime.addresses import refused_literal
from shared.runtime.config_tools import ToolsConfig, WorkerConfig
from shared.runtime.crypto import Cipher, DecryptionError
from shared.runtime.logging import get_logger

log = get_logger(__name__)


def configured_workers(tools: ToolsConfig) -> list[WorkerSpec]:
    """The enabled workers of the enabled directors in engine.yaml."""
    return [
        replace(_configured(worker), director=director.id, director_max_tools=director.max_tools)
        for director in tools.directors
        if director.enabled
        for worker in director.workers
        if worker.enabled
    ]


def _configured(worker: WorkerConfig) -> WorkerSpec:
    spec = _connection(worker)
    if worker.grants is None:
        return spec
    return replace(spec, grants=Grants.of(worker.grants.secrets, worker.grants.providers))


def _connection(worker: WorkerConfig) -> WorkerSpec:
    if worker.mcp is not None:
        mcp = worker.mcp
        return WorkerSpec(
            id=worker.id,
            uri=mcp.uri,
            secret="",
            timeout=mcp.timeout,
            retry=mcp.retry,
            static=True,
            type="mcp",
            toolkit=toolkit_of(worker.id, mcp.toolkit),
            headers=dict(mcp.headers),
            secret_headers={name: value.get_secret_value() for name, value in mcp.secrets.items()},
        )
    assert worker.http is not None  # WorkerConfig holds one block or the other
    return WorkerSpec(
        id=worker.id,
        uri=worker.http.uri,
        secret=worker.http.secret.get_secret_value() if worker.http.secret else "",
        timeout=worker.http.timeout,
        retry=worker.http.retry,
        static=True,
    )


def worker_aad(worker_id: str) -> bytes:
    """What a worker's sealed secret is bound to: its id."""
    return f"worker\x00{worker_id}".encode()


class WorkerRegistry:
    """Configured workers plus the ones created through the API.

    Args:
        redis: Shared Redis client.
        cipher: Root-key cipher (seals the worker secrets).
        configured: Workers from engine.yaml.
        prefix: Redis key prefix.
        allow_private_targets: Accept plain http:// and private literal addresses for API workers.
    """

    def __init__(
        self,
        redis: Redis,
        cipher: Cipher,
        configured: list[WorkerSpec],
        *,
        prefix: str,
        allow_private_targets: bool = False,
    ) -> None:
        self._allow_private = allow_private_targets
        self._redis = redis
        self._cipher = cipher
        self._configured = {w.id: w for w in configured}
        self._key = f"{prefix}:workers"
        self._pins = f"{prefix}:worker_grants"

    def _decode(self, raw: bytes | str) -> WorkerSpec:
        data = json.loads(raw)
        data["secret"] = self._cipher.decrypt(data.pop("sealed"), aad=worker_aad(data["id"])).decode()
        if sealed := data.pop("sealed_headers", None):
            data["secret_headers"] = json.loads(self._cipher.decrypt(sealed, aad=worker_aad(data["id"])))
        data.setdefault("project", DEFAULT_PROJECT)  # saved before projects
        grants = data.pop("grants", None)
        data.pop("pinned", None)
        return WorkerSpec(**data, grants=None if grants is None else Grants.from_json(grants))

    async def _with_pins(self, specs: list[WorkerSpec]) -> list[WorkerSpec]:
        """Each worker without written grants with the ones pinned at its first listing, if any."""
        unwritten = [s for s in specs if s.grants is None]
        if not unwritten:
            return specs
        raw = await self._redis.hmget(self._pins, [s.id for s in unwritten])
        pins = {s.id: Grants.from_json(json.loads(r)) for s, r in zip(unwritten, raw, strict=True) if r}
        return [replace(s, pinned=pins[s.id]) if s.id in pins else s for s in specs]

    async def pin(self, worker_id: str, grants: Grants) -> Grants:
        """Pin a worker's grants at its first listing; the first replica to pin wins, and its
        grants are answered to the others."""
        await self._redis.hsetnx(self._pins, worker_id, json.dumps(grants.to_json()))
        raw = await self._redis.hget(self._pins, worker_id)
        return grants if raw is None else Grants.from_json(json.loads(raw))

    async def of_project(self, project: str) -> list[WorkerSpec]:
        """The workers a project sees: engine.yaml's and its own."""
        return [w for w in await self.all() if w.serves(project)]

    async def all(self) -> list[WorkerSpec]:
        """Every worker of every project, configured ones first, then API ones by creation time.

        A worker whose secret no configured root key opens is left out (and logged): one
        unreadable record must not hide the others. Creating it again replaces it.
        """
        readable: list[WorkerSpec] = []
        for raw in await self._redis.hvals(self._key):
            try:
                readable.append(self._decode(raw))
            except DecryptionError as exc:
                log.warning(
                    "workers.record_unreadable", worker_id=json.loads(raw).get("id"), error=exc.message
                )
        stored = sorted(readable, key=lambda w: w.created_at or "")
        workers = list(self._configured.values()) + [w for w in stored if w.id not in self._configured]
        return await self._with_pins(workers)

    async def get(self, worker_id: str, project: str = DEFAULT_PROJECT) -> WorkerSpec:
        """One worker by id, if the project sees it.

        Raises:
            NotFound: No such worker, or another project's.
        """
        if worker_id in self._configured:
            return (await self._with_pins([self._configured[worker_id]]))[0]
        raw = await self._redis.hget(self._key, worker_id)
        spec = None if raw is None else self._decode(raw)
        if spec is None or not spec.serves(project):
            raise NotFound(f"worker {worker_id} not found")
        return (await self._with_pins([spec]))[0]

    async def _save(self, spec: WorkerSpec) -> None:
        data = asdict(spec)
        data.pop("pinned")  # pins live in their own hash
        data["grants"] = None if spec.grants is None else spec.grants.to_json()
        data["sealed"] = self._cipher.encrypt(data.pop("secret").encode(), aad=worker_aad(spec.id))
        if headers := data.pop("secret_headers"):
            sealed = self._cipher.encrypt(json.dumps(headers).encode(), aad=worker_aad(spec.id))
            data["sealed_headers"] = sealed
        await self._redis.hset(self._key, spec.id, json.dumps(data))

    def parse_create(self, body: dict[str, Any], project: str = DEFAULT_PROJECT) -> WorkerSpec:
        """Validate a ``POST /v1/workers`` body into the worker it describes (not saved yet).

        Raises:
            BadRequest: Invalid body, or no ``http`` (``mcp``) block for its type.
            TargetRefused: An address the outbound policy refuses.
        """
        parsed: CreateBody = parse_body(CreateBody, body)
        enabled = True if parsed.enabled is None else parsed.enabled
        spec = spec_of(parsed, enabled=enabled, created_at=utcnow().isoformat(), project=project)
        self._check_uri(spec.uri, spec.type)
        return spec

    def _check_uri(self, uri: str, kind: str) -> None:
        """Plain http:// and private literal addresses only where the deployment allows them.

        Raises:
            TargetRefused: Naming the field and what to set.
        """
        if self._allow_private:
            return
        if uri.startswith("http://"):
            raise TargetRefused(f"{kind}.uri: plain http:// needs security.allow_private_targets")
        if (address := refused_literal(uri)) is not None:
            raise TargetRefused(
                f"{kind}.uri: {address} is a loopback, private or link-local address; "
                "set security.allow_private_targets to allow it"
            )

    async def create(self, spec: WorkerSpec) -> WorkerSpec:
        """Save a new worker.

        Raises:
            Conflict: The id is taken (worker ids are one namespace across projects).
        """
        if spec.id in self._configured or await self._redis.hexists(self._key, spec.id):
            raise Conflict(f"worker {spec.id} already exists")
        await self._redis.hdel(self._pins, spec.id)  # a pin of a deleted namesake
        await self._save(spec)
        return spec

    async def patched(
        self, worker_id: str, body: dict[str, Any], project: str = DEFAULT_PROJECT
    ) -> WorkerSpec:
        """The worker as a ``PATCH`` body would change it (not saved yet).

        Raises:
            Conflict: The worker comes from engine.yaml.
            NotFound: No such worker.
            BadRequest: Invalid body.
        """
        if worker_id in self._configured:
            raise Conflict(f"worker {worker_id} is defined in engine.yaml; change it there")
        current = await self.get(worker_id, project)
        changes = changes_of(current, parse_body(UpdateBody, body))
        if "uri" in changes:
            self._check_uri(changes["uri"], current.type)
        return replace(current, **changes)

    async def update(self, spec: WorkerSpec) -> WorkerSpec:
        """Save a changed API worker."""
        await self._save(spec)
        return spec

    async def delete(self, worker_id: str, project: str = DEFAULT_PROJECT) -> None:
        """Remove an API worker.

        Raises:
            Conflict: The worker comes from engine.yaml.
            NotFound: No such worker.
        """
        if worker_id in self._configured:
            raise Conflict(f"worker {worker_id} is defined in engine.yaml; remove it there")
        await self.get(worker_id, project)
        if not await self._redis.hdel(self._key, worker_id):
            raise NotFound(f"worker {worker_id} not found")
        await self._redis.hdel(self._pins, worker_id)


__all__ = ["PROJECT_BINDING", "STATIC_BINDING", "WorkerRegistry", "WorkerSpec", "configured_workers"]
