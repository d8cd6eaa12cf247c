"""``/mcp/{slug}``: find the gateway, authenticate the caller, then hand the request to the MCP server.

User mode ``headers`` (docs/mcp.md): ``Authorization: Bearer <API key>`` (the key ``/v1``
accepts) and ``Arcade-User-ID: <user>``. Anything refused here is answered in Arcade's error
shape before the MCP server sees it: 404 for an unknown gateway, 401 for a missing or wrong
key, 400 for a missing user.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import Receive, Scope, Send

from services.gateway.domain import ApiKeys
from services.gateway.errors import error_response
from services.gateway.mcp.domain import Gateway
from services.gateway.mcp.gateways import GatewayDirectory
from services.gateway.mcp.server import CALLER_KEY, Caller, McpGatewayServer
from shared.errors import BadRequest, ValetkeyError

USER_HEADER = "arcade-user-id"
MAX_USER_ID = 256


class McpEndpoint:
    """The ASGI app of the ``/mcp/{slug}`` route."""

    def __init__(self, gateways: GatewayDirectory, keys: ApiKeys, server: McpGatewayServer) -> None:
        self._gateways = gateways
        self._keys = keys
        self._server = server

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            gateway = await self._gateways.get(scope["path_params"]["slug"])
            scope[CALLER_KEY] = Caller(gateway, self._user(gateway, Headers(scope=scope)))
        except ValetkeyError as exc:
            await error_response(exc)(scope, receive, send)
            return
        await self._server.sessions.handle_request(scope, receive, send)

    def _user(self, gateway: Gateway, headers: Headers) -> str:
        """The calling user, after the API key check.

        Raises:
            Unauthorized: Missing or unknown API key.
            BadRequest: No (or an unusable) ``Arcade-User-ID``.
        """
        self._keys.check(headers.get("authorization"))
        user = (headers.get(USER_HEADER) or "").strip()
        if not user:
            raise BadRequest(
                f"missing Arcade-User-ID header: gateway {gateway.slug} runs tools for that user"
            )
        if len(user) > MAX_USER_ID:
            raise BadRequest(f"Arcade-User-ID longer than {MAX_USER_ID} characters")
        return user
