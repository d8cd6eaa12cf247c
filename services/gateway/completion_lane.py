"""The two requests a finishing authorization waits on, served beneath FastAPI's machinery.

Completion (an OAuth callback arriving -> the agent's waiting ``GET /v1/auth/status?wait=``
answered, docs/performance.md) crosses the gateway twice: the browser's callback on its way to
the authorizer, and the long-poll's answer on its way back. FastAPI's layers (its middleware,
routing over every route, dependency solving, the route's return) cost ~0.5 ms before the
callback's route and ~0.5-1 ms after the long-poll wakes. This pure ASGI layer calls the same
functions those routes call (``oauth_callback``; ``status_now`` and ``awaited_status`` with the
same key check), so the answers, pages and error shapes are theirs. It takes only the plain
forms: a long-poll with one ``id`` and one ``wait`` in digits, a callback ``GET``; everything
else goes on to ``app`` unchanged (FastAPI gives odd queries their errors).
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from services.gateway.domain import ApiKeys
from services.gateway.fast_lane import answered
from services.gateway.middleware import ROUTE_KEY
from services.gateway.routes.auth import status_answer
from services.gateway.routes.auth_pages import oauth_callback
from services.gateway.routes.deps import authenticate, extras_asked
from shared.contracts.authorization import CALLBACK_PATH

STATUS = ("GET", "/v1/auth/status")
CALLBACK = ("GET", CALLBACK_PATH)


class CompletionLane:
    """ASGI app: serves plain long-polls and callbacks, hands the rest to ``inner``.

    Args:
        inner: What answers everything else (the fast lane, then FastAPI).
        app: The FastAPI app whose state (keys, NATS client, waiters, limits) the routes use.
    """

    def __init__(self, inner: ASGIApp, app: FastAPI) -> None:
        self.inner = inner
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            route = (scope["method"], scope["path"])
            if route == CALLBACK:
                scope[ROUTE_KEY], scope["app"] = CALLBACK_PATH, self.app
                await answered(scope, receive, send, lambda: oauth_callback(Request(scope, receive)))
                return
            if route == STATUS and (asked := _plain_wait(scope)) is not None:
                scope[ROUTE_KEY] = STATUS[1]
                await answered(scope, receive, send, lambda: self._status(scope, *asked))
                return
        await self.inner(scope, receive, send)

    async def _status(self, scope: Scope, auth_id: str, wait: int) -> Response:
        """What the status route answers (``routes/auth.py``), for a key-checked caller."""
        state = self.app.state
        keys: ApiKeys = state.api_keys
        project = authenticate(keys, scope).project
        return await status_answer(state, auth_id, project, wait, extras=extras_asked(scope))


def _plain_wait(scope: Scope) -> tuple[str, int] | None:
    """``(id, wait)`` of a status read with one non-empty id and one ``wait`` in digits; else None."""
    query = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
    names = [name for name, _ in query]
    if names.count("id") != 1 or names.count("wait") != 1:
        return None
    found = dict(query)
    auth_id, wait = found["id"], found["wait"]
    if not auth_id or not (wait.isascii() and wait.isdigit()) or len(wait) > 9:
        return None
    return auth_id, int(wait)
