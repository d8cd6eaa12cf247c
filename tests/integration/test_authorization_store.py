"""The authorizer's flow records in a real Redis-compatible server: compare-and-set transitions,
their events and deadlines, the completion with its token, and the completed-record cache."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime, timedelta

import pytest

from services.authorizer.adapters import RedisAuthorizationStore
from services.authorizer.domain import AuthorizationRecord, AuthorizationSecrets
from services.authorizer.ports import Transition
from shared.contracts.events import AuthorizationCompleted, AuthorizationFailed
from shared.runtime.crypto import Cipher, RootKey
from shared.runtime.keyspace import Keyspace
from shared.tokens.model import RefreshPolicy, StoredToken, connection_id_of
from shared.tokens.store import TokenStore

pytestmark = pytest.mark.integration


CIPHER = Cipher([RootKey("k1", "flow-store-test-key-" + "x" * 20, default=True)])


def _tokens(redis, prefix: str) -> TokenStore:
    return TokenStore(redis, CIPHER, RefreshPolicy(), prefix=prefix)


def _store(redis, prefix: str, ttl: int = 3600) -> RedisAuthorizationStore:
    return RedisAuthorizationStore(
        redis, CIPHER, _tokens(redis, prefix), prefix=prefix, record_ttl_seconds=ttl
    )


def _failed_event(record: AuthorizationRecord, reason: str) -> AuthorizationFailed:
    return AuthorizationFailed(
        authorization_id=record.id, user_id=record.user_id, provider_id=record.provider_id, reason=reason
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
        soon = datetime.now(UTC) + timedelta(seconds=5)
        await writer.transition("consent", record.claimed(datetime.now(UTC), deadline_at=soon))
        assert (await reader.get("ac_pending")).stage == "exchanging"


class TestTransitions:
    async def test_of_two_claims_from_one_stage_only_the_first_applies(self, redis):
        store, record = _store(redis, "fs8"), _pending("ac_twice")
        await store.create(record, state="s-twice", ttl_seconds=60)
        soon = datetime.now(UTC) + timedelta(seconds=5)
        first, second = await asyncio.gather(
            store.transition("consent", record.claimed(datetime.now(UTC), deadline_at=soon)),
            store.transition("consent", record.claimed(datetime.now(UTC), deadline_at=soon)),
        )
        assert sorted([first.applied, second.applied]) == [False, True]
        loser = second if first.applied else first
        assert loser.record.stage == "exchanging"

    async def test_a_failure_carries_its_event_only_when_it_applies(self, redis):
        prefix = "fs9"
        store, record = _store(redis, prefix), _pending("ac_fail")
        await store.create(record, state="s-fail", ttl_seconds=60)
        failed = record.failed("access_denied", datetime.now(UTC))
        applied = await store.transition("consent", failed, events=[_failed_event(record, "access_denied")])
        refused = await store.transition("consent", failed, events=[_failed_event(record, "again")])
        assert (applied.applied, refused.applied, refused.record.failure_reason) == (
            True,
            False,
            "access_denied",
        )
        reasons = [e.reason for e in await _tokens(redis, prefix).outbox.pending()]
        assert reasons == ["access_denied"]

    async def test_a_claim_enters_the_deadlines_and_the_final_transition_leaves_them(self, redis):
        store, record = _store(redis, "fs10"), _pending("ac_deadline")
        await store.create(record, state="s-deadline", ttl_seconds=60)
        past = datetime.now(UTC) - timedelta(seconds=1)
        claimed = record.claimed(datetime.now(UTC), deadline_at=past)
        await store.transition("consent", claimed)
        assert await store.overdue(datetime.now(UTC), limit=10) == ["ac_deadline"]
        await store.transition("exchanging", claimed.failed("exchange_interrupted", datetime.now(UTC)))
        assert await store.overdue(datetime.now(UTC), limit=10) == []

    async def test_a_claim_by_a_live_state_applies_once_and_enters_the_deadlines(self, redis):
        store, record = _store(redis, "fs20"), _pending("ac_by_state")
        await store.create(record, state="s-by-state", ttl_seconds=60)
        past = datetime.now(UTC) - timedelta(seconds=1)
        claimed = record.claimed(datetime.now(UTC), deadline_at=past)
        first = await store.claim("s-by-state", claimed)
        again = await store.claim("s-by-state", claimed)
        assert first == Transition(applied=True, record=claimed)
        assert again is not None and not again.applied and again.record == claimed
        assert await store.overdue(datetime.now(UTC), limit=10) == ["ac_by_state"]

    async def test_a_claim_by_a_state_that_expired_changes_nothing(self, redis):
        store, record = _store(redis, "fs21"), _pending("ac_late_state")
        await store.create(record, state="s-late", ttl_seconds=60)
        await redis.delete(store._state_key("state", "s-late"))  # as its TTL would
        soon = datetime.now(UTC) + timedelta(seconds=5)
        assert await store.claim("s-late", record.claimed(datetime.now(UTC), deadline_at=soon)) is None
        assert (await store.get("ac_late_state")).stage == "consent"

    async def test_a_completion_stores_the_token_and_its_event_with_the_record(self, redis):
        prefix = "fs11"
        store, tokens, record = _store(redis, prefix), _tokens(redis, prefix), _pending("ac_complete")
        await store.create(record, state="s-complete", ttl_seconds=60)
        claimed = record.claimed(datetime.now(UTC), deadline_at=datetime.now(UTC) + timedelta(seconds=9))
        await store.transition("consent", claimed)
        token = StoredToken(access_token="at-1", issued_at=datetime.now(UTC), scopes=["a"])
        event = AuthorizationCompleted(
            authorization_id=record.id, user_id="u1", provider_id="hooli", scopes=["a"]
        )
        done = claimed.completed(["a"], datetime.now(UTC))
        applied = await store.complete("exchanging", done, token, events=[event])
        assert applied.applied and (await store.get(record.id)).status == "completed"
        assert (await tokens.get("u1", "hooli")).access_token == "at-1"
        assert [e.event_id for e in await tokens.outbox.pending()] == [event.event_id]
        assert await store.overdue(datetime.now(UTC) + timedelta(seconds=60), limit=10) == []

    async def test_a_completion_behind_a_failure_stores_no_token(self, redis):
        prefix = "fs12"
        store, tokens, record = _store(redis, prefix), _tokens(redis, prefix), _pending("ac_late")
        await store.create(record, state="s-late", ttl_seconds=60)
        claimed = record.claimed(datetime.now(UTC), deadline_at=datetime.now(UTC))
        await store.transition("consent", claimed)
        await store.transition("exchanging", claimed.failed("exchange_interrupted", datetime.now(UTC)))
        token = StoredToken(access_token="at-late", issued_at=datetime.now(UTC), scopes=["a"])
        late = await store.complete(
            "exchanging", claimed.completed(["a"], datetime.now(UTC)), token, events=[]
        )
        assert not late.applied and late.record.failure_reason == "exchange_interrupted"
        assert await tokens.get("u1", "hooli") is None

    async def test_a_transition_of_a_record_that_is_gone_is_refused(self, redis):
        store, record = _store(redis, "fs13"), _pending("ac_gone")
        refused = await store.transition("consent", record.failed("x", datetime.now(UTC)))
        assert (refused.applied, refused.record) == (False, None)


class TestStates:
    async def test_a_state_gives_back_its_pending_record_while_it_lives(self, redis):
        store, record = _store(redis, "fs6"), _pending("ac_state")
        await store.create(record, state="s-once", ttl_seconds=60)
        claim = await store.find_state("s-once")
        assert (claim.authorization_id, claim.provider_id, claim.record) == ("ac_state", "hooli", record)
        assert await store.find_state("s-never") is None

    async def test_a_state_is_stored_with_its_secrets_encrypted(self, redis):
        store, record = _store(redis, "fs7"), _pending("ac_sealed")
        await store.create(record, state="s-sealed", ttl_seconds=60)
        keys = [k async for k in redis.scan_iter("fs7:*", _type="string")]  # the in-flight index is a set
        values = [await redis.get(k) for k in keys]
        assert values and not any(b"v" * 43 in v for v in values)


class TestCompletedRecords:
    async def test_a_completed_record_is_served_from_the_process_after_one_read(self, redis):
        prefix = "fs3"
        reader, writer = _store(redis, prefix), _store(redis, prefix)
        record = _pending("ac_done")
        await writer.create(record, state="s-done", ttl_seconds=60)
        done = record.completed(["a", "b"], datetime.now(UTC))
        await writer.transition("consent", done)
        assert await reader.get("ac_done") == done
        await redis.delete(f"{prefix}:authz:ac_done")  # proof that no second read happens
        assert await reader.get("ac_done") == done

    async def test_a_cached_record_is_forgotten_when_its_redis_key_expires(self, redis):
        store = _store(redis, "fs4", ttl=1)
        record = _pending("ac_brief")
        await store.create(record, state="s-brief", ttl_seconds=60)
        done = record.completed(["a"], datetime.now(UTC))
        await store.transition("consent", done)
        assert await store.get("ac_brief") == done
        await asyncio.sleep(1.2)
        assert await store.get("ac_brief") is None

    async def test_an_unknown_record_is_none(self, redis):
        store = _store(redis, "fs5")
        assert await store.get("ac_" + secrets.token_hex(4)) is None


class TestShards:
    """Several shards (as on a Redis Cluster): a flow's keys follow the shard its id names."""

    async def test_a_flow_minted_for_its_connections_shard_runs_to_completion_through_every_step(self, redis):
        prefix = f"fsh{secrets.token_hex(3)}"
        keyspace = Keyspace(prefix, 8)
        tokens = TokenStore(redis, CIPHER, RefreshPolicy(), keyspace=keyspace)
        store = RedisAuthorizationStore(redis, CIPHER, tokens, prefix=prefix, record_ttl_seconds=3600)
        shard = keyspace.shard_of_connection(connection_id_of("u1", "hooli"))
        record = _pending(keyspace.mint("ac_sharded", shard, kind="ac"))
        state = keyspace.mint("the-state", shard)
        await store.create(record, state=state, ttl_seconds=60)
        assert (await store.find_state(state)).authorization_id == record.id
        assert await store.state_owner(state) == record.id

        now = datetime.now(UTC)
        claimed = record.claimed(now, deadline_at=now - timedelta(seconds=1))
        assert (await store.transition("consent", claimed)).applied
        assert await store.overdue(datetime.now(UTC), limit=10) == [record.id]
        token = StoredToken(access_token="at", issued_at=now, scopes=["a"])
        flow_id = keyspace.mint("flow", shard)
        held = claimed.held(now, flow_id=flow_id, token=token, deadline_at=now + timedelta(minutes=5))
        assert (await store.transition("exchanging", held, flow_ttl_seconds=60)).applied
        assert await store.peek_flow(flow_id) == record.id

        event = AuthorizationCompleted(
            authorization_id=record.id, user_id="u1", provider_id="hooli", scopes=["a"]
        )
        assert (await store.complete("verify", held.completed(["a"], now), token, events=[event])).applied
        assert (await tokens.get("u1", "hooli")).access_token == "at"
        assert [e.event_id for e in await tokens.outbox.pending(shard=shard)] == [event.event_id]
        assert await store.overdue(datetime.now(UTC) + timedelta(hours=1), limit=10) == []
