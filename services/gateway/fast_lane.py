"""The three routes agents call hardest, served beneath FastAPI's per-request machinery.

An agent checks ``GET /v1/auth/status`` and ``POST /v1/tools/authorize`` before its tool
calls, then calls ``POST /v1/tools/execute``. FastAPI's way to those routes (its middleware
layers, routing over every route, dependency solving and validation) cost about as much
gateway CPU as the rest of the request: ~1 ms of a tool call's 3 ms at one client
(docs/performance.md). This pure ASGI layer answers the plain form of those requests itself:
a key in the header, an ``id`` and no ``wait``, or a small declared JSON body. It uses the
same key check, body models, NATS request and answer functions as the FastAPI routes, and
errors raised there leave in the same error shape. Everything else goes on to FastAPI
unchanged: other routes, long-polls, odd queries or bodies (FastAPI gives their errors), and
requests asking for valetkey's extra fields. FastAPI also keeps the OpenAPI document.

A completed status or tools.authorize answer the service marked cacheable is repeated from the
gateway's answer cache (``shared/bus/answer_cache.py``) after the same key check and per-user limit, in the
same bytes, without the bus hop.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI
from pydantic import ValidationError
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from services.gateway.body_limit import timed_receive
from services.gateway.domain import ApiKeys
from services.gateway.errors import client_error, error_response
from services.gateway.middleware import ROUTE_KEY
from services.gateway.routes.auth import status_now
from services.gateway.routes.body import is_json
from services.gateway.routes.deps import authenticate, extras_asked, limit_user
from services.gateway.routes.tools import (
    AuthorizeToolRequest,
    ExecuteToolRequest,
    authorize_command,
    tool_authorization,
    tool_execution,
)
from services.gateway.wire import authorization_body
from shared.bus import subjects
from shared.bus.answer_cache import AnswerCache
from shared.bus.messaging import RpcClient
from shared.contracts.authorization import GetAuthorization
from shared.errors import ValetkeyError
from shared.runtime.config_arcade import DEFAULT_BODY_LIMIT
from shared.runtime.jsontext import dumps_compact
from shared.runtime.logging import get_logger

log = get_logger(__name__)

STATUS = ("GET", "/v1/auth/status")
TOOLS_AUTHORIZE = ("POST", "/v1/tools/authorize")
TOOLS_EXECUTE = ("POST", "/v1/tools/execute")
# The POST routes served here: their body model, and the answer once the body is valid.
Body = AuthorizeToolRequest | ExecuteToolRequest
Answer = Callable[[Body, RpcClient, str], Awaitable[Response]]


class FastLane:
    """ASGI app: serves the plain hot requests, hands the rest to ``app``."""

    def __init__(
        self,
        app: FastAPI,
        *,
        max_body_bytes: int = DEFAULT_BODY_LIMIT,
        read_timeout: float | None = None,
        answers: AnswerCache | None = None,
    ) -> None:
        self.app = app
        self._max_body_bytes = max_body_bytes
        self._read_timeout = read_timeout
        # Completed status and tools.authorize answers repeated without the bus hop
        # (shared/bus/answer_cache.py).
        self._answers = answers if answers is not None and answers.enabled else None
        self._posted: dict[tuple[str, str], tuple[type[Body], Answer]] = {
            TOOLS_AUTHORIZE: (AuthorizeToolRequest, self._authorize_tool),
            TOOLS_EXECUTE: (ExecuteToolRequest, self._execute_tool),
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not extras_asked(scope):
            route = (scope["method"], scope["path"])
            if route == STATUS and (auth_id := _plain_status_id(scope)):
                scope[ROUTE_KEY] = STATUS[1]
                await self._serve(scope, receive, send, partial(self._status, auth_id))
                return
            posted = self._posted.get(route)
            if posted is not None and _small_json(scope, self._max_body_bytes):
                try:
                    body, receive = await _read_body(timed_receive(receive, self._read_timeout))
                except ValetkeyError as exc:
                    await error_response(exc)(scope, receive, send)
                    return
                model, answer = posted
                try:
                    request = model.model_validate_json(body)
                except ValidationError:
                    pass  # FastAPI gives the error, from the same bytes
                else:
                    scope[ROUTE_KEY] = route[1]
                    await self._serve(scope, receive, send, partial(answer, request))
                    return
        await self.app(scope, receive, send)

    async def _status(self, auth_id: str, rpc: RpcClient, project: str) -> Response:
        if self._answers is None:
            return await status_now(rpc, auth_id, project)

        async def ask() -> tuple[Any, float]:
            lookup = GetAuthorization(authorization_id=auth_id, project=project)
            return await rpc.call_fresh(subjects.AUTH_STATUS, lookup)

        body, _ = await self._answers.serve(("status", project, auth_id), project, ask, _shaped)
        return _json(body)

    async def _authorize_tool(self, request: Body, rpc: RpcClient, project: str) -> Response:
        assert isinstance(request, AuthorizeToolRequest)
        await limit_user(self.app.state, project, request.user_id)
        if self._answers is None:
            return await tool_authorization(rpc, request, project)

        async def ask() -> tuple[Any, float]:
            return await rpc.call_fresh(subjects.TOOLS_AUTHORIZE, authorize_command(request, project))

        # The body's own fields: a request the command refuses is never answered, so never kept.
        key = (
            "authorize",
            project,
            request.user_id,
            request.tool_name,
            request.tool_version,
            request.next_uri,
        )
        body, _ = await self._answers.serve(key, project, ask, _shaped)
        return _json(body)

    async def _execute_tool(self, request: Body, rpc: RpcClient, project: str) -> Response:
        assert isinstance(request, ExecuteToolRequest)
        await limit_user(self.app.state, project, request.user_id)
        return await tool_execution(rpc, request, project, self.app.state.execute_timeout)

    async def _serve(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        answer: Callable[[RpcClient, str], Awaitable[Response]],
    ) -> None:
        state = self.app.state

        async def authenticated() -> Response:
            keys: ApiKeys = state.api_keys
            return await answer(state.rpc, authenticate(keys, scope).project)

        await answered(scope, receive, send, authenticated)


async def answered(
    scope: Scope, receive: Receive, send: Send, answer: Callable[[], Awaitable[Response]]
) -> None:
    """Send ``answer``'s response, or the gateway's error shape for what it raised (what
    FastAPI's exception handlers give the same routes; the completion lane uses it too)."""
    try:
        response = await answer()
    except ValetkeyError as exc:
        response = error_response(exc)
    except Exception as exc:
        if (error := client_error(exc)) is None:
            log.exception("http.crashed", path=scope["path"])
            error = ValetkeyError("internal error")
        response = error_response(error)
    await response(scope, receive, send)


def _shaped(result: dict[str, Any]) -> bytes:
    """An authorization as the status and tools.authorize routes write it (``JsonAnswer``)."""
    return dumps_compact(authorization_body(result))


def _json(body: bytes) -> Response:
    return Response(body, media_type="application/json")


def _plain_status_id(scope: Scope) -> str | None:
    """The ``id`` of a status read with one non-empty id and no ``wait``; else None."""
    query = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
    names = [name for name, _ in query]
    if names.count("id") != 1 or "wait" in names:
        return None
    return next(value for name, value in query if name == "id") or None


def _small_json(scope: Scope, limit: int) -> bool:
    """A JSON body whose declared length is within the gateway's limit."""
    headers = Headers(scope=scope)
    length = headers.get("content-length")
    return (
        is_json(headers.get("content-type", ""))
        and length is not None
        and length.isdigit()
        and int(length) <= limit
    )


async def _read_body(receive: Receive) -> tuple[bytes, Receive]:
    """The whole body, and a ``receive`` that gives it again to whoever reads next."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client went away: let the app see it too
            return b"".join(chunks), _replay(message, receive)
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    return body, _replay({"type": "http.request", "body": body, "more_body": False}, receive)


def _replay(first: Message, receive: Receive) -> Receive:
    pending = [first]

    async def replayed() -> Message:
        return pending.pop() if pending else await receive()

    return replayed
