"""The token store on a real Redis-compatible server: encrypted, user-bound, durable."""

from datetime import UTC, datetime, timedelta

import pytest

from shared.bus import subjects
from shared.contracts.answers import AnswersStale
from shared.contracts.events import ConnectionRevoked
from shared.runtime.crypto import WEBHOOK_KEYS, Cipher, RootKey
from shared.runtime.keyspace import Keyspace
from shared.runtime.redisio import create_redis
from shared.tokens.model import RefreshPolicy, StoredToken, connection_id_of
from shared.tokens.store import TokenStore
from tools.rotate_keys import rotate

pytestmark = pytest.mark.integration

KEY_A = RootKey("a", "root-key-a-root-key-a-root-key-a", default=True)
KEY_B = RootKey("b", "root-key-b-root-key-b-root-key-b", default=True)


def token(access: str = "gho_plaintext_token", *, expires_in: int | None = 3600) -> StoredToken:
    now = datetime.now(UTC)
    return StoredToken(
        access_token=access,
        refresh_token="rt_plaintext",
        issued_at=now,
        expires_at=now + timedelta(seconds=expires_in) if expires_in else None,
        scopes=["repo"],
        user_info={"sub": "alice"},
    )


@pytest.fixture
def prefix(request):
    return f"t{abs(hash(request.node.nodeid)) % 10**8}"


class TestTokenStore:
    async def test_a_stored_token_reads_back_and_is_not_plaintext_in_redis(self, redis, prefix):
        store = TokenStore(redis, Cipher([KEY_A]), RefreshPolicy(), prefix=prefix)
        await store.put("alice", "github", token())
        raw = await redis.get(f"{prefix}:token:{connection_id_of('alice', 'github')}")
        assert b"gho_plaintext_token" not in raw and b"rt_plaintext" not in raw
        assert (await store.get("alice", "github")).access_token == "gho_plaintext_token"

    async def test_a_token_never_crosses_users_even_when_the_record_is_copied(self, redis, prefix):
        store = TokenStore(redis, Cipher([KEY_A]), RefreshPolicy(), prefix=prefix)
        await store.put("alice", "github", token())
        await store.put("mallory", "github", token("mallory-token"))
        alice_record = await redis.get(f"{prefix}:token:{connection_id_of('alice', 'github')}")
        await redis.set(f"{prefix}:token:{connection_id_of('mallory', 'github')}", alice_record)
        # the copied record is bound to alice: for mallory it reads as no token at all
        assert await store.get("mallory", "github") is None
        assert await store.get("bob", "github") is None

    async def test_an_unreadable_record_reads_as_no_token_and_a_new_grant_replaces_it(self, redis, prefix):
        store = TokenStore(redis, Cipher([KEY_A]), RefreshPolicy(), prefix=prefix)
        await store.put("alice", "github", token("old"))
        stranger = Cipher([RootKey("gone", "a-key-nobody-configures-any-more")])
        sealed = stranger.encrypt_json({"access_token": "x"}, aad=b"whatever")
        await redis.set(f"{prefix}:token:{connection_id_of('alice', 'github')}", sealed)

        assert await store.get("alice", "github") is None
        await store.put("alice", "github", token("new"))
        assert (await store.get("alice", "github")).access_token == "new"

    async def test_records_written_under_key_a_read_after_key_b_becomes_the_default(self, redis, prefix):
        await TokenStore(redis, Cipher([KEY_A]), RefreshPolicy(), prefix=prefix).put(
            "alice", "github", token()
        )
        rotated = TokenStore(
            redis, Cipher([RootKey("a", KEY_A.value), KEY_B]), RefreshPolicy(), prefix=prefix
        )
        assert (await rotated.get("alice", "github")).access_token == "gho_plaintext_token"
        webhook = Cipher([KEY_B], WEBHOOK_KEYS)
        tally = await rotate(
            redis,
            Cipher([RootKey("a", KEY_A.value), KEY_B]),
            webhook_cipher=webhook,
            prefix=prefix,
            show_progress=False,
        )
        assert tally.resealed == {"tokens": 1}
        only_b = TokenStore(redis, Cipher([KEY_B]), RefreshPolicy(), prefix=prefix)
        assert (await only_b.get("alice", "github")).access_token == "gho_plaintext_token"

    async def test_a_new_token_keeps_the_connections_creation_time(self, redis, prefix):
        store = TokenStore(redis, Cipher([KEY_A]), RefreshPolicy(), prefix=prefix)
        first = await store.put("alice", "github", token("one"))
        second = await store.put("alice", "github", token("two"))
        assert second.created_at == first.created_at
        assert second.updated_at >= first.updated_at
        assert (await store.connection(first.id)).created_at == first.created_at

    async def test_a_connection_shows_its_consecutive_refresh_failures_until_a_new_token(self, redis, prefix):
        store = TokenStore(redis, Cipher([KEY_A]), RefreshPolicy(), prefix=prefix)
        first = await store.put("alice", "github", token("one"))
        assert (
            await store.record_refresh_failure(first.id),
            await store.record_refresh_failure(first.id),
        ) == (1, 2)
        assert (await store.connection(first.id)).refresh_failures == 2
        await store.put("alice", "github", token("two"))
        assert (await store.connection(first.id)).refresh_failures == 0

    async def test_expiring_tokens_are_scheduled_and_never_expiring_ones_are_not(self, redis, prefix):
        store = TokenStore(redis, Cipher([KEY_A]), RefreshPolicy(margin_seconds=300), prefix=prefix)
        await store.put("alice", "github", token(expires_in=3600))
        await store.put("bob", "github", token(expires_in=None))
        due = await store.schedule.due(datetime.now(UTC) + timedelta(seconds=3600 - 299))
        assert due == [connection_id_of("alice", "github")]

    async def test_listing_filters_by_user_and_by_provider(self, redis, prefix):
        store = TokenStore(redis, Cipher([KEY_A]), RefreshPolicy(), prefix=prefix)
        for user, provider in [("alice", "github"), ("alice", "google"), ("bob", "github")]:
            await store.put(user, provider, token())
        by_user, total_user = await store.list_connections(user_id="alice")
        by_provider, _ = await store.list_connections(provider_id="github")
        assert total_user == 2 and {c.provider_id for c in by_user} == {"github", "google"}
        assert {c.user_id for c in by_provider} == {"alice", "bob"}

    async def test_deleting_a_connection_removes_token_and_queues_its_event(self, redis, prefix):
        store = TokenStore(redis, Cipher([KEY_A]), RefreshPolicy(), prefix=prefix)
        meta = await store.put("alice", "github", token())
        event = ConnectionRevoked(connection_id=meta.id, user_id="alice", provider_id="github")
        assert (await store.delete(meta.id, events=[event])).user_id == "alice"
        assert await store.get("alice", "github") is None
        assert [e.event_id for e in await store.outbox.pending()] == [event.event_id]


