"""The completion lane answers plain long-polls and callbacks itself and hands the rest on."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request

from services.gateway.adapters import CompletionWaiters
from services.gateway.completion_lane import CompletionLane
from services.gateway.domain import ApiKeys, Principal
from shared.contracts.authorization import Authorization, CallbackOutcome

KEY = "lane-test-key"
PENDING = {"id": "ac_1", "status": "pending", "url": "https://idp/auth", "context": None}
DONE = {"id": "ac_1", "status": "completed", "url": None, "context": {"token": "t", "user_info": None}}


class Rpc:
    """Answers status reads with ``status`` and callbacks with ``outcome``; records the subjects."""

    def __init__(self, status: Any, outcome: CallbackOutcome | None = None) -> None:
        self.status, self.outcome, self.subjects = status, outcome, []
        self.read = asyncio.Event()

    async def call_raw(self, subject: str, request: Any, *, timeout: float | None = None) -> Any:
        self.subjects.append(subject)
        self.read.set()
        return self.status

    async def call(self, subject: str, request: Any, result: type, *, timeout: float | None = None) -> Any:
        self.subjects.append(subject)
        return self.outcome


def lane(rpc: Rpc) -> tuple[httpx.AsyncClient, list[str]]:
    """A client for ``CompletionLane``; ``inner`` records what reaches it."""
    reached: list[str] = []
    app = FastAPI()
    app.state.api_keys, app.state.rpc = ApiKeys([(KEY, Principal("default", "admin"))]), rpc
    app.state.waiters, app.state.gateway = CompletionWaiters(), SimpleNamespace(max_wait_seconds=59)

    @app.api_route("/{path:path}", methods=["GET", "POST"])
    async def inner(request: Request) -> dict[str, str]:
        reached.append(request.url.path)
        return {"answered_by": "inner"}

    transport = httpx.ASGITransport(app=CompletionLane(app, app))
    client = httpx.AsyncClient(transport=transport, base_url="http://gw", headers={"Authorization": KEY})
    return client, reached


class TestLongPoll:
    async def test_a_finished_authorization_is_answered_at_once_in_arcades_shape(self):
        client, reached = lane(Rpc(DONE))
        response = await client.get("/v1/auth/status", params={"id": "ac_1", "wait": "30"})
        assert response.json() == {"id": "ac_1", "status": "completed", "context": {"token": "t"}}
        assert reached == []

    async def test_a_waiting_long_poll_is_answered_with_what_a_callback_hands_over(self):
        done = Authorization(id="ac_1", status="completed", context={"token": "t"})
        outcome = CallbackOutcome(status="completed", authorization=done)
        rpc = Rpc(PENDING, outcome)
        client, reached = lane(rpc)
        poll = asyncio.create_task(client.get("/v1/auth/status", params={"id": "ac_1", "wait": "30"}))
        await rpc.read.wait()  # the long-poll has read the status: it waits now
        page = await client.get("/oauth/callback", params={"state": "s", "code": "c"})
        assert page.status_code == 200 and "Authorization complete" in page.text
        assert (await poll).json()["status"] == "completed"
        assert reached == []

    @pytest.mark.parametrize(
        "query",
        ["id=ac_1", "id=ac_1&wait=x", "id=ac_1&wait=5&wait=6", "id=&wait=5", "wait=5"],
        ids=["no wait", "wait not a number", "two waits", "empty id", "no id"],
    )
    async def test_any_other_status_query_goes_on(self, query):
        client, reached = lane(Rpc(DONE))
        response = await client.get(f"/v1/auth/status?{query}")
        assert response.json() == {"answered_by": "inner"} and reached == ["/v1/auth/status"]

    async def test_a_wrong_key_is_a_401_in_the_error_shape(self):
        rpc = Rpc(DONE)
        client, _ = lane(rpc)
        response = await client.get("/v1/auth/status?id=ac_1&wait=5", headers={"Authorization": "nope"})
        assert response.status_code == 401 and response.json()["name"] == "unauthorized"
        assert rpc.subjects == []


class TestCallback:
    async def test_a_failed_flow_gets_the_failure_page(self):
        outcome = CallbackOutcome(status="failed", message="The provider refused the code.")
        client, reached = lane(Rpc(DONE, outcome))
        page = await client.get("/oauth/callback", params={"state": "s", "code": "c"})
        assert page.status_code == 400 and "refused the code" in page.text and reached == []

    async def test_other_methods_and_paths_go_on(self):
        client, reached = lane(Rpc(DONE))
        await client.post("/oauth/callback")
        await client.get("/v1/health")
        assert reached == ["/oauth/callback", "/v1/health"]
