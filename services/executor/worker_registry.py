"""Which remote workers exist: ``tools.directors[].workers[]`` from engine.yaml, plus ``/v1/workers``.

Workers created through the API are kept in the Redis hash ``<p>:workers`` (id -> JSON),
with the shared secret encrypted under the root-key cipher and bound to the worker id.
Configured workers are read-only here (``binding.type: static``): the file is their source.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from redis.asyncio import Redis

from shared.contracts.common import DEFAULT_PROJECT, utcnow
from shared.errors import BadRequest, Conflict, NotFound, TargetRefused
from shared.runtime.addresses import refused_literal
from shared.runtime.config import MIN_WORKER_SECRET, ToolsConfig
from shared.runtime.crypto import Cipher, DecryptionError
from shared.runtime.logging import get_logger

STATIC_BINDING = {"type": "static", "id": "engine.yaml"}
PROJECT_BINDING = {"type": "project", "id": "default"}

log = get_logger(__name__)


@dataclass(frozen=True)
class WorkerSpec:
    """Everything needed to reach one worker."""

    id: str
    uri: str
    secret: str
    timeout: float
    retry: int
    enabled: bool = True
    static: bool = False
    created_at: str | None = None
    # The project that registered it (its tools serve only that project); None for engine.yaml's.
    project: str | None = None

    def serves(self, project: str) -> bool:
        """Whether this worker's tools (and the worker itself) are the project's to use."""
        return self.project is None or self.project == project

    def view(self) -> dict[str, Any]:
        """Arcade's ``WorkerResponse``; the secret is a ``SecretView`` that never carries the value."""
        binding = STATIC_BINDING if self.static else PROJECT_BINDING
        return {
            "id": self.id,
            "enabled": self.enabled,
            "type": "http",
            "managed": False,
            "binding": dict(binding),
            "http": {
                "uri": self.uri,
                "timeout": round(self.timeout),
                "retry": self.retry,
                "secret": {  # a SecretView: its binding is the type alone
                    "binding": binding["type"],
                    "editable": not self.static,
                    "exists": bool(self.secret),
                    "hint": "",
                    "value": "",
                },
            },
            "requirements": {"met": True, "authorization": None},
        }


class _Http(BaseModel):
    model_config = ConfigDict(extra="ignore")
    uri: str = Field(min_length=1, pattern=r"^https?://")
    secret: str = Field(min_length=MIN_WORKER_SECRET)
    timeout: float = Field(gt=0)
    retry: int = Field(ge=0, le=10)


class _HttpPatch(BaseModel):
    model_config = ConfigDict(extra="ignore")
    uri: str | None = Field(default=None, min_length=1, pattern=r"^https?://")
    secret: str | None = Field(default=None, min_length=MIN_WORKER_SECRET)
    timeout: float | None = Field(default=None, gt=0)
    retry: int | None = Field(default=None, ge=0, le=10)


class _Create(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.-]+$")
    enabled: bool | None = None
    type: str | None = None
    http: _Http | None = None
    mcp: dict[str, Any] | None = None


class _Update(BaseModel):
    model_config = ConfigDict(extra="ignore")
    enabled: bool | None = None
    http: _HttpPatch | None = None
    mcp: dict[str, Any] | None = None


def _parse(model: type[BaseModel], body: dict[str, Any]) -> Any:
    try:
        parsed = model.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise BadRequest(f"failed to validate request body: {where}: {first['msg']}") from exc
    if getattr(parsed, "mcp", None) is not None or getattr(parsed, "type", None) not in (None, "http"):
        raise BadRequest("only HTTP workers (arcade-serve) are supported; MCP workers are not")
    return parsed


def configured_workers(tools: ToolsConfig) -> list[WorkerSpec]:
    """The enabled workers of the enabled directors in engine.yaml."""
    return [
        WorkerSpec(
            id=worker.id,
            uri=worker.http.uri,
            secret=worker.http.secret.get_secret_value() if worker.http.secret else "",
            timeout=worker.http.timeout,
            retry=worker.http.retry,
            static=True,
        )
        for director in tools.directors
        if director.enabled
        for worker in director.workers
        if worker.enabled
    ]


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

    def _decode(self, raw: bytes | str) -> WorkerSpec:
        data = json.loads(raw)
        data["secret"] = self._cipher.decrypt(data.pop("sealed"), aad=worker_aad(data["id"])).decode()
        data.setdefault("project", DEFAULT_PROJECT)  # saved before projects
        return WorkerSpec(**data)

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
        return list(self._configured.values()) + [w for w in stored if w.id not in self._configured]

    async def get(self, worker_id: str, project: str = DEFAULT_PROJECT) -> WorkerSpec:
        """One worker by id, if the project sees it.

        Raises:
            NotFound: No such worker, or another project's.
        """
        if worker_id in self._configured:
            return self._configured[worker_id]
        raw = await self._redis.hget(self._key, worker_id)
        spec = None if raw is None else self._decode(raw)
        if spec is None or not spec.serves(project):
            raise NotFound(f"worker {worker_id} not found")
        return spec

    async def _save(self, spec: WorkerSpec) -> None:
        data = asdict(spec)
        data["sealed"] = self._cipher.encrypt(data.pop("secret").encode(), aad=worker_aad(spec.id))
        await self._redis.hset(self._key, spec.id, json.dumps(data))

    def parse_create(self, body: dict[str, Any], project: str = DEFAULT_PROJECT) -> WorkerSpec:
        """Validate a ``POST /v1/workers`` body into the worker it describes (not saved yet).

        Raises:
            BadRequest: Invalid body, no ``http`` block, or an MCP worker.
        """
        parsed: _Create = _parse(_Create, body)
        if parsed.http is None:
            raise BadRequest(
                "failed to validate request body: http: an HTTP worker needs uri, secret, timeout, retry"
            )
        self._check_uri(parsed.http.uri)
        return WorkerSpec(
            id=parsed.id,
            uri=parsed.http.uri,
            secret=parsed.http.secret,
            timeout=parsed.http.timeout,
            retry=parsed.http.retry,
            enabled=True if parsed.enabled is None else parsed.enabled,
            created_at=utcnow().isoformat(),
            project=project,
        )

    def _check_uri(self, uri: str) -> None:
        """Plain http:// and private literal addresses only where the deployment allows them.

        Raises:
            TargetRefused: Naming the field and what to set.
        """
        if self._allow_private:
            return
        if uri.startswith("http://"):
            raise TargetRefused("http.uri: plain http:// needs security.allow_private_targets")
        if (address := refused_literal(uri)) is not None:
            raise TargetRefused(
                f"http.uri: {address} is a loopback, private or link-local address; "
                "set security.allow_private_targets to allow it"
            )

    async def create(self, spec: WorkerSpec) -> WorkerSpec:
        """Save a new worker.

        Raises:
            Conflict: The id is taken (worker ids are one namespace across projects).
        """
        if spec.id in self._configured or await self._redis.hexists(self._key, spec.id):
            raise Conflict(f"worker {spec.id} already exists")
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
        parsed: _Update = _parse(_Update, body)
        changes: dict[str, Any] = {} if parsed.enabled is None else {"enabled": parsed.enabled}
        if parsed.http is not None:
            changes |= parsed.http.model_dump(exclude_none=True)
        if "uri" in changes:
            self._check_uri(changes["uri"])
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
