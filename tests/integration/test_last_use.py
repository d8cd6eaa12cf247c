"""When a tool last used a connection (shared/tokens/last_use.py), in a real Valkey: written after
the reply, at most once a minute per connection, never for a connection that is gone."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import pytest

from shared.runtime.background import Background
from shared.runtime.crypto import Cipher, RootKey
from shared.tokens.last_use import LastUse
from shared.tokens.model import RefreshPolicy, StoredToken, connection_id_of
from shared.tokens.store import TokenStore

pytestmark = pytest.mark.integration

CIPHER = Cipher([RootKey("k1", "last-use-test-key-" + "x" * 20, default=True)])


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def _parts(redis) -> tuple[TokenStore, Background, Clock, LastUse]:
    tokens = TokenStore(redis, CIPHER, RefreshPolicy(), prefix=f"lu{secrets.token_hex(3)}")
    background, clock = Background(), Clock()
    return tokens, background, clock, LastUse(redis, tokens, background, clock=clock)


async def _connected(tokens: TokenStore, user: str) -> None:
    await tokens.put(user, "hooli", StoredToken(access_token="at", issued_at=datetime.now(UTC), scopes=["a"]))


async def test_a_use_shows_as_the_connections_last_use_and_a_second_within_the_minute_writes_nothing(redis):
    tokens, background, clock, last_use = _parts(redis)
    await _connected(tokens, "alice")
    first = clock.now
    last_use.note("alice", "hooli", "default")
    clock.now = first + timedelta(seconds=30)
    last_use.note("alice", "hooli", "default")
    await background.drain(10)
    connection = await tokens.connection(connection_id_of("alice", "hooli"))
    assert connection is not None and connection.last_used_at == first.isoformat()
    listed, _ = await tokens.list_connections(user_id="alice")
    assert [c.last_used_at for c in listed] == [first.isoformat()]


async def test_a_token_written_again_keeps_its_last_use(redis):
    tokens, background, clock, last_use = _parts(redis)
    await _connected(tokens, "bob")
    last_use.note("bob", "hooli", "default")
    await background.drain(10)
    await _connected(tokens, "bob")  # a refresh writes the token and its metadata again
    assert (await tokens.connection(connection_id_of("bob", "hooli"))).last_used_at == clock.now.isoformat()


async def test_a_use_of_a_connection_that_is_gone_does_not_bring_it_back(redis):
    tokens, background, _, last_use = _parts(redis)
    last_use.note("nobody", "hooli", "default")
    await background.drain(10)
    assert await tokens.connection(connection_id_of("nobody", "hooli")) is None
    assert not await redis.exists(tokens.meta_key(connection_id_of("nobody", "hooli")))
