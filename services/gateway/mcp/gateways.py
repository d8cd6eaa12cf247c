"""Finding a gateway by slug: engine.yaml's at once, the admin API's from the executor, cached briefly.

A gateway created through the admin API is served by every replica from its first request;
a change or a removal reaches the replica that made it at once and the others within
``GATEWAY_TTL_SECONDS``. An unknown slug is never cached: asking again costs one NATS request.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from services.gateway.mcp.domain import Gateway
from shared.bus import subjects
from shared.bus.messaging import RpcClient
from shared.contracts.execution import Document
from shared.contracts.mcp import GatewayRef
from shared.errors import NotFound
from shared.runtime.config import McpGatewayConfig

GATEWAY_TTL_SECONDS = 5.0
MAX_SLUG = 128


def from_config(entry: McpGatewayConfig, source: str = "engine.yaml") -> Gateway:
    return Gateway(
        slug=entry.slug,
        tools=tuple(entry.tools),
        description=entry.description,
        instructions=entry.instructions,
        auth=entry.auth,
        source=source,
        project=entry.project,
    )


def from_view(view: dict[str, Any]) -> Gateway:
    """A gateway as the executor answers it (``vk.admin.mcp_gateways.get``)."""
    names = ("slug", "description", "instructions", "tools", "auth", "project")
    fields = {k: view[k] for k in names if k in view}
    return from_config(McpGatewayConfig.model_validate(fields), source=view.get("source", "api"))


class GatewayDirectory:
    """The gateways this replica serves.

    Args:
        configured: engine.yaml's ``mcp.gateways``.
        rpc: The gateway's NATS client, to ask the executor for the admin API's gateways.
        ttl: Seconds an admin API gateway is served from memory.
    """

    def __init__(
        self,
        configured: Iterable[McpGatewayConfig],
        rpc: Callable[[], RpcClient],
        ttl: float = GATEWAY_TTL_SECONDS,
    ) -> None:
        self._configured = {entry.slug: from_config(entry) for entry in configured}
        self._rpc = rpc
        self._ttl = ttl
        self._cached: dict[str, tuple[float, Gateway]] = {}

    async def get(self, slug: str) -> Gateway:
        """The gateway at ``/mcp/{slug}``.

        Raises:
            NotFound: No gateway has that slug.
            ServiceUnavailable: The executor does not answer.
        """
        if (gateway := self._configured.get(slug)) is not None:
            return gateway
        cached = self._cached.get(slug)
        if cached is not None and time.monotonic() - cached[0] < self._ttl:
            return cached[1]
        if len(slug) > MAX_SLUG:
            raise NotFound(f"MCP gateway {slug[:MAX_SLUG]}... not found")
        try:
            ref = GatewayRef(slug=slug, any_project=True)  # the caller's key is checked against its project
            answer = await self._rpc().call(subjects.MCP_GATEWAYS_GET, ref, Document)
        except NotFound:
            self._cached.pop(slug, None)
            raise
        gateway = from_view(answer.body)
        self._cached[slug] = (time.monotonic(), gateway)
        return gateway

    def forget(self, slug: str) -> None:
        """Drop a cached gateway (this replica changed or removed it)."""
        self._cached.pop(slug, None)
