"""MCP gateways (docs/mcp.md): engine.yaml's, read-only, plus those created through the admin API.

The executor owns them because it owns Redis for the tool side; the gateway service, which
holds no Redis client, asks for a gateway by slug over NATS (``vk.admin.mcp_gateways.get``).
API gateways live in the hash ``<p>:mcp:gateways`` (slug -> JSON); a slug belongs to one
gateway, engine.yaml's first. Each gateway belongs to a project (engine.yaml's: ``default`` unless
they name one; the API's: the creating key's; records from before projects: ``default``): another
project's keys neither see it nor change it (404), as for every other object.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from pydantic import ValidationError
from redis.asyncio import Redis

from shared.contracts.common import Page, PageQuery, utcnow
from shared.contracts.execution import Document
from shared.contracts.mcp import GatewayRef, GatewayWrite
from shared.errors import BadRequest, Conflict, NotFound
from shared.runtime.config import McpGatewayConfig

#: Fields a patch may change; the slug names the gateway and stays.
PATCHABLE = ("name", "description", "instructions", "tools", "auth")


def _parse(body: dict[str, Any]) -> McpGatewayConfig:
    try:
        return McpGatewayConfig.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise BadRequest(f"failed to validate request body: {where}: {first['msg']}") from exc


def _visible(gateway: McpGatewayConfig, ref: GatewayRef) -> bool:
    return ref.any_project or gateway.project == ref.project


def _view(gateway: McpGatewayConfig, *, static: bool, times: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        **gateway.model_dump(exclude_none=True),
        "source": "engine.yaml" if static else "api",
        "editable": not static,
        **(times or {}),
    }


class McpGatewayAdmin:
    """List, read, create, change and delete MCP gateways.

    Args:
        redis: Where API gateways are kept.
        configured: engine.yaml's ``mcp.gateways`` (read-only here).
        prefix: Redis key prefix.
        oauth_ready: Whether ``auth: oauth`` can be served (``auth.verification.oidc`` is set).
    """

    def __init__(
        self,
        redis: Redis,
        configured: Iterable[McpGatewayConfig],
        *,
        prefix: str,
        oauth_ready: bool = False,
    ) -> None:
        self._redis = redis
        self._configured = {g.slug: g for g in configured}
        self._key = f"{prefix}:mcp:gateways"
        self._oauth_ready = oauth_ready

    async def _stored(self, ref: GatewayRef) -> dict[str, Any] | None:
        """The API gateway's record, if the caller's project sees it."""
        raw = await self._redis.hget(self._key, ref.slug)
        if raw is None:
            return None
        record = dict(json.loads(raw))
        return record if _visible(McpGatewayConfig.model_validate(record["gateway"]), ref) else None

    def _configured_for(self, ref: GatewayRef) -> McpGatewayConfig | None:
        gateway = self._configured.get(ref.slug)
        return gateway if gateway is not None and _visible(gateway, ref) else None

    def _check(self, gateway: McpGatewayConfig) -> McpGatewayConfig:
        if gateway.auth == "oauth" and not self._oauth_ready:
            raise BadRequest("auth: oauth needs auth.verification.oidc (the platform's OpenID provider)")
        return gateway

    async def list(self, query: PageQuery) -> Page:
        """One page of the project's gateways, engine.yaml's first, then the API's by slug."""
        views = [_view(g, static=True) for g in self._configured.values() if g.project == query.project]
        stored = await self._redis.hgetall(self._key)
        for slug in sorted(stored, key=lambda s: s.decode() if isinstance(s, bytes) else s):
            record = json.loads(stored[slug])
            gateway = McpGatewayConfig.model_validate(record["gateway"])
            if gateway.project == query.project:
                views.append(_view(gateway, static=False, times=record["times"]))
        return Page(items=views[query.offset : query.offset + query.limit], total_count=len(views))

    async def get(self, ref: GatewayRef) -> Document:
        """One gateway of the project (of any, for the gateway's ``/mcp/{slug}`` look-up).

        Raises:
            NotFound: No gateway of the project has that slug.
        """
        if (configured := self._configured_for(ref)) is not None:
            return Document(body=_view(configured, static=True))
        record = await self._stored(ref)
        if record is None:
            raise NotFound(f"MCP gateway {ref.slug} not found")
        gateway = McpGatewayConfig.model_validate(record["gateway"])
        return Document(body=_view(gateway, static=False, times=record["times"]))

    async def create(self, write: GatewayWrite) -> Document:
        """A new gateway of the key's project; a slug already taken (in any project: it is a URL) is a 409.

        Raises:
            BadRequest: An invalid body, or one naming another project.
        """
        if write.body.get("project", write.project) != write.project:
            raise BadRequest("project: a gateway belongs to the project of the key that creates it")
        gateway = self._check(_parse({**write.body, "project": write.project}))
        now = utcnow().isoformat()
        times = {"created_at": now, "updated_at": now}
        record = json.dumps({"gateway": gateway.model_dump(), "times": times})
        if gateway.slug in self._configured or not await self._redis.hsetnx(self._key, gateway.slug, record):
            raise Conflict(f"MCP gateway {gateway.slug} already exists")
        return Document(body=_view(gateway, static=False, times=times))

    async def update(self, write: GatewayWrite) -> Document:
        """Change some fields of an API gateway (engine.yaml's answer 409)."""
        slug = write.slug or ""
        ref = GatewayRef(slug=slug, project=write.project)
        self._writable(ref)
        record = await self._stored(ref)
        if record is None:
            raise NotFound(f"MCP gateway {slug} not found")
        if write.body.get("slug", slug) != slug:
            raise BadRequest("a gateway's slug cannot change: create a new gateway")
        unknown = sorted(set(write.body) - {*PATCHABLE, "slug"})
        if unknown:
            raise BadRequest(f"failed to validate request body: {unknown[0]}: Extra inputs are not permitted")
        gateway = self._check(_parse({**record["gateway"], **write.body}))
        times = {**record["times"], "updated_at": utcnow().isoformat()}
        await self._redis.hset(self._key, slug, json.dumps({"gateway": gateway.model_dump(), "times": times}))
        return Document(body=_view(gateway, static=False, times=times))

    async def delete(self, ref: GatewayRef) -> None:
        """Remove an API gateway (engine.yaml's answer 409)."""
        self._writable(ref)
        if await self._stored(ref) is None or not await self._redis.hdel(self._key, ref.slug):
            raise NotFound(f"MCP gateway {ref.slug} not found")

    def _writable(self, ref: GatewayRef) -> None:
        """Raises: Conflict for engine.yaml's gateway of the project; NotFound for another project's."""
        if ref.slug in self._configured:
            if self._configured_for(ref) is None:
                raise NotFound(f"MCP gateway {ref.slug} not found")
            raise Conflict(f"MCP gateway {ref.slug} is defined in engine.yaml; change it there")
