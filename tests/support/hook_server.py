"""A Contextual Access plugin server (docs/contextual-access.md) for tests and the bench: Arcade's
webhook contract (``POST /access``, ``/pre``, ``/post``) on a loopback port, in a thread.

Its policy is fixed: user ``mallory`` may use no Hooli tool; ``Hooli.Nap`` always naps 0 seconds
(its input rewritten); ``Hooli.Ping``'s answer is redacted. Every other call is let through.
Requests without the expected bearer token are refused with 401.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tools.launcher import embedded

DENIED_USER = "mallory"
REDACTED = "[redacted]"


@dataclass
class HookServer:
    url: str
    token: str
    received: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


def access(body: dict[str, Any]) -> dict[str, Any]:
    if body.get("user_id") == DENIED_USER:
        return {"deny": {"Hooli": {}}, "error_message": f"{DENIED_USER} may not use Hooli"}
    return {}


def pre(body: dict[str, Any]) -> dict[str, Any]:
    if body["tool"]["name"] == "Nap":
        return {"code": "OK", "override": {"inputs": {"seconds": 0.0}}}
    return {"code": "OK"}


def post(body: dict[str, Any]) -> dict[str, Any]:
    if body["tool"]["name"] == "Ping":
        return {"code": "OK", "override": {"output": {"value": REDACTED}}}
    return {"code": "OK"}


def app_of(server: HookServer, *, record: bool) -> Starlette:
    answers = {"access": access, "pre": pre, "post": post}

    async def answer(request: Request) -> JSONResponse:
        if request.headers.get("authorization") != f"Bearer {server.token}":
            return JSONResponse({"error": "wrong token"}, status_code=401)
        point = request.path_params["point"]
        body = await request.json()
        if record:
            server.received.append((point, body))
        return JSONResponse(answers[point](body))

    return Starlette(routes=[Route("/{point:str}", answer, methods=["POST"])])


@contextmanager
def running_hook_server(token: str = "hook-token", *, record: bool = True) -> Iterator[HookServer]:
    """The server on a free loopback port until the block ends."""
    port = embedded.free_port()
    server = HookServer(url=f"http://127.0.0.1:{port}", token=token)
    config = uvicorn.Config(app_of(server, record=record), host="127.0.0.1", port=port, log_level="warning")
    runner = uvicorn.Server(config)
    thread = threading.Thread(target=runner.run, name="hook-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not runner.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the hook server did not start")
        time.sleep(0.02)
    try:
        yield server
    finally:
        runner.should_exit = True
        thread.join(timeout=10)
