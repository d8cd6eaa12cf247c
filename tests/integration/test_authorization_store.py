"""The authorizer's flow records in a real Redis-compatible server, and the completed-record cache."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from services.authorizer.adapters import RedisAuthorizationStore
from services.authorizer.domain import AuthorizationRecord, AuthorizationSecrets
from shared.bus.outbox import Outbox
from shared.runtime.crypto import Cipher, RootKey
from shared.runtime.redisio import create_redis

pytestmark = pytest.mark.integration


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator:
    client = create_redis(redis_url)
    yield client
    await client.aclose()


def _store(redis, prefix: str, ttl: int = 3600) -> RedisAuthorizationStore:
    cipher = Cipher([RootKey("k1", "flow-store-test-key-" + "x" * 20, default=True)])
    return RedisAuthorizationStore(
        redis, cipher, Outbox(redis, prefix=prefix), prefix=prefix, record_ttl_seconds=ttl
    )


def _pending(auth_id: str) -> AuthorizationRecord:
    now = datetime.now(UTC)
    return AuthorizationRecord(
        id=auth_id,
        user_id="u1",
        provider_id="hooli",
        scopes=["a"],
        created_at=now,
        updated_at=now,
        secrets=AuthorizationSecrets(code_verifier="v" * 43),
    )


class TestRecords:
    async def test_a_pending_record_round_trips_with_its_secrets(self, redis):
        store, record = _store(redis, "fs1"), _pending("ac_round")
        await store.create(record, state="s-round", ttl_seconds=60)
        assert await store.get("ac_round") == record

    async def test_a_pending_record_is_read_from_redis_every_time(self, redis):
        prefix = "fs2"
        reader, writer = _store(redis, prefix), _store(redis, prefix)
        record = _pending("ac_pending")
        await writer.create(record, state="s-pending", ttl_seconds=60)
        assert (await reader.get("ac_pending")).stage == "consent"
        await writer.save(record.advance(datetime.now(UTC), stage="exchanging"))
        assert (await reader.get("ac_pending")).stage == "exchanging"


class TestStates:
    async def test_a_state_is_consumed_once_and_gives_back_its_pending_record(self, redis):
        store, record = _store(redis, "fs6"), _pending("ac_state")
        await store.create(record, state="s-once", ttl_seconds=60)
        claim = await store.consume_state("s-once")
        assert (claim.authorization_id, claim.provider_id, claim.record) == ("ac_state", "hooli", record)
        assert await store.consume_state("s-once") is None

    async def test_a_state_is_stored_with_its_secrets_encrypted(self, redis):
        store, record = _store(redis, "fs7"), _pending("ac_sealed")
        await store.create(record, state="s-sealed", ttl_seconds=60)
        keys = [k async for k in redis.scan_iter("fs7:*")]
        values = [await redis.get(k) for k in keys]
        assert values and not any(b"v" * 43 in v for v in values)


class TestCompletedRecords:
    async def test_a_completed_record_is_served_from_the_process_after_one_read(self, redis):
        prefix = "fs3"
        reader, writer = _store(redis, prefix), _store(redis, prefix)
        done = _pending("ac_done").completed(["a", "b"], datetime.now(UTC))
        await writer.save(done)
        assert await reader.get("ac_done") == done
        await redis.delete(f"{prefix}:authz:ac_done")  # proof that no second read happens
        assert await reader.get("ac_done") == done

    async def test_a_cached_record_is_forgotten_when_its_redis_key_expires(self, redis):
        store = _store(redis, "fs4", ttl=1)
        done = _pending("ac_brief").completed(["a"], datetime.now(UTC))
        await store.save(done)
        assert await store.get("ac_brief") == done
        await asyncio.sleep(1.2)
        assert await store.get("ac_brief") is None

    async def test_an_unknown_record_is_none(self, redis):
        store = _store(redis, "fs5")
        assert await store.get("ac_" + secrets.token_hex(4)) is None
