"""Finding a gateway by slug: engine.yaml's, read once at start."""

from __future__ import annotations

from collections.abc import Iterable

from services.gateway.mcp.domain import Gateway
from shared.errors import NotFound
from shared.runtime.config import McpGatewayConfig


def from_config(entry: McpGatewayConfig) -> Gateway:
    return Gateway(
        slug=entry.slug,
        tools=tuple(entry.tools),
        description=entry.description,
        instructions=entry.instructions,
        auth=entry.auth,
        source="engine",
    )


class GatewayDirectory:
    """The gateways this replica serves."""

    def __init__(self, configured: Iterable[McpGatewayConfig]) -> None:
        self._configured = {entry.slug: from_config(entry) for entry in configured}

    async def get(self, slug: str) -> Gateway:
        """The gateway at ``/mcp/{slug}``.

        Raises:
            NotFound: No gateway has that slug.
        """
        gateway = self._configured.get(slug)
        if gateway is None:
            raise NotFound(f"MCP gateway {slug} not found")
        return gateway
