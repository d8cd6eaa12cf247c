"""The gateway's answer cache, bounded: an answer ends at its token's refresh point whatever the
cache's lifetime, and a lifetime of 0 turns the cache off. Each test runs an engine of its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from redis.asyncio import Redis

from shared.runtime.crypto import Cipher, RootKey
from shared.tokens.model import RefreshPolicy, StoredToken
from shared.tokens.store import TokenStore
from tests.support.answer_reads import connect, held, status, status_reads
from tests.support.client_stack import HOOLI_SCOPES, hooli_engine
from tests.support.engine import Engine

pytestmark = pytest.mark.e2e

DUE_AFTER_S = 12  # a one-hour token falls due this long after it was issued, under this policy:
DUE_SOON = RefreshPolicy(margin_seconds=3600 - DUE_AFTER_S, lifetime_fraction=0.99)


def due_soon(config: dict[str, Any]) -> None:
    config["refresh"] = {
        "margin_seconds": DUE_SOON.margin_seconds,
        "lifetime_fraction": DUE_SOON.lifetime_fraction,
    }


@pytest.fixture
def long_lived_answers(tmp_path, nats_url, redis_url) -> Iterator[Engine]:
    """Answers kept for 10 minutes unless their token's refresh point comes first."""
    env = {"VALETKEY_ANSWER_CACHE_SECONDS": "600"}
    with hooli_engine(tmp_path, nats_url=nats_url, redis_url=redis_url, tweak=due_soon, extra_env=env) as (
        e,
        _,
    ):
        yield e


@pytest.fixture
def no_cache(tmp_path, nats_url, redis_url) -> Iterator[Engine]:
    env = {"VALETKEY_ANSWER_CACHE_SECONDS": "0"}
    with hooli_engine(tmp_path, nats_url=nats_url, redis_url=redis_url, extra_env=env) as (e, _):
        yield e


async def stored(engine: Engine, redis_url: str, user: str) -> StoredToken:
    """The user's hooli token as the engine keeps it."""
    redis = Redis.from_url(redis_url)
    [root] = engine.config["security"]["root_keys"]
    cipher = Cipher([RootKey(root["id"], root["value"], True)])
    store = TokenStore(redis, cipher, RefreshPolicy(), prefix=engine.env["VALETKEY_KEY_PREFIX"])
    try:
        token = await store.get(user, "hooli")
    finally:
        await redis.aclose()
    assert token is not None
    return token


class TestRefreshPoint:
    async def test_an_answer_is_not_served_from_the_cache_past_its_tokens_refresh_point(
        self, long_lived_answers, redis_url
    ):
        engine = long_lived_answers
        engine.stop_service("token_refresher")  # no refresh, so no notice: only fresh_until ends it
        user, _ = await connect(engine, HOOLI_SCOPES)
        due = DUE_SOON.due_at(await stored(engine, redis_url, user))
        assert due is not None
        connection_auth = (await held(engine, user, HOOLI_SCOPES))["id"]
        await status(engine, connection_auth)
        reads = status_reads(engine)
        await status(engine, connection_auth)
        if datetime.now(UTC) < due:  # still before the refresh point: it came from the cache
            assert status_reads(engine) == reads
        await asyncio.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds()) + 0.5)
        reads = status_reads(engine)
        late = await status(engine, connection_auth)
        assert late.status_code == 200 and status_reads(engine) == reads + 1


class TestCacheOff:
    async def test_a_cache_set_to_zero_sends_every_read_to_the_authorizer_as_before(self, no_cache):
        _, auth_id = await connect(no_cache, HOOLI_SCOPES)
        reads = status_reads(no_cache)
        first, second = await status(no_cache, auth_id), await status(no_cache, auth_id)
        assert first.content == second.content and first.json()["status"] == "completed"
        assert status_reads(no_cache) == reads + 2
