"""The gateway starts without the MCP SDK's server; the first MCP request builds it once, and
the gateway's stop ends its sessions."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from services.gateway.mcp.on_demand import ServerOnDemand

ROOT = Path(__file__).resolve().parents[3]
MODULES = "import json, sys; import services.gateway.app; print(json.dumps(sorted(sys.modules)))"


def test_importing_the_gateway_loads_no_mcp_sdk():
    out = subprocess.run([sys.executable, "-c", MODULES], cwd=ROOT, capture_output=True, text=True)
    modules = set(json.loads(out.stdout))
    assert "services.gateway.app" in modules  # the import itself happened
    assert not {m for m in modules if m in ("mcp", "mcp_types") or m.startswith(("mcp.", "mcp_types."))}


class Sessions:
    """A session manager's two faces: ``run()`` spans the server's life, requests come in between."""

    def __init__(self, fail_at_start: bool = False) -> None:
        self.fail_at_start, self.running, self.handled = fail_at_start, False, 0

    def run(self) -> Any:
        sessions = self

        class Running:
            async def __aenter__(self) -> None:
                if sessions.fail_at_start:
                    raise RuntimeError("cannot start")
                sessions.running = True

            async def __aexit__(self, *exc: object) -> None:
                sessions.running = False

        return Running()

    async def handle_request(self, scope: Any, receive: Any, send: Any) -> None:
        assert self.running
        self.handled += 1


class Server:
    def __init__(self, sessions: Sessions) -> None:
        self.sessions = sessions


async def test_the_first_requests_build_one_server_and_the_stop_ends_its_sessions():
    built: list[Server] = []

    def build() -> Any:
        built.append(Server(Sessions()))
        return built[-1]

    on_demand = ServerOnDemand(build)
    assert not on_demand.built
    await asyncio.gather(*(on_demand.handle({}, None, None) for _ in range(5)))
    assert len(built) == 1
    assert built[0].sessions.handled == 5
    await on_demand.stop()
    assert not built[0].sessions.running


async def test_a_stop_before_any_request_builds_nothing():
    on_demand = ServerOnDemand(lambda: pytest.fail("built"))
    await on_demand.stop()
    assert not on_demand.built


async def test_a_session_manager_that_cannot_start_fails_the_request_and_the_next_one_tries_again():
    attempts: list[Sessions] = []

    def build() -> Any:
        attempts.append(Sessions(fail_at_start=len(attempts) == 0))
        return Server(attempts[-1])

    on_demand = ServerOnDemand(build)
    with pytest.raises(RuntimeError, match="cannot start"):
        await on_demand.handle({}, None, None)
    assert not on_demand.built
    await on_demand.handle({}, None, None)
    assert attempts[-1].handled == 1
    await on_demand.stop()


async def test_a_stop_after_a_failed_start_ends_nothing_and_raises_nothing():
    on_demand = ServerOnDemand(lambda: Server(Sessions(fail_at_start=True)))
    with pytest.raises(RuntimeError):
        await on_demand.handle({}, None, None)
    await on_demand.stop()
