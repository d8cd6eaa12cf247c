"""The executor's cached token reads: the encrypted record read once is reused, per connection,
until a change notice, a reconnect or the lifetime drops it; a refresh is read from Redis."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from shared.bus.answer_cache import AnswerCache
from shared.contracts.common import utcnow
from shared.contracts.tokens import RefreshOutcome
from shared.runtime.crypto import Cipher, RootKey
from shared.tokens.cached import CachedTokens
from shared.tokens.freshness import fresh_token
from shared.tokens.model import RefreshPolicy, StoredToken, connection_id_of
from shared.tokens.records import token_aad
from shared.tokens.store import TokenStore

CIPHER = Cipher([RootKey(id="k1", value="a-root-key-for-these-tests-only-0123456789", default=True)])
NOW = utcnow()  # fresh_token checks a refreshed token against the real clock


class FakeRedis:
    """Token records by key; counts the GETs; ``during_get`` runs while a GET is under way."""

    def __init__(self) -> None:
        self.values: dict[str, bytes] = {}
        self.gets = 0
        self.during_get: Callable[[], None] | None = None

    def register_script(self, _script: str) -> None:
        return None

    async def get(self, key: str) -> bytes | None:
        self.gets += 1
        if self.during_get is not None:
            self.during_get()
        return self.values.get(key)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def build(seconds: float = 2.0) -> tuple[CachedTokens, TokenStore, FakeRedis, AnswerCache, Clock]:
    redis, clock = FakeRedis(), Clock()
    store = TokenStore(redis, CIPHER, RefreshPolicy())  # type: ignore[arg-type]
    cache = AnswerCache(seconds=seconds, max_entries=100, clock=clock)
    return CachedTokens(store, cache), store, redis, cache, clock


def store_token(
    store: TokenStore,
    redis: FakeRedis,
    access_token: str,
    *,
    user: str = "alice",
    provider: str = "github",
    project: str = "default",
    expires_at: datetime | None = None,
) -> None:
    token = StoredToken(
        access_token=access_token,
        refresh_token="rt",
        issued_at=NOW - timedelta(hours=1),
        expires_at=expires_at,
        scopes=["repo"],
    )
    connection_id = connection_id_of(user, provider, project)
    aad = token_aad(connection_id, user, provider, project)
    redis.values[store.token_key(connection_id)] = CIPHER.encrypt_json(
        token.model_dump(mode="json"), aad=aad
    ).encode()


async def access(
    reads: CachedTokens, *, user: str = "alice", provider: str = "github", project: str = "default"
) -> str | None:
    token = await reads.get(user, provider, project=project)
    return None if token is None else token.access_token


async def test_a_second_read_of_a_connection_is_served_without_redis():
    reads, store, redis, _cache, _clock = build()
    store_token(store, redis, "at-1")
    assert await access(reads) == "at-1"
    assert await access(reads) == "at-1"
    assert redis.gets == 1


async def test_what_is_kept_is_the_record_as_stored_still_encrypted():
    reads, store, redis, cache, _clock = build()
    store_token(store, redis, "secret-access-token")
    await access(reads)
    kept = cache.get(("default", "alice", "github"))
    assert kept is not None and kept == next(iter(redis.values.values()))
    assert b"secret-access-token" not in kept


async def test_a_record_is_kept_no_longer_than_the_lifetime():
    reads, store, redis, _cache, clock = build(seconds=2.0)
    store_token(store, redis, "at-1")
    await access(reads)
    clock.now += 2.5
    store_token(store, redis, "at-2")
    assert await access(reads) == "at-2"
    assert redis.gets == 2


async def test_a_notice_for_the_connection_its_user_or_its_project_drops_the_record():
    for notice in [
        ("default", "alice", "github"),
        ("default", "alice", None),
        ("default", None, None),
        (None, None, None),
    ]:
        reads, store, redis, cache, _clock = build()
        store_token(store, redis, "at-1")
        await access(reads)
        store_token(store, redis, "at-2")
        cache.forget(*notice)
        assert await access(reads) == "at-2", notice


async def test_a_notice_for_another_connection_user_or_project_leaves_the_record():
    for notice in [("default", "alice", "google"), ("default", "bob", None), ("other", None, None)]:
        reads, store, redis, cache, _clock = build()
        store_token(store, redis, "at-1")
        await access(reads)
        cache.forget(*notice)
        assert await access(reads) == "at-1", notice
        assert redis.gets == 1, notice


async def test_each_user_and_project_is_served_its_own_token_only():
    reads, store, redis, _cache, _clock = build()
    store_token(store, redis, "alice-default")
    store_token(store, redis, "bob-default", user="bob")
    store_token(store, redis, "alice-other", project="other")
    for _ in range(2):
        assert await access(reads) == "alice-default"
        assert await access(reads, user="bob") == "bob-default"
        assert await access(reads, project="other") == "alice-other"
        assert await access(reads, project="third") is None
    assert redis.gets == 5  # one per stored connection, the absent one each time


async def test_a_read_under_way_when_a_notice_arrived_is_not_kept():
    reads, store, redis, cache, _clock = build()
    store_token(store, redis, "at-1")
    redis.during_get = lambda: cache.forget("default", "alice", "github")
    assert await access(reads) == "at-1"
    redis.during_get = None
    store_token(store, redis, "at-2")
    assert await access(reads) == "at-2"


async def test_a_reconnect_forgets_every_record_and_nothing_is_served_while_down():
    reads, store, redis, cache, _clock = build()
    state: dict[str, Any] = {"connection": 0}
    cache.follow(lambda: state["connection"])
    store_token(store, redis, "at-1")
    await access(reads)
    store_token(store, redis, "at-2")
    state["connection"] = None
    assert await access(reads) == "at-2"
    state["connection"] = 1
    store_token(store, redis, "at-3")
    assert await access(reads) == "at-3"
    assert redis.gets == 3


async def test_latest_reads_redis_and_keeps_what_it_read():
    reads, store, redis, _cache, _clock = build()
    store_token(store, redis, "at-1")
    await access(reads)
    store_token(store, redis, "at-2")
    latest = await reads.latest("alice", "github", project="default")
    assert latest is not None and latest.access_token == "at-2"
    assert await access(reads) == "at-2"
    assert redis.gets == 2


class RefreshingRpc:
    """The token_refresher's reply, after it stored a new token (its notice not handled yet)."""

    def __init__(self, write: Callable[[], None]) -> None:
        self._write = write
        self.calls = 0

    async def call(self, _subject: str, _request: Any, _model: Any) -> RefreshOutcome:
        self.calls += 1
        self._write()
        return RefreshOutcome(status="refreshed")


async def test_a_due_token_is_refreshed_and_the_new_one_used_at_once_even_before_its_notice():
    reads, store, redis, _cache, _clock = build()
    soon = NOW + timedelta(seconds=60)
    store_token(store, redis, "at-old", expires_at=soon)
    await access(reads)  # kept, and due: issued an hour ago, it expires in a minute
    later = NOW + timedelta(hours=1)
    rpc = RefreshingRpc(lambda: store_token(store, redis, "at-new", expires_at=later))
    token = await fresh_token(reads, rpc, RefreshPolicy(), user_id="alice", provider_id="github", now=NOW)  # type: ignore[arg-type]
    assert rpc.calls == 1
    assert token is not None and token.access_token == "at-new"
    assert await access(reads) == "at-new"


async def test_a_forced_refresh_is_read_from_redis():
    reads, store, redis, _cache, _clock = build()
    store_token(store, redis, "at-old")
    await access(reads)
    rpc = RefreshingRpc(lambda: store_token(store, redis, "at-new"))
    token = await fresh_token(reads, rpc, RefreshPolicy(), user_id="alice", provider_id="github", force=True)  # type: ignore[arg-type]
    assert token is not None and token.access_token == "at-new"
