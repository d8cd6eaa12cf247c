"""The gateway's answers checked against its own OpenAPI document (``VALETKEY_CHECK_RESPONSES``).

Every JSON answer to an operation of ``/openapi.json`` is validated, as a strict generated client
decodes it (services/gateway/wire_document.py), against the schema documented for its status (an
undocumented error status against Arcade's error schema). An answer that does not fit is sent
unchanged and logged as ``wire.response_unfit`` with the operation and what is wrong, field names
only, never a value. Answers to requests asking for valetkey's extras (``Valetkey-Extras: true``,
docs/arcade-compatibility.md §1.6) carry more by design and are not checked, nor are streams.

The test suite turns it on for every engine and fails a test whose engine logged one, so every
answer the end-to-end tests receive is checked. It costs a schema validation per answer.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.gateway.middleware import route_of
from services.gateway.routes.deps import extras_asked
from services.gateway.wire_document import WireDocument
from shared.runtime.logging import get_logger

log = get_logger(__name__)
# Bodies larger than this are not kept for the check (no documented answer comes near it).
MAX_CHECKED_BYTES = 2 * 1024 * 1024


class ResponseCheck:
    """ASGI middleware: checks each answer of ``app`` against ``document()`` (read at first use)."""

    def __init__(self, app: ASGIApp, document: Callable[[], dict[str, Any]]) -> None:
        self.app = app
        self._document = document
        self._wire: WireDocument | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or extras_asked(scope):
            await self.app(scope, receive, send)
            return
        answer: dict[str, Any] = {"status": 0, "json": False, "body": bytearray(), "whole": True}

        async def keep(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
                content_type = dict(message.get("headers", [])).get(b"content-type", b"")
                answer["json"] = content_type.startswith(b"application/json")
            elif message["type"] == "http.response.body" and answer["json"]:
                body: bytearray = answer["body"]
                if len(body) + len(message.get("body", b"")) > MAX_CHECKED_BYTES:
                    answer["whole"] = False
                else:
                    body += message.get("body", b"")
                if not message.get("more_body", False) and answer["whole"]:
                    self._check(scope, answer["status"], bytes(body))
            await send(message)

        await self.app(scope, receive, keep)

    def _check(self, scope: Scope, status: int, body: bytes) -> None:
        route = route_of(scope)
        if route is None:
            return
        if self._wire is None:
            self._wire = WireDocument(self._document())
        try:
            problems = self._wire.problems(scope["method"], route, status, json.loads(body or b"null"))
        except ValueError:
            problems = ["the body is not JSON"]
        if problems:
            log.warning(
                "wire.response_unfit", method=scope["method"], route=route, status=status, problems=problems
            )
