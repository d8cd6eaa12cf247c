"""``engine.yaml`` ``api``'s time limits, as a pure ASGI layer around the whole gateway
(docs/config.md); ``api.rate_limit`` is ``rate_limit.py``'s.

- :class:`AnswerDeadline` (``api.write_timeout``): a request not answered in time is cut off
  with 503 ``answer_timeout`` (retryable); long-polls wait at most this long less a second.
- ``api.read_timeout`` is enforced where bodies are read (``body_limit.py``, the fast lane):
  a body that has not arrived in time is answered 408 ``request_timeout``.
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.gateway.errors import error_response
from shared.errors import AnswerTimeout
from shared.runtime.logging import get_logger

log = get_logger(__name__)


class AnswerDeadline:
    """Cut off a request not answered within ``seconds``: 503 ``answer_timeout`` if nothing was
    sent yet; a response already started is ended where it is."""

    def __init__(self, app: ASGIApp, *, seconds: float) -> None:
        self.app = app
        self._seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            async with asyncio.timeout(self._seconds):
                await self.app(scope, receive, tracked)
        except TimeoutError:
            if started:
                raise
            log.warning("http.deadline", path=scope["path"], seconds=self._seconds)
            error = AnswerTimeout(f"not answered within {self._seconds:g} s (api.write_timeout)")
            await error_response(error)(scope, receive, send)
