"""The MCP server, built at the first MCP request rather than at every gateway start.

The ``mcp`` SDK's server side (with its starlette and pydantic models) is about a fifth of the
gateway's import time, and most deployments, and most of the engines a test run starts, serve no
MCP request. The first request to ``/mcp/{slug}`` imports and builds it; its session manager then
runs in a task of its own until the gateway stops (an anyio task group must end in the task that
began it, so not in the request's).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

from starlette.types import Receive, Scope, Send

if TYPE_CHECKING:
    from services.gateway.mcp.server import McpGatewayServer


class ServerOnDemand:
    """Builds the server with ``build`` once, on the first request; :meth:`stop` ends its sessions."""

    def __init__(self, build: Callable[[], McpGatewayServer]) -> None:
        self._build = build
        self._server: McpGatewayServer | None = None
        self._starting = asyncio.Lock()
        self._stopping = asyncio.Event()
        self._running: asyncio.Task[None] | None = None

    @property
    def built(self) -> bool:
        return self._server is not None

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        server = self._server or await self._start()
        await server.sessions.handle_request(scope, receive, send)

    async def _start(self) -> McpGatewayServer:
        async with self._starting:
            if self._server is None:
                server = self._build()
                ready = asyncio.Event()
                self._running = asyncio.create_task(self._run(server, ready), name="mcp-sessions")
                waiting = asyncio.create_task(ready.wait())
                await asyncio.wait({waiting, self._running}, return_when=asyncio.FIRST_COMPLETED)
                if not ready.is_set():  # the session manager failed to start: say why
                    waiting.cancel()
                    failed, self._running = self._running, None
                    await failed
                self._server = server
        return self._server

    async def _run(self, server: McpGatewayServer, ready: asyncio.Event) -> None:
        async with server.sessions.run():
            ready.set()
            await self._stopping.wait()

    async def stop(self) -> None:
        self._stopping.set()
        if self._running is not None:
            await self._running
