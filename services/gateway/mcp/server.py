"""The MCP server behind every gateway: one low-level ``mcp`` Server, stateless Streamable HTTP.

Stateless (``StreamableHTTPSessionManager(stateless=True, json_response=True)``): every POST
is answered on its own, with one JSON reply, so any gateway replica answers any request and
nothing is kept between them. The endpoint (``endpoint.py``) has already found the gateway
and the user; it leaves them in the ASGI scope under ``CALLER_KEY``, where the handlers read
them through the request the SDK hands them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import mcp_types as types
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.shared.exceptions import MCPError

from services.gateway.mcp.catalog import GatewayTools
from services.gateway.mcp.domain import Gateway, call_outcome
from shared.bus import subjects
from shared.bus.messaging import RpcClient
from shared.contracts.execution import ExecuteTool
from shared.errors import ValetkeyError
from shared.runtime import tracing
from shared.runtime.logging import get_logger

log = get_logger(__name__)

CALLER_KEY = "valetkey.mcp.caller"


@dataclass(frozen=True)
class Caller:
    """Who calls, on which gateway: set by the endpoint once the request is authenticated."""

    gateway: Gateway
    user_id: str


def caller_of(ctx: ServerRequestContext[Any, Any]) -> Caller:
    caller = ctx.request.scope.get(CALLER_KEY) if ctx.request is not None else None
    if not isinstance(caller, Caller):  # only reachable if the endpoint was bypassed
        raise MCPError(types.INTERNAL_ERROR, "no authenticated caller")
    return caller


def _mcp_error(exc: ValetkeyError) -> MCPError:
    code = types.INVALID_PARAMS if 400 <= exc.status < 500 else types.INTERNAL_ERROR
    return MCPError(code, exc.message, data={"name": exc.code})


class McpGatewayServer:
    """``tools/list`` and ``tools/call`` for the calling gateway and user.

    Args:
        tools: The catalog as the gateways see it.
        rpc: The gateway's NATS client.
        execute_timeout: Seconds to wait for a tool run (the longest tool timeout, plus a margin).
    """

    def __init__(self, tools: GatewayTools, rpc: Callable[[], RpcClient], execute_timeout: float) -> None:
        self._tools = tools
        self._rpc = rpc
        self._timeout = execute_timeout
        self.server: Server[Any] = Server(
            "valetkey", version="0.1.0", on_list_tools=self.list_tools, on_call_tool=self.call_tool
        )
        if not tracing.enabled():
            # The SDK's only default middleware opens an OpenTelemetry span per message: with
            # tracing off, a no-op that still cost more than the rest of a tools/call.
            self.server.middleware.clear()
        self.server.middleware.append(self._describe_gateway)
        self.sessions = StreamableHTTPSessionManager(self.server, stateless=True, json_response=True)

    async def list_tools(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        """Every tool of the gateway, with its input schema (one page: a gateway is a curated list)."""
        caller = caller_of(ctx)
        try:
            selection = await self._tools.selection(caller.gateway)
        except ValetkeyError as exc:
            raise _mcp_error(exc) from exc
        tools = [
            types.Tool(
                name=t.mcp_name, title=t.title, description=t.description, input_schema=dict(t.input_schema)
            )
            for t in selection.tools
        ]
        return types.ListToolsResult(tools=tools)

    async def call_tool(
        self, ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        """Run a tool of the gateway for the caller, as ``POST /v1/tools/execute`` does."""
        caller = caller_of(ctx)
        try:
            tool = await self._tools.find(caller.gateway, params.name)
            if tool is None:
                raise MCPError(
                    types.INVALID_PARAMS, f"unknown tool {params.name} on gateway {caller.gateway.slug}"
                )
            command = ExecuteTool(
                tool_name=tool.qualified_name, input=dict(params.arguments or {}), user_id=caller.user_id
            )
            result = await self._rpc().call_raw(subjects.TOOLS_EXECUTE, command, timeout=self._timeout)
        except ValetkeyError as exc:
            raise _mcp_error(exc) from exc
        outcome = call_outcome(result)
        log.debug(
            "mcp.tool_called", gateway=caller.gateway.slug, tool=tool.qualified_name, error=outcome.is_error
        )
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=text) for text in outcome.texts],
            structured_content=outcome.structured,
            is_error=outcome.is_error,
        )

    async def _describe_gateway(
        self, ctx: ServerRequestContext[Any, Any], call_next: CallNext
    ) -> HandlerResult:
        """``initialize`` and ``server/discover`` answer with the gateway's name and instructions."""
        result = await call_next(ctx)
        if ctx.method in ("initialize", "server/discover") and isinstance(result, dict):
            gateway = caller_of(ctx).gateway
            if gateway.instructions:
                result["instructions"] = gateway.instructions
            info = result.get("serverInfo")
            if isinstance(info, dict):
                info["name"] = f"valetkey/{gateway.slug}"
                if gateway.description:
                    info["description"] = gateway.description
        return result
