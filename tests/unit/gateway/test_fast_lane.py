"""The fast lane answers the plain hot requests itself and hands everything else to FastAPI."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from nats.errors import MaxPayloadError

from services.gateway.domain import ApiKeys, Principal
from services.gateway.fast_lane import FastLane
from shared.errors import NotFound

KEY = "lane-test-key"


class Rpc:
    """Records the requests (and their timeouts); answers like the services, or raises what it is told to."""

    def __init__(self, answer: Any = None, error: Exception | None = None) -> None:
        self.answer, self.error, self.calls, self.timeouts = answer, error, [], []

    async def call_raw(self, subject: str, request: Any, *, timeout: float | None = None) -> Any:
        request.model_dump_json()  # as the real client sends it
        self.calls.append((subject, request))
        self.timeouts.append(timeout)
        if self.error is not None:
            raise self.error
        return self.answer


def lane(rpc: Rpc) -> tuple[httpx.AsyncClient, list[bytes]]:
    """A client for ``FastLane(app)``; ``app`` records what reaches FastAPI."""
    reached: list[bytes] = []
    app = FastAPI()
    app.state.api_keys, app.state.rpc = ApiKeys([(KEY, Principal("default", "admin"))]), rpc
    app.state.execute_timeout = 42.0

    @app.api_route("/{path:path}", methods=["GET", "POST"])
    async def fastapi_route(request: Request) -> dict[str, str]:
        reached.append(await request.body())
        return {"answered_by": "fastapi"}

    transport = httpx.ASGITransport(app=FastLane(app))
    return httpx.AsyncClient(
        transport=transport, base_url="http://gw", headers={"Authorization": KEY}
    ), reached


JSON = {"content-type": "application/json"}
DONE = {"id": "ac_1", "status": "completed", "url": None, "context": {"token": "t", "user_info": None}}


class TestStatus:
    async def test_a_plain_status_read_is_answered_in_arcades_shape(self):
        rpc = Rpc(DONE)
        client, reached = lane(rpc)
        response = await client.get("/v1/auth/status", params={"id": "ac_1"})
        assert response.json() == {"id": "ac_1", "status": "completed", "context": {"token": "t"}}
        assert [c[1].authorization_id for c in rpc.calls] == ["ac_1"] and reached == []

    @pytest.mark.parametrize(
        "query", ["id=ac_1&wait=5", "", "id=", "id=a&id=b"], ids=["long-poll", "no id", "empty id", "two ids"]
    )
    async def test_a_long_poll_or_an_odd_query_goes_on_to_fastapi(self, query):
        rpc = Rpc(DONE)
        client, _ = lane(rpc)
        response = await client.get(f"/v1/auth/status?{query}")
        assert response.json() == {"answered_by": "fastapi"} and rpc.calls == []

    async def test_a_wrong_key_is_a_401_in_the_error_shape(self):
        rpc = Rpc(DONE)
        client, _ = lane(rpc)
        response = await client.get("/v1/auth/status?id=ac_1", headers={"Authorization": "Bearer nope"})
        assert response.status_code == 401 and response.json()["name"] == "unauthorized"
        assert rpc.calls == []

    async def test_a_service_error_keeps_its_status_shape_and_retry_header(self):
        client, _ = lane(Rpc(error=NotFound("authorization 'ac_1' not found")))
        response = await client.get("/v1/auth/status?id=ac_1")
        assert (response.status_code, response.json()["name"]) == (404, "not_found")
        assert response.headers["x-should-retry"] == "false"

    async def test_an_unexpected_failure_is_a_500_in_the_error_shape_without_a_trace(self):
        client, _ = lane(Rpc(error=RuntimeError("secret detail")))
        response = await client.get("/v1/auth/status?id=ac_1")
        assert response.status_code == 500 and response.json() == {
            "name": "internal_error",
            "message": "internal error",
        }


class TestToolsAuthorize:
    async def test_a_plain_request_is_answered_with_the_authorization_url_too(self):
        rpc = Rpc({"id": "ac_2", "status": "pending", "url": "https://idp/authorize"})
        client, reached = lane(rpc)
        response = await client.post("/v1/tools/authorize", json={"tool_name": "Hooli.Ping", "user_id": "u"})
        assert response.json()["authorization_url"] == "https://idp/authorize" and reached == []
        assert rpc.calls[0][1].tool_name == "Hooli.Ping"

    async def test_a_body_it_cannot_read_reaches_fastapi_byte_for_byte(self):
        rpc = Rpc({})
        client, reached = lane(rpc)
        body = b'{"tool_name": 3}'
        response = await client.post(
            "/v1/tools/authorize", content=body, headers={"content-type": "application/json"}
        )
        assert response.json() == {"answered_by": "fastapi"} and reached == [body] and rpc.calls == []

    async def test_a_body_that_is_not_declared_json_goes_on_to_fastapi(self):
        client, reached = lane(Rpc({}))
        await client.post(
            "/v1/tools/authorize", content=b"tool_name=x", headers={"content-type": "text/plain"}
        )
        assert reached == [b"tool_name=x"]

    async def test_a_missing_user_id_is_a_400_in_the_error_shape(self):
        rpc = Rpc({})
        client, _ = lane(rpc)
        response = await client.post("/v1/tools/authorize", json={"tool_name": "Hooli.Ping"})
        assert response.status_code == 400 and "user_id" in response.json()["message"] and rpc.calls == []


RAN = {
    "id": "te_1",
    "execution_id": "ex_1",
    "duration": 1.5,
    "finished_at": "2026-01-01T00:00:00Z",
    "tool_name": "Hooli.Ping",
    "outcome": "completed",
    "value": {"pong": True},
}


class TestToolsExecute:
    async def test_a_plain_run_is_answered_in_arcades_shape_and_is_never_retried(self):
        rpc = Rpc(RAN)
        client, reached = lane(rpc)
        response = await client.post("/v1/tools/execute", json={"tool_name": "Hooli.Ping", "user_id": "u"})
        assert response.status_code == 200 and reached == []
        assert response.json()["output"] == {"value": {"pong": True}, "logs": []}
        assert response.headers["x-should-retry"] == "false"
        assert [(subject, r.tool_name, r.project) for subject, r in rpc.calls] == [
            ("vk.tools.execute", "Hooli.Ping", "default")
        ]

    async def test_the_run_waits_as_long_as_the_longest_tool_may_take(self):
        rpc = Rpc(RAN)
        client, _ = lane(rpc)
        await client.post("/v1/tools/execute", json={"tool_name": "Hooli.Ping"})
        assert rpc.timeouts == [42.0]

    async def test_an_executor_error_is_never_retried_since_the_tool_may_have_run(self):
        client, _ = lane(Rpc(error=NotFound("tool 'Hooli.Nope' not found")))
        response = await client.post("/v1/tools/execute", json={"tool_name": "Hooli.Nope"})
        assert (response.status_code, response.json()["name"]) == (404, "not_found")
        assert response.headers["x-should-retry"] == "false"

    async def test_a_command_too_large_for_the_bus_is_a_413_not_a_crash(self):
        client, _ = lane(Rpc(error=MaxPayloadError()))
        response = await client.post("/v1/tools/execute", json={"tool_name": "Hooli.Ping"})
        assert (response.status_code, response.json()["name"]) == (413, "payload_too_large")

    async def test_a_body_it_cannot_read_reaches_fastapi_byte_for_byte(self):
        rpc = Rpc(RAN)
        client, reached = lane(rpc)
        body = b'{"input": []}'
        response = await client.post("/v1/tools/execute", content=body, headers=JSON)
        assert response.json() == {"answered_by": "fastapi"} and reached == [body] and rpc.calls == []


async def test_other_routes_go_on_to_fastapi():
    client, _ = lane(Rpc(DONE))
    assert (await client.get("/v1/tools")).json() == {"answered_by": "fastapi"}
