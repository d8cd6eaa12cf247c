"""The MCP server behind every gateway: one low-level ``mcp`` Server, stateless Streamable HTTP.

Stateless (``StreamableHTTPSessionManager(stateless=True, json_response=True)``): every POST
is answered on its own, with one JSON reply, so any gateway replica answers any request and
nothing is kept between them. The endpoint (``endpoint.py``) has already found the gateway
and the user; it leaves them in the ASGI scope under ``CALLER_KEY``, where the handlers read
them through the request the SDK hands them.

A tool that needs the user's consent answers, to a client of the 2026-07-28 protocol that
declares URL elicitation, with an ``input_required`` result asking it to open the authorization
URL (its ``requestState`` the authorization id, sealed by the SDK's boundary under a key derived
from the bus key, bound to the gateway and user); the client retries the call once the user
went there, and the retry waits for the consent (at most ``CONSENT_WAIT_S``) and runs the tool.
Any other client gets the URL in the tool's result, as arcade-mcp-server answers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import mcp_types as types
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.request_state import RequestStateBoundary, RequestStateSecurity
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.shared.exceptions import MCPError
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from services.gateway.mcp.catalog import GatewayTools
from services.gateway.mcp.domain import CALLER_KEY, Caller, call_outcome
from shared.bus import subjects
from shared.bus.messaging import RpcClient
from shared.contracts.execution import ExecuteTool
from shared.errors import ValetkeyError
from shared.runtime import tracing
from shared.runtime.logging import get_logger

log = get_logger(__name__)

# The key of the authorization's URL elicitation in an ``input_required`` result.
AUTHORIZE_INPUT = "authorize"
# How long a retried call waits for the user's consent (below a proxy's usual 60 s idle limit).
CONSENT_WAIT_S = 50.0
# An ``input_required`` result's sealed requestState is honoured this long.
REQUEST_STATE_TTL_S = 900.0

# (authorization id, project, seconds) -> the authorization once finished, or as it is then.
AwaitAuthorization = Callable[[str, str, float], Awaitable[dict[str, Any]]]


def caller_of(ctx: ServerRequestContext[Any, Any]) -> Caller:
    caller = ctx.request.scope.get(CALLER_KEY) if ctx.request is not None else None
    if not isinstance(caller, Caller):  # only reachable if the endpoint was bypassed
        raise MCPError(types.INTERNAL_ERROR, "no authenticated caller")
    return caller


def _principal(ctx: ServerRequestContext[Any, Any]) -> str | None:
    """Whom a sealed requestState belongs to: the gateway and the user it was minted for."""
    caller = ctx.request.scope.get(CALLER_KEY) if ctx.request is not None else None
    return f"{caller.gateway.slug}\x00{caller.user_id}" if isinstance(caller, Caller) else None


def _opens_urls(ctx: ServerRequestContext[Any, Any]) -> bool:
    """The client takes an ``input_required`` result and declared URL elicitation."""
    if ctx.protocol_version not in MODERN_PROTOCOL_VERSIONS:
        return False
    capabilities = ctx.session.client_capabilities
    return bool(capabilities and capabilities.elicitation and capabilities.elicitation.url is not None)


def _went_to_url(params: types.CallToolRequestParams) -> bool:
    """The retry of an ``input_required`` result whose URL the user accepted to open."""
    answer = (params.input_responses or {}).get(AUTHORIZE_INPUT)
    return isinstance(answer, types.ElicitResult) and answer.action == "accept"


def _ask_to_open(authorization: dict[str, Any], tool: str) -> types.InputRequiredResult:
    url, authorization_id = authorization["url"], authorization["id"]
    ask = types.ElicitRequestURLParams(
        message=f"Tool '{tool}' needs your permission to access your account.",
        url=url,
        elicitation_id=authorization_id,
    )
    return types.InputRequiredResult(
        input_requests={AUTHORIZE_INPUT: types.ElicitRequest(params=ask)}, request_state=authorization_id
    )


def _mcp_error(exc: ValetkeyError) -> MCPError:
    code = types.INVALID_PARAMS if 400 <= exc.status < 500 else types.INTERNAL_ERROR
    return MCPError(code, exc.message, data={"name": exc.code})


class McpGatewayServer:
    """``tools/list`` and ``tools/call`` for the calling gateway and user.

    Args:
        tools: The catalog as the gateways see it.
        rpc: The gateway's NATS client.
        execute_timeout: Seconds to wait for a tool run (the longest tool timeout, plus a margin).
        await_authorization: Waits for an authorization to finish (the long-poll's own wait).
        state_key: Seals ``requestState`` (:func:`request_state_key`).
    """

    def __init__(
        self,
        tools: GatewayTools,
        rpc: Callable[[], RpcClient],
        execute_timeout: float,
        *,
        await_authorization: AwaitAuthorization,
        state_key: bytes,
    ) -> None:
        self._tools = tools
        self._rpc = rpc
        self._timeout = execute_timeout
        self._await_authorization = await_authorization
        self.server: Server[Any] = Server(
            "valetkey", version="0.1.0", on_list_tools=self.list_tools, on_call_tool=self.call_tool
        )
        if not tracing.enabled():
            # The SDK's only default middleware opens an OpenTelemetry span per message: with
            # tracing off, a no-op that still cost more than the rest of a tools/call.
            self.server.middleware.clear()
        self.server.middleware.append(self._describe_gateway)
        security = RequestStateSecurity(keys=[state_key], ttl=REQUEST_STATE_TTL_S, bind_principal=_principal)
        self.server.middleware.append(RequestStateBoundary(security, default_audience="valetkey-mcp"))
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
    ) -> types.CallToolResult | types.InputRequiredResult:
        """Run a tool of the gateway for the caller, as ``POST /v1/tools/execute`` does."""
        caller = caller_of(ctx)
        try:
            tool = await self._tools.find(caller.gateway, params.name)
            if tool is None:
                raise MCPError(
                    types.INVALID_PARAMS, f"unknown tool {params.name} on gateway {caller.gateway.slug}"
                )
            command = ExecuteTool(
                tool_name=tool.qualified_name,
                input=dict(params.arguments or {}),
                user_id=caller.user_id,
                project=caller.gateway.project,
            )
            result = await self._execute(command)
            if result["outcome"] == "authorization_required":
                if params.request_state and _went_to_url(params):
                    result = await self._after_consent(command, params.request_state, result)
                elif _opens_urls(ctx) and not params.input_responses:
                    return _ask_to_open(result["authorization"], tool.qualified_name)
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

    async def _execute(self, command: ExecuteTool) -> dict[str, Any]:
        return dict(await self._rpc().call_raw(subjects.TOOLS_EXECUTE, command, timeout=self._timeout))

    async def _after_consent(
        self, command: ExecuteTool, authorization_id: str, unauthorized: dict[str, Any]
    ) -> dict[str, Any]:
        """The tool run once the authorization the user was sent to has completed; if it fails or
        is not done within ``CONSENT_WAIT_S``, the answer that asks for it (with its URL)."""
        finished = await self._await_authorization(authorization_id, command.project, CONSENT_WAIT_S)
        if finished.get("status") != "completed":
            return unauthorized
        return await self._execute(command)

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