class TestReauthorizationIndex:
    async def test_a_connection_marked_dead_is_indexed_until_a_new_token_is_written(self, redis, prefix):
        store = TokenStore(redis, Cipher([KEY_A]), RefreshPolicy(), prefix=prefix)
        await store.put("alice", "github", token())
        await store.put("alice", "github", token().model_copy(update={"status": "reauthorization_required"}))
        await store.put("bob", "github", token().model_copy(update={"status": "reauthorization_required"}))
        assert await redis.smembers(store.schedule.reauth_key) == {
            connection_id_of("alice", "github").encode(),
            connection_id_of("bob", "github").encode(),
        }

        await store.put("alice", "github", token("after a new consent"))

        assert await store.schedule.needing_reauthorization() == 1
        assert await redis.smembers(store.schedule.reauth_key) == {connection_id_of("bob", "github").encode()}

    async def test_deleting_a_dead_connection_takes_it_out_of_the_index(self, redis, prefix):
        store = TokenStore(redis, Cipher([KEY_A]), RefreshPolicy(), prefix=prefix)
        dead = token().model_copy(update={"status": "reauthorization_required"})
        meta = await store.put("alice", "github", dead)
        assert await store.schedule.needing_reauthorization() == 1

        await store.delete(meta.id)

        assert await store.schedule.needing_reauthorization() == 0


class TestDurability:
    async def test_a_token_written_before_a_redis_restart_decrypts_after_it(self, own_redis):
        cipher = Cipher([KEY_A])
        client = create_redis(own_redis.url)
        await TokenStore(client, cipher, RefreshPolicy()).put("alice", "github", token())
        await client.aclose()
        own_redis.kill()  # no clean shutdown: only the append-only file can save the token
        own_redis.start()
        client = create_redis(own_redis.url)
        try:
            assert (
                await TokenStore(client, cipher, RefreshPolicy()).get("alice", "github")
            ).access_token == ("gho_plaintext_token")
        finally:
            await client.aclose()


