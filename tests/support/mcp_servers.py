"""Remote MCP servers over Streamable HTTP, as users build them, for the MCP-worker tests.

Run as ``python -m tests.support.mcp_servers plain --port N [--key K]`` or ``... arcade --port N``
(from the repo root). ``plain`` is the official ``mcp`` SDK's MCPServer (FastMCP in mcp 1.x); with
``--key`` it answers 401 to any request without the header ``X-Notes-Key: K``, as an API-key
protected server does. ``arcade`` is an arcade-mcp-server ``MCPApp`` with one plain tool and one that
``requires_auth`` (it asks ``HOOLI_USERINFO_URL`` who the token's user is); with ``ARCADE_WORKER_SECRET``
in its environment it also serves Arcade's worker routes (``/worker/*``). Both serve MCP at ``/mcp``.
"""

# No ``from __future__ import annotations``: both SDKs read the tools' annotations at runtime.
import argparse
import asyncio
import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import httpx
import uvicorn
from arcade_mcp_server import Context, MCPApp
from arcade_mcp_server.auth import OAuth2
from mcp.server.mcpserver import MCPServer
from pydantic import Field
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tests.support.deadlines import PROCESS_START_S
from tests.support.processes import serving_process
from tests.support.worker_app import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
KEY_HEADER = "X-Notes-Key"


def serve_plain(port: int, key: str | None) -> None:
    """The plain SDK server: arithmetic, an echo, a crash and a nap."""
    server = MCPServer("notes", instructions="Small tools for tests.")

    @server.tool()
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    @server.tool()
    def echo(text: Annotated[str, Field(description="What to say back")], times: int = 1) -> str:
        """Say the text back, joined ``times`` times."""
        return " ".join([text] * times)

    @server.tool()
    def explode() -> str:
        """Always fails."""
        raise ValueError("kaboom")

    @server.tool()
    async def nap(seconds: float) -> str:
        """Sleep, then answer."""
        await asyncio.sleep(seconds)
        return "rested"

    async def require_key(request: Request, call_next: Any) -> Response:
        if key is not None and request.headers.get(KEY_HEADER) != key:
            return JSONResponse({"error": "missing or wrong API key"}, status_code=401)
        response: Response = await call_next(request)
        return response

    app = server.streamable_http_app(stateless_http=True, json_response=True)
    app.add_middleware(BaseHTTPMiddleware, dispatch=require_key)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def serve_arcade(port: int) -> None:
    """An arcade-mcp-server app: a greeting, and a tool that needs the user's Hooli token."""
    app = MCPApp(name="Greeter", version="1.0.0", log_level="WARNING")

    @app.tool
    def greet(name: Annotated[str, "Who to greet"]) -> str:
        """Greet someone by name."""
        return f"Hello, {name}!"

    @app.tool(requires_auth=OAuth2(id="hooli", scopes=["scope1"]))
    def whoami(context: Context) -> str:
        """Who Hooli says the user is: its userinfo ``sub``, asked with the user's token."""
        token = context.get_auth_token_or_empty()
        answer = httpx.get(os.environ["HOOLI_USERINFO_URL"], headers={"Authorization": f"Bearer {token}"})
        return str(answer.json()["sub"])

    app.run(host="127.0.0.1", port=port, transport="http")


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and serve until killed."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("kind", choices=["plain", "arcade"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--key")
    args = parser.parse_args(argv)
    if args.kind == "plain":
        serve_plain(args.port, args.key)
    else:
        serve_arcade(args.port)


@contextlib.contextmanager
def running_mcp_server(
    kind: str, *, key: str | None = None, env: dict[str, str] | None = None
) -> Iterator[str]:
    """Run one of the servers as a subprocess; yield its MCP URL (``.../mcp``); stop it after."""
    port = free_port()
    args = [sys.executable, "-m", "tests.support.mcp_servers", kind, "--port", str(port)]
    if key is not None:
        args += ["--key", key]
    url = f"http://127.0.0.1:{port}/mcp"

    def listening() -> bool:
        httpx.get(url, timeout=1)  # any answer means it listens
        return True

    with serving_process(
        args, ready=listening, what="MCP server", cwd=REPO_ROOT, env=env, start_timeout_s=PROCESS_START_S
    ):
        yield url


if __name__ == "__main__":
    main()
