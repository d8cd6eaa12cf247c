"""The gateway's answer cache with the engine running as processes: a completed status read or a
tools.authorize is repeated without the bus, and every write that changes it is seen at once.

One engine (the hooli provider at the real OAuth server, the hooli toolkit) serves the module;
test_answer_cache_lifetime.py has the token's refresh point bounding an answer, and the cache
turned off (engines of their own: two engines on one NATS would answer each other). Whether a
read reached the authorizer is read from its own request lines (``rpc.handled``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.answer_reads import connect, held, http, status, status_reads, with_project_key
from tests.support.auth_flows import new_user
from tests.support.browser import consent_and_follow
from tests.support.client_stack import HOOLI_SCOPES, hooli_engine
from tests.support.engine import Engine

pytestmark = pytest.mark.e2e

OTHER_KEY = "vk_test_answer_cache_other_project"
SPLINES = "Hooli.ReticulateSplines"


@pytest.fixture(scope="module")
def engine(tmp_path_factory, nats_url, redis_url) -> Iterator[Engine]:
    home = tmp_path_factory.mktemp("answer-cache")
    with hooli_engine(home, nats_url=nats_url, redis_url=redis_url, tweak=with_project_key(OTHER_KEY)) as (
        e,
        _,
    ):
        yield e


async def authorize_tool(engine: Engine, user: str, tool: str = SPLINES) -> dict[str, Any]:
    async with http(engine) as api:
        answer = await api.post("/v1/tools/authorize", json={"tool_name": tool, "user_id": user})
    assert answer.status_code == 200, answer.text
    return answer.json()


async def status_hits(engine: Engine) -> float:
    """The gateway's count of status reads answered from the cache (``/metrics``)."""
    async with http(engine) as api:
        text = (await api.get("/metrics")).text
    wanted = 'valetkey_answer_cache_reads_total{outcome="hit",route="status"} '
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(wanted))


async def connection_id(engine: Engine, user: str) -> str:
    async with http(engine) as api:
        page = (await api.get("/v1/admin/user_connections", params={"user.id": user})).json()
    [connection] = page["items"]
    return str(connection["id"])


class TestRepeatedReads:
    async def test_a_completed_status_read_twice_is_the_same_answer_and_the_second_skips_the_authorizer(
        self, engine
    ):
        _, auth_id = await connect(engine, HOOLI_SCOPES)
        first = await status(engine, auth_id)
        reads, hits = status_reads(engine), await status_hits(engine)
        second = await status(engine, auth_id)
        assert first.status_code == second.status_code == 200
        assert first.content == second.content and first.json()["status"] == "completed"
        assert status_reads(engine) == reads
        assert await status_hits(engine) == hits + 1  # and an operator sees it as a hit

    async def test_another_projects_key_never_gets_the_cached_answer(self, engine):
        _, auth_id = await connect(engine, HOOLI_SCOPES)
        assert (await status(engine, auth_id)).status_code == 200
        assert (await status(engine, auth_id)).status_code == 200  # now cached for the default project
        stranger = await status(engine, auth_id, key=OTHER_KEY)
        assert stranger.status_code == 404 and stranger.json()["name"] == "not_found"


class TestWritesAreSeenAtOnce:
    async def test_a_forced_refresh_then_an_immediate_status_read_shows_the_new_token(self, engine):
        user, auth_id = await connect(engine, HOOLI_SCOPES)
        before = (await status(engine, auth_id)).json()["context"]["token"]
        assert (await status(engine, auth_id)).json()["context"]["token"] == before  # served from the cache
        async with http(engine) as api:
            refreshed = await api.post(
                f"/v1/admin/user_connections/{await connection_id(engine, user)}/refresh"
            )
        assert refreshed.json()["status"] == "refreshed"
        after = (await status(engine, auth_id)).json()["context"]["token"]
        assert after != before

    async def test_a_deleted_connection_then_an_immediate_status_read_shows_it_gone(self, engine):
        user, _ = await connect(engine, HOOLI_SCOPES)
        connection_auth = (await held(engine, user, HOOLI_SCOPES))["id"]
        assert (await status(engine, connection_auth)).status_code == 200
        assert (await status(engine, connection_auth)).status_code == 200  # cached
        async with http(engine) as api:
            deleted = await api.delete(f"/v1/admin/user_connections/{await connection_id(engine, user)}")
        assert deleted.status_code in (200, 204), deleted.text
        gone = await status(engine, connection_auth)
        assert gone.status_code == 404 and gone.json()["name"] == "not_found"

    async def test_an_incremental_scope_authorization_then_tools_authorize_reflects_it(self, engine):
        user, _ = await connect(engine, ["scope1"])
        connection_auth = (await held(engine, user, ["scope1"]))["id"]
        narrow = (await status(engine, connection_auth)).json()
        assert (await status(engine, connection_auth)).json() == narrow  # cached
        pending = await authorize_tool(engine, user)  # needs scope2 too: a flow for the union
        assert pending["status"] == "pending"
        await consent_and_follow(pending["url"], login=user, callback_prefix=engine.redirect_uri)
        async with http(engine) as api:
            await api.get("/v1/auth/status", params={"id": pending["id"], "wait": 30})
        wide = await authorize_tool(engine, user)
        assert wide["status"] == "completed" and wide["context"]["token"] != narrow["context"]["token"]
        now = (await status(engine, connection_auth)).json()
        assert now["context"]["token"] == wide["context"]["token"] and "scope2" in now["scopes"]

    async def test_a_tool_needing_no_authorization_is_answered_again_from_the_cache(self, engine):
        user = new_user("cache")
        first = await authorize_tool(engine, user, "Hooli.Ping")
        assert first == await authorize_tool(engine, user, "Hooli.Ping")
        assert first["status"] == "completed"
