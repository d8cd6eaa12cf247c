"""Arcade's project-scoped paths reach the same routes as ``/v1/...``, for the key's own project only."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI, Request

from services.gateway.domain import ApiKeys, Principal
from services.gateway.fast_lane import FastLane
from services.gateway.project_paths import ProjectPaths
from services.gateway.routes.deps import PATH_PROJECT_KEY

KEY = "paths-test-key"
DONE = {"id": "ac_1", "status": "completed", "url": None, "context": {"token": "t", "user_info": None}}


class Rpc:
    def __init__(self) -> None:
        self.calls: list[Any] = []

    async def call_raw(self, subject: str, request: Any, **_: Any) -> Any:
        self.calls.append((subject, request))
        return DONE


def gateway(rpc: Rpc) -> httpx.AsyncClient:
    """``ProjectPaths(FastLane(app))`` as the server stacks them; ``app`` echoes what reached it."""
    app = FastAPI()
    app.state.api_keys, app.state.rpc = ApiKeys([(KEY, Principal("acme", "agent"))]), rpc

    @app.get("/{path:path}")
    async def echo(request: Request) -> dict[str, Any]:
        scope = request.scope
        return {
            "path": scope["path"],
            "raw": scope["raw_path"].decode(),
            "project": scope.get(PATH_PROJECT_KEY),
        }

    transport = httpx.ASGITransport(app=ProjectPaths(FastLane(app)))
    return httpx.AsyncClient(transport=transport, base_url="http://gw", headers={"Authorization": KEY})


async def test_a_scoped_path_reaches_the_plain_route_with_its_project_noted():
    response = await gateway(Rpc()).get("/v1/orgs/o-1/projects/acme/tools/Hooli.Ping%2Fx")
    assert response.json() == {
        "path": "/v1/tools/Hooli.Ping/x",
        "raw": "/v1/tools/Hooli.Ping%2Fx",
        "project": "acme",
    }


async def test_the_fast_lane_serves_a_scoped_status_read_of_the_keys_project():
    rpc = Rpc()
    response = await gateway(rpc).get("/v1/orgs/o-1/projects/acme/auth/status", params={"id": "ac_1"})
    assert response.json()["status"] == "completed" and len(rpc.calls) == 1


async def test_a_key_on_another_projects_path_is_a_403_before_any_service_is_asked():
    rpc = Rpc()
    response = await gateway(rpc).get("/v1/orgs/o-1/projects/other/auth/status", params={"id": "ac_1"})
    assert (response.status_code, response.json()["name"]) == (403, "project_forbidden") and rpc.calls == []


async def test_paths_that_are_not_project_scoped_pass_unchanged():
    client = gateway(Rpc())
    assert (await client.get("/v1/orgs/o-1/tools")).json()["path"] == "/v1/orgs/o-1/tools"
    assert (await client.get("/v1/tools")).json()["project"] is None
