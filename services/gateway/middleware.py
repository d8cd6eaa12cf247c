"""Pure ASGI middleware: one redacted log line and the HTTP metrics per request, without
BaseHTTPMiddleware's cost.

``@app.middleware("http")`` wraps every request in extra tasks and streams; on the hot
path (``/v1/auth/status``, ``/v1/tools/authorize``) that costs more than the route itself.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.runtime import metrics
from shared.runtime.logging import get_logger, request_line_due

log = get_logger("services.gateway.http")
# Set by a layer that answers a route beneath FastAPI's router (the fast lane).
ROUTE_KEY = "valetkey.route"


def route_of(scope: Scope) -> str | None:
    """The route template that answered (FastAPI's, or the fast lane's), once routed."""
    return getattr(scope.get("route"), "path", None) or scope.get(ROUTE_KEY)


# Paths whose last part is a capability (an end-user link's signed token): logged without it.
_CAPABILITY_PATHS = ("/connect/",)


def loggable_path(path: str) -> str:
    for prefix in _CAPABILITY_PATHS:
        if path.startswith(prefix):
            rest = path[len(prefix) :].partition("/")[2]
            return f"{prefix}<link>" + (f"/{rest}" if rest else "")
    return path


class RequestLog:
    """Logs method, path, redacted query, status and milliseconds for each HTTP request (one
    answered request in ``VALETKEY_REQUEST_LOG_SAMPLE`` when set; every 4xx and 5xx)."""

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
            seconds = time.perf_counter() - started
            route = route_of(scope) or "unmatched"
            metrics.http_request(route, scope["method"], status["code"], seconds)
            if status["code"] >= 400 or request_line_due():
                log.info(
                    "http.request",
                    method=scope["method"],
                    path=loggable_path(scope["path"]),
                    query=scope.get("query_string", b"").decode("latin-1"),
                    status=status["code"],
                    ms=round(seconds * 1000, 2),
                )