class TestShardedStore:
    """Several shards (as on a Redis Cluster) on one server: the hash tags change nothing a reader sees."""

    async def test_pages_counts_and_the_schedule_merge_every_shard_in_order(self, redis, prefix):
        store = TokenStore(redis, Cipher([KEY_A]), RefreshPolicy(), keyspace=Keyspace(prefix, 8))
        users = [f"user{i}" for i in range(12)]
        for i, user in enumerate(users):
            await store.put(user, "github", token(expires_in=3600 + i))
        ids = [connection_id_of(user, "github") for user in users]
        assert len({store.shard(i) for i in ids}) > 1  # spread over shards

        first, total = await store.list_connections(offset=0, limit=5)
        rest, _ = await store.list_connections(offset=5, limit=20)
        assert total == 12 and [c.id for c in first + rest] == ids  # newest last, across shards
        assert await store.schedule.depth() == 12
        due = await store.schedule.due(datetime.now(UTC) + timedelta(hours=2), limit=3)
        assert due == ids[:3]  # earliest first
        assert await store.schedule.next_due() is not None

    async def test_a_delete_and_its_event_stay_in_the_connections_shard(self, redis, prefix):
        store = TokenStore(redis, Cipher([KEY_A]), RefreshPolicy(), keyspace=Keyspace(prefix, 8))
        meta = await store.put("alice", "github", token())
        event = ConnectionRevoked(connection_id=meta.id, user_id="alice", provider_id="github")
        await store.delete(meta.id, events=[event])
        assert await redis.hexists(store.outbox.key_of(store.shard(meta.id)), event.event_id)
        assert [e.event_id for e in await store.outbox.pending()] == [event.event_id]
        assert (await store.list_connections())[1] == 0

    async def test_rotate_keys_walks_every_shard_and_every_project(self, redis, prefix):
        keyspace = Keyspace(prefix, 8)
        store = TokenStore(redis, Cipher([KEY_A]), RefreshPolicy(), keyspace=keyspace)
        owners = [(f"user{i}", "github", "default" if i % 2 else "acme") for i in range(6)]
        for user, provider, project in owners:
            await store.put(user, provider, token(), project=project)
        both = Cipher([RootKey("a", KEY_A.value), KEY_B])
        webhook = Cipher([KEY_B], WEBHOOK_KEYS)
        tally = await rotate(
            redis, both, webhook_cipher=webhook, prefix=prefix, show_progress=False, keyspace=keyspace
        )
        assert tally.resealed == {"tokens": 6}
        only_b = TokenStore(redis, Cipher([KEY_B]), RefreshPolicy(), keyspace=keyspace)
        for user, provider, project in owners:
            assert (await only_b.get(user, provider, project=project)).access_token == "gho_plaintext_token"


class Published:
    """A connection that records what is published on it."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []

    async def publish(self, subject: str, payload: bytes) -> None:
        self.sent.append((subject, payload))


class TestStaleAnswerNotices:
    async def test_a_write_and_a_delete_each_tell_the_gateways_which_connection_changed(self, redis, prefix):
        store = TokenStore(redis, Cipher([KEY_A]), RefreshPolicy(), prefix=prefix)
        bus = Published()
        store.stale.attach(bus)  # type: ignore[arg-type]
        await store.put("alice", "github", token(), project="acme")
        await store.delete(connection_id_of("alice", "github", "acme"))
        notice = AnswersStale(project="acme", user_id="alice", provider_id="github")
        assert bus.sent == [(subjects.ANSWERS_STALE, notice.model_dump_json().encode())] * 2

    async def test_a_conditional_write_that_did_not_land_tells_nobody(self, redis, prefix):
        store = TokenStore(redis, Cipher([KEY_A]), RefreshPolicy(), prefix=prefix)
        await store.put("alice", "github", token())
        bus = Published()
        store.stale.attach(bus)  # type: ignore[arg-type]
        assert await store.write("alice", "github", token("new"), if_version="not-the-version") is None
        assert await store.delete(connection_id_of("bob", "github")) is None
        assert bus.sent == []
