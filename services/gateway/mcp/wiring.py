"""The MCP gateways' parts, built once per gateway app, and their two routes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from services.gateway.adapters import CompletionWaiters
from services.gateway.domain import ApiKeys
from services.gateway.mcp.access_tokens import AccessTokens
from services.gateway.mcp.catalog import GatewayTools
from services.gateway.mcp.domain import request_state_key
from services.gateway.mcp.endpoint import METADATA_PREFIX, McpEndpoint
from services.gateway.mcp.gateways import GatewayDirectory
from services.gateway.mcp.on_demand import ServerOnDemand
from services.gateway.routes.auth import awaited_status
from services.gateway.routes.tools import execute_timeout
from shared.bus.messaging import RpcClient
from shared.runtime.settings import Settings

if TYPE_CHECKING:
    from services.gateway.mcp.server import McpGatewayServer


class McpGateways:
    """Directory, MCP server and endpoint of the gateways; ``running()`` spans the app's lifespan.

    Args:
        settings: The gateway's settings.
        keys: The API keys (user mode ``headers``).
        rpc: The gateway's NATS client, once started.
        waiters: The gateway's long-poll waiters (a retried call waits for the user's consent).
    """

    def __init__(
        self, settings: Settings, keys: ApiKeys, rpc: Callable[[], RpcClient], waiters: CompletionWaiters
    ) -> None:
        engine = settings.engine
        oidc = engine.auth.verification.oidc
        self._http = httpx.AsyncClient()
        tokens = AccessTokens(oidc.issuer, oidc.user_claim, self._http, engine.mcp.audience) if oidc else None
        self.directory = GatewayDirectory(engine.mcp.gateways, rpc)

        async def await_authorization(authorization_id: str, project: str, seconds: float) -> dict[str, Any]:
            return await awaited_status(rpc(), waiters, authorization_id, project, seconds)

        def build() -> McpGatewayServer:
            from services.gateway.mcp.server import McpGatewayServer  # late: see on_demand.py

            return McpGatewayServer(
                GatewayTools(rpc),
                rpc,
                execute_timeout(settings),
                await_authorization=await_authorization,
                state_key=request_state_key(settings.bus_key()),
            )

        self.server = ServerOnDemand(build)
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
        try:
            yield
        finally:
            await self.server.stop()
            await self._http.aclose()
