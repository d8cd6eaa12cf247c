"""The index of authorizations in flight (services/authorizer/in_flight.py) in a real Valkey: written
with each step of a flow's record, read by the console across every shard."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import pytest

from services.authorizer.adapters import RedisAuthorizationStore
from services.authorizer.domain import AuthorizationRecord
from services.authorizer.in_flight import InFlightReader, in_flight_key
from shared.contracts.authorization import InFlightQuery
from shared.contracts.events import AuthorizationCompleted
from shared.contracts.webhooks import EventCountsQuery
from shared.runtime.crypto import Cipher, RootKey
from shared.runtime.keyspace import Keyspace
from shared.tokens.model import RefreshPolicy, StoredToken
from shared.tokens.store import TokenStore

pytestmark = pytest.mark.integration

CIPHER = Cipher([RootKey("k1", "in-flight-test-key-" + "x" * 20, default=True)])


def _parts(redis, shards: int = 1) -> tuple[Keyspace, RedisAuthorizationStore, InFlightReader]:
    keyspace = Keyspace(f"inf{secrets.token_hex(3)}", shards)
    tokens = TokenStore(redis, CIPHER, RefreshPolicy(), keyspace=keyspace)
    store = RedisAuthorizationStore(redis, CIPHER, tokens, prefix=keyspace.prefix, record_ttl_seconds=3600)
    return keyspace, store, InFlightReader(redis, keyspace)


def _started(
    auth_id: str, user: str = "alice", *, project: str = "default", ttl: int = 600
) -> AuthorizationRecord:
    now = datetime.now(UTC)
    return AuthorizationRecord(
        id=auth_id,
        user_id=user,
        provider_id="hooli",
        project=project,
        scopes=["mail.read"],
        created_at=now,
        updated_at=now,
        state_expires_at=now + timedelta(seconds=ttl),
    )


async def _listed(reader: InFlightReader, project: str = "default") -> dict[str, str]:
    found = await reader.list(InFlightQuery(project=project))
    assert found.total_count == len(found.items)
    return {item.id: item.stage for item in found.items}


class TestInFlight:
    async def test_a_started_authorization_is_in_flight_until_it_fails(self, redis):
        _, store, reader = _parts(redis)
        record = _started("ac_one")
        await store.create(record, state="s-one", ttl_seconds=600)
        assert await _listed(reader) == {"ac_one": "consent"}
        deadline = datetime.now(UTC) + timedelta(seconds=30)
        claimed = record.claimed(datetime.now(UTC), deadline_at=deadline)
        await store.transition("consent", claimed)
        item = (await reader.list(InFlightQuery())).items[0]
        assert (item.stage, item.user_id, item.scopes) == ("exchanging", "alice", ["mail.read"])
        assert abs(datetime.fromisoformat(item.until) - deadline) < timedelta(milliseconds=1)
        await store.transition("exchanging", claimed.failed("access_denied", datetime.now(UTC)))
        assert await _listed(reader) == {}

    async def test_a_completed_authorization_leaves_the_index_with_its_token_write(self, redis):
        _, store, reader = _parts(redis)
        record = _started("ac_done")
        await store.create(record, state="s-done", ttl_seconds=600)
        now = datetime.now(UTC)
        claimed = record.claimed(now, deadline_at=now + timedelta(seconds=30))
        await store.transition("consent", claimed)
        token = StoredToken(access_token="at", issued_at=now, scopes=["mail.read"])
        event = AuthorizationCompleted(
            authorization_id=record.id, user_id="alice", provider_id="hooli", scopes=["mail.read"]
        )
        assert (
            await store.complete("exchanging", claimed.completed(["a"], now), token, events=[event])
        ).applied
        assert await _listed(reader) == {}

    async def test_a_flow_abandoned_at_the_provider_drops_out_when_its_state_expires(self, redis):
        keyspace, store, reader = _parts(redis)
        await store.create(_started("ac_gone", ttl=-1), state="s-gone", ttl_seconds=1)
        await store.create(_started("ac_live"), state="s-live", ttl_seconds=600)
        assert await _listed(reader) == {"ac_live": "consent"}
        members = await redis.zrange(in_flight_key(keyspace, 0, "default"), 0, -1)
        assert members == [b"ac_live"]  # the next start pruned the expired one
        assert 0 < await redis.ttl(in_flight_key(keyspace, 0, "default")) <= 3600

    async def test_each_project_sees_its_own_authorizations_only(self, redis):
        _, store, reader = _parts(redis)
        await store.create(_started("ac_a", project="acme"), state="s-a", ttl_seconds=600)
        await store.create(_started("ac_b", project="globex"), state="s-b", ttl_seconds=600)
        assert (await _listed(reader, "acme"), await _listed(reader, "globex")) == (
            {"ac_a": "consent"},
            {"ac_b": "consent"},
        )

    async def test_on_several_shards_the_list_reads_every_shard_newest_first(self, redis):
        keyspace, store, reader = _parts(redis, shards=4)
        ids = [keyspace.mint(f"ac_{n}", n, kind="ac") for n in range(4)]
        for n, auth_id in enumerate(ids):
            await store.create(
                _started(auth_id, f"user{n}"), state=keyspace.mint(f"s{n}", n), ttl_seconds=600
            )
        found = await reader.list(InFlightQuery())
        assert [item.id for item in found.items] == ids[::-1] and found.total_count == 4
        shards = {in_flight_key(keyspace, n, "default") for n in range(4)}
        assert await redis.exists(*shards) == 4  # one index a shard, each beside its records

    async def test_each_start_is_counted_in_its_hour_across_the_shards(self, redis):
        keyspace, store, reader = _parts(redis, shards=4)
        for n in range(3):
            await store.create(
                _started(keyspace.mint(f"ac_c{n}", n, kind="ac")), state=f"s{n}", ttl_seconds=600
            )
        await store.create(_started("ac_other", project="globex"), state="s-other", ttl_seconds=600)
        counted = await reader.started(EventCountsQuery(hours=2))
        # Three in this hour (or, at the turn of an hour, over the last two): never another project's.
        assert sum(counted.counts["authorization.started"]) == 3 and len(counted.hours) == 2
