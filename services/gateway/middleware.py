"""Pure ASGI middleware: one redacted log line per request, without BaseHTTPMiddleware's cost.

``@app.middleware("http")`` wraps every request in extra tasks and streams; on the hot
path (``/v1/auth/status``, ``/v1/tools/authorize``) that costs more than the route itself.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.logging import get_logger

log = get_logger("services.gateway.http")


class RequestLog:
    """Logs method, path, redacted query, status and milliseconds for each HTTP request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status: dict[str, Any] = {"code": 500}

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            log.info(
                "http.request",
                method=scope["method"],
                path=scope["path"],
                query=scope.get("query_string", b"").decode("latin-1"),
                status=status["code"],
                ms=round((time.perf_counter() - started) * 1000, 2),
            )
