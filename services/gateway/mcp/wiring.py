"""The MCP gateways' parts, built once per gateway app, and their two routes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from services.gateway.domain import ApiKeys
from services.gateway.mcp.access_tokens import AccessTokens
from services.gateway.mcp.catalog import GatewayTools
from services.gateway.mcp.endpoint import METADATA_PREFIX, McpEndpoint
from services.gateway.mcp.gateways import GatewayDirectory
from services.gateway.mcp.server import McpGatewayServer
from services.gateway.routes.tools import execute_timeout
from shared.bus.messaging import RpcClient
from shared.runtime.settings import Settings


class McpGateways:
    """Directory, MCP server and endpoint of the gateways; ``running()`` spans the app's lifespan.

    Args:
        settings: The gateway's settings.
        keys: The API keys (user mode ``headers``).
        rpc: The gateway's NATS client, once started.
    """

    def __init__(self, settings: Settings, keys: ApiKeys, rpc: Callable[[], RpcClient]) -> None:
        engine = settings.engine
        oidc = engine.auth.verification.oidc
        self._http = httpx.AsyncClient()
        tokens = AccessTokens(oidc.issuer, oidc.user_claim, self._http, engine.mcp.audience) if oidc else None
        self.directory = GatewayDirectory(engine.mcp.gateways, rpc)
        self.server = McpGatewayServer(GatewayTools(rpc), rpc, execute_timeout(settings))
        self.endpoint = McpEndpoint(self.directory, keys, self.server, settings.public_url, tokens)

    def routes(self) -> list[Route]:
        """``/mcp/{slug}`` (an ASGI endpoint: the SDK's transport answers POST, GET and DELETE
        itself) and the protected resource metadata of ``oauth`` gateways."""
        return [
            Route("/mcp/{slug}", self.endpoint, include_in_schema=False),
            Route(
                f"{METADATA_PREFIX}/mcp/{{slug}}", self._metadata, methods=["GET"], include_in_schema=False
            ),
        ]

    async def _metadata(self, request: Request) -> JSONResponse:
        return await self.endpoint.metadata(request.path_params["slug"])

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        async with self.server.sessions.run():
            try:
                yield
            finally:
                await self._http.aclose()
