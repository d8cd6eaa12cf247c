"""With the answer cache, the fast lane repeats a cacheable answer without the bus, after the
same key check and per-user limit, in the same bytes."""

from __future__ import annotations

import math
from typing import Any

import httpx
from fastapi import FastAPI

from services.gateway.domain import ApiKeys, Principal
from services.gateway.fast_lane import FastLane
from shared.bus.answer_cache import AnswerCache
from shared.errors import RateLimited

KEY, OTHER_KEY = "lane-key-p", "lane-key-q"
DONE = {
    "id": "ac_1",
    "status": "completed",
    "user_id": "u",
    "provider_id": "github",
    "context": {"token": "t", "user_info": None},
}


class Rpc:
    def __init__(self, answer: Any, fresh_until: float = math.inf) -> None:
        self.answer, self.fresh_until, self.calls = answer, fresh_until, []

    async def call_fresh(self, subject: str, request: Any, *, timeout: float | None = None) -> Any:
        self.calls.append((subject, request))
        return self.answer, self.fresh_until

    async def call_raw(self, subject: str, request: Any, *, timeout: float | None = None) -> Any:
        self.calls.append((subject, request))
        return self.answer


class Limit:
    def __init__(self) -> None:
        self.checked: list[tuple[str, str | None]] = []
        self.refuse = False

    async def check(self, project: str, user_id: str | None) -> None:
        self.checked.append((project, user_id))
        if self.refuse:
            raise RateLimited("over the limit", retry_after=1)


def lane(rpc: Rpc, seconds: float = 2.0) -> tuple[httpx.AsyncClient, AnswerCache, Limit]:
    app = FastAPI()
    keys = ApiKeys([(KEY, Principal("p", "admin")), (OTHER_KEY, Principal("q", "admin"))])
    app.state.api_keys, app.state.rpc, app.state.user_limit = keys, rpc, Limit()
    answers = AnswerCache(seconds=seconds)
    transport = httpx.ASGITransport(app=FastLane(app, answers=answers))
    client = httpx.AsyncClient(transport=transport, base_url="http://gw", headers={"Authorization": KEY})
    return client, answers, app.state.user_limit


class TestStatusFromTheCache:
    async def test_a_second_read_is_the_same_answer_without_a_bus_request(self):
        rpc = Rpc(DONE)
        client, _, _ = lane(rpc)
        first = await client.get("/v1/auth/status", params={"id": "ac_1"})
        second = await client.get("/v1/auth/status", params={"id": "ac_1"})
        assert first.status_code == second.status_code == 200
        assert first.content == second.content and first.headers == second.headers
        assert len(rpc.calls) == 1

    async def test_a_wrong_key_is_refused_even_when_the_answer_is_kept(self):
        client, _, _ = lane(Rpc(DONE))
        await client.get("/v1/auth/status", params={"id": "ac_1"})
        refused = await client.get("/v1/auth/status?id=ac_1", headers={"Authorization": "Bearer nope"})
        assert refused.status_code == 401

    async def test_another_projects_key_never_gets_the_kept_answer(self):
        rpc = Rpc(DONE)
        client, _, _ = lane(rpc)
        await client.get("/v1/auth/status", params={"id": "ac_1"})
        await client.get("/v1/auth/status?id=ac_1", headers={"Authorization": OTHER_KEY})
        assert [call[1].project for call in rpc.calls] == ["p", "q"]

    async def test_an_answer_not_marked_cacheable_is_asked_for_every_time(self):
        rpc = Rpc({**DONE, "status": "pending"}, fresh_until=-math.inf)
        client, _, _ = lane(rpc)
        await client.get("/v1/auth/status", params={"id": "ac_1"})
        await client.get("/v1/auth/status", params={"id": "ac_1"})
        assert len(rpc.calls) == 2

    async def test_with_the_cache_off_every_read_goes_to_the_bus_the_old_way(self):
        rpc = Rpc(DONE)
        client, _, _ = lane(rpc, seconds=0)
        await client.get("/v1/auth/status", params={"id": "ac_1"})
        await client.get("/v1/auth/status", params={"id": "ac_1"})
        assert len(rpc.calls) == 2


class TestToolsAuthorizeFromTheCache:
    BODY = {"tool_name": "Github.ListRepos", "user_id": "u"}

    async def test_a_repeated_authorization_is_answered_from_the_cache_after_the_user_limit(self):
        rpc = Rpc(DONE)
        client, _, limit = lane(rpc)
        first = await client.post("/v1/tools/authorize", json=self.BODY)
        second = await client.post("/v1/tools/authorize", json=self.BODY)
        assert first.content == second.content and len(rpc.calls) == 1
        assert limit.checked == [("p", "u"), ("p", "u")]
        limit.refuse = True
        assert (await client.post("/v1/tools/authorize", json=self.BODY)).status_code == 429

    async def test_another_tool_version_or_next_uri_is_another_answer(self):
        rpc = Rpc(DONE)
        client, _, _ = lane(rpc)
        await client.post("/v1/tools/authorize", json=self.BODY)
        await client.post("/v1/tools/authorize", json={**self.BODY, "tool_version": "2.0.0"})
        await client.post("/v1/tools/authorize", json={**self.BODY, "next_uri": "https://app.example/x"})
        assert len(rpc.calls) == 3

    async def test_a_notice_about_the_users_connection_sends_the_next_one_to_the_bus(self):
        rpc = Rpc(DONE)
        client, answers, _ = lane(rpc)
        await client.post("/v1/tools/authorize", json=self.BODY)
        answers.forget("p", "u", "github")
        await client.post("/v1/tools/authorize", json=self.BODY)
        assert len(rpc.calls) == 2


async def test_a_cached_answer_is_byte_for_byte_what_the_lane_writes_without_the_cache():
    plain, _, _ = lane(Rpc(DONE), seconds=0)
    cached, _, _ = lane(Rpc(DONE))
    before = await plain.get("/v1/auth/status", params={"id": "ac_1"})
    await cached.get("/v1/auth/status", params={"id": "ac_1"})
    after = await cached.get("/v1/auth/status", params={"id": "ac_1"})
    assert (after.status_code, after.headers, after.content) == (
        before.status_code,
        before.headers,
        before.content,
    )
