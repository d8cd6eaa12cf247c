"""The executor's kept token records with the engine running as processes: a repeated execute
reads no token from Redis, and a refresh, a deletion or another user or project is seen at once.

One engine (the hooli provider at the real OAuth server, the hooli toolkit, whose
ReticulateSplines answers the fingerprint of the token it ran with) serves the module, with a
lifetime long enough that only the change notices can drop a record during a test. Whether an
execute read the token from Redis is read from Valkey's MONITOR.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
from redis.asyncio import Redis

from shared.tokens.model import connection_id_of
from tests.support.answer_reads import connect, http, status, with_project_key
from tests.support.client_stack import HOOLI_SCOPES, hooli_engine
from tests.support.engine import Engine
from tests.support.toolkits.hooli.tools import fingerprint

pytestmark = pytest.mark.e2e

OTHER_KEY = "vk_test_execute_token_cache_other_project"
SPLINES = "Hooli.ReticulateSplines"


@pytest.fixture(scope="module")
def engine(tmp_path_factory, nats_url, redis_url) -> Iterator[Engine]:
    home = tmp_path_factory.mktemp("execute-token-cache")
    env = {"VALETKEY_ANSWER_CACHE_SECONDS": "600"}
    with hooli_engine(
        home, nats_url=nats_url, redis_url=redis_url, tweak=with_project_key(OTHER_KEY), extra_env=env
    ) as (e, _):
        yield e


async def execute(engine: Engine, user: str, key: str | None = None) -> dict[str, Any]:
    async with http(engine, key) as api:
        body = {"tool_name": SPLINES, "input": {"num_splines": 1}, "user_id": user}
        answer = await api.post("/v1/tools/execute", json=body)
    return {"status_code": answer.status_code, **answer.json()}


def used_token(answer: dict[str, Any]) -> str:
    assert answer["status_code"] == 200 and answer["success"] is True, answer
    return str(answer["output"]["value"]["token_sha256_prefix"])


async def token_of(engine: Engine, auth_id: str) -> str:
    return fingerprint((await status(engine, auth_id)).json()["context"]["token"])


async def connection_of(engine: Engine, user: str) -> str:
    async with http(engine) as api:
        page = (await api.get("/v1/admin/user_connections", params={"user.id": user})).json()
    [connection] = page["items"]
    return str(connection["id"])


@contextlib.asynccontextmanager
async def monitored(redis_url: str) -> AsyncIterator[Callable[[], Awaitable[list[str]]]]:
    """Valkey's MONITOR while the body runs; the callable gives every command seen until then."""
    redis, probe = Redis.from_url(redis_url), Redis.from_url(redis_url)
    marker = f"monitor-end-{secrets.token_hex(4)}"

    async def seen() -> list[str]:
        await probe.echo(marker)
        commands: list[str] = []
        while marker not in (command := str((await monitor.next_command())["command"])):
            commands.append(command)
        return commands

    try:
        async with redis.monitor() as monitor:
            yield seen
    finally:
        await redis.aclose()
        await probe.aclose()


def token_gets(commands: list[str], user: str, project: str = "default") -> list[str]:
    record = f"token:{connection_id_of(user, 'hooli', project)}"
    return [c for c in commands if c.startswith("GET ") and record in c]


class TestRepeatedExecutes:
    async def test_a_second_execute_reads_no_token_from_redis(self, engine, redis_url):
        user, auth_id = await connect(engine, HOOLI_SCOPES)
        async with monitored(redis_url) as commands:
            first = used_token(await execute(engine, user))
            on_first = await commands()
            second = used_token(await execute(engine, user))
            third = used_token(await execute(engine, user))
            on_repeats = await commands()
        assert first == second == third == await token_of(engine, auth_id)
        assert len(token_gets(on_first, user)) == 1
        assert token_gets(on_repeats, user) == []

    async def test_each_user_and_project_runs_with_its_own_token_only(self, engine):
        alice, alice_auth = await connect(engine, HOOLI_SCOPES)
        bob, bob_auth = await connect(engine, HOOLI_SCOPES)
        for _ in range(2):
            assert used_token(await execute(engine, alice)) == await token_of(engine, alice_auth)
            assert used_token(await execute(engine, bob)) == await token_of(engine, bob_auth)
        elsewhere = await execute(engine, alice, key=OTHER_KEY)
        assert elsewhere["status_code"] != 200, elsewhere  # alice holds no hooli token in "other"
        assert "token_sha256_prefix" not in str(elsewhere)


class TestChangesAreSeenAtOnce:
    async def test_a_forced_refresh_is_used_by_the_next_execute(self, engine):
        user, auth_id = await connect(engine, HOOLI_SCOPES)
        before = used_token(await execute(engine, user))
        assert used_token(await execute(engine, user)) == before  # kept
        async with http(engine) as api:
            refreshed = await api.post(
                f"/v1/admin/user_connections/{await connection_of(engine, user)}/refresh"
            )
        assert refreshed.json()["status"] == "refreshed"
        after = used_token(await execute(engine, user))
        assert after != before and after == await token_of(engine, auth_id)

    async def test_a_deleted_connection_makes_the_next_execute_ask_for_authorization(self, engine):
        user, _ = await connect(engine, HOOLI_SCOPES)
        used_token(await execute(engine, user))
        used_token(await execute(engine, user))  # kept
        async with http(engine) as api:
            deleted = await api.delete(f"/v1/admin/user_connections/{await connection_of(engine, user)}")
        assert deleted.status_code in (200, 204), deleted.text
        answer = await execute(engine, user)
        assert answer["status_code"] == 403 and answer["name"] == "tool_authorization_required", answer
