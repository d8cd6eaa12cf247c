"""Pure ASGI middleware: refuse request bodies above a limit with 413 in Arcade's error shape,
and bodies slower than ``api.read_timeout`` with 408.

A declared ``Content-Length`` over the limit is answered at once, before the body is read;
a chunked body is counted as it arrives and stopped once it passes the limit. Either way
nothing too big for a NATS message (1 MiB by default) reaches the services.
"""

from __future__ import annotations

import asyncio
import json
import time

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.errors import RequestTimeout


def timed_receive(receive: Receive, seconds: float | None) -> Receive:
    """``receive``, answering ``RequestTimeout`` once the body takes more than ``seconds`` from
    the first read (None: no limit)."""
    if seconds is None:
        return receive
    deadline = time.monotonic() + seconds

    async def timed() -> Message:
        try:
            async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                return await receive()
        except TimeoutError:
            raise RequestTimeout(
                f"the request body took more than {seconds:g} s (api.read_timeout)"
            ) from None

    return timed


class BodyLimit:
    def __init__(self, app: ASGIApp, *, max_bytes: int, read_timeout: float | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.read_timeout = read_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD"):  # the hot paths stay bare
            await self.app(scope, receive, send)
            return
        if self._declared(scope) > self.max_bytes:
            await self._refuse(send)
            return
        seen = 0
        timed = timed_receive(receive, self.read_timeout)

        async def counted() -> Message:
            nonlocal seen
            message = await timed()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise HTTPException(status_code=413)  # errors.py turns it into the error body
            return message

        await self.app(scope, counted, send)

    @staticmethod
    def _declared(scope: Scope) -> int:
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    return int(value)
                except ValueError:
                    return 0
        return 0

    async def _refuse(self, send: Send) -> None:
        body = json.dumps(
            {"name": "payload_too_large", "message": f"request body larger than {self.max_bytes} bytes"}
        ).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"x-should-retry", b"false"),
            (b"connection", b"close"),
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})
