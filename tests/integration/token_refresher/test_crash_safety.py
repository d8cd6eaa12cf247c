"""What a refresher killed mid-refresh leaves behind, on real Redis and the real oidc-provider:
short renewed locks, the in-flight marker, the user-info write that never overwrites a later
token, and an unknown outcome reported as one.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.local.token_endpoint import TokenEndpoint
from services.token_refresher.settings import RefresherSettings
from shared.contracts.tokens import RefreshToken
from shared.tokens.model import connection_id_of
from tests.support.oauth_grants import CALLBACK, real_grant, token_from, userinfo_status
from tests.support.oauth_server import OAuthClient, OAuthServer, start_oauth_server
from tests.support.providers import oidc_provider_entry
from tests.support.refresher_replicas import Replica, fake_endpoint_entry, replica, stored

pytestmark = pytest.mark.integration

APP = OAuthClient("crash-app", [CALLBACK], client_secret="crash-secret")


@pytest.fixture
def prefix(request: pytest.FixtureRequest) -> str:
    return f"cs{abs(hash(request.node.nodeid)) % 10**8}"


@pytest.fixture
async def endpoint() -> AsyncIterator[TokenEndpoint]:
    server = await TokenEndpoint().start()
    yield server
    await server.stop()


async def eventually(read: Callable[[], Awaitable[Any]], *, until: Callable[[Any], bool]) -> Any:
    """Read until ``until`` holds; the deadline only bounds a failure."""
    deadline = asyncio.get_running_loop().time() + 30
    while True:
        value = await read()
        if until(value) or asyncio.get_running_loop().time() > deadline:
            return value
        await asyncio.sleep(0.1)


def inflight_key(one: Replica, user: str, provider: str) -> str:
    return one.store.inflight_key(connection_id_of(user, provider))


class TestInFlightMarker:
    async def test_a_holder_killed_mid_refresh_leaves_a_marker_the_next_holder_finds(
        self, redis_url, prefix, endpoint
    ):
        a, b = (replica(redis_url, prefix, [fake_endpoint_entry(endpoint.url)]) for _ in range(2))
        await a.store.put("lea", "fake", stored("at", "rt", expires_in=-1))
        began = datetime.now(UTC) - timedelta(milliseconds=1)  # the marker keeps whole milliseconds
        async with a.tokens.locked("lea", "fake") as dying:
            taken = datetime.now(UTC)
            await a.redis.delete(a.store.lock_key(connection_id_of("lea", "fake")))  # its lock expired
            async with b.tokens.locked("lea", "fake") as next_holder:
                assert dying.interrupted_at is None
                assert began <= next_holder.interrupted_at <= taken  # when the dead holder began
        for one in (a, b):
            await one.close()

    async def test_a_lock_let_go_after_a_known_outcome_leaves_no_marker(self, redis_url, prefix, endpoint):
        one = replica(redis_url, prefix, [fake_endpoint_entry(endpoint.url)])
        await one.store.put("max", "fake", stored("at", "rt", expires_in=-1))
        async with one.tokens.locked("max", "fake"):
            assert await one.redis.exists(inflight_key(one, "max", "fake"))
        assert not await one.redis.exists(inflight_key(one, "max", "fake"))
        async with one.tokens.locked("max", "fake") as held:
            await one.tokens.put(
                "max", "fake", stored("at-2", "rt-2", expires_in=3600), events=[], unlock=held
            )
            assert not await one.redis.exists(inflight_key(one, "max", "fake"))
        async with one.tokens.locked("max", "fake") as held:
            held.uncertain = True  # a call timed out: it may have spent the refresh token
        async with one.tokens.locked("max", "fake") as again:
            assert again.interrupted_at is not None
        await one.close()

    async def test_a_marker_left_on_an_older_token_is_not_an_interrupted_attempt(
        self, redis_url, prefix, endpoint
    ):
        one = replica(redis_url, prefix, [fake_endpoint_entry(endpoint.url)])
        await one.store.put("ned", "fake", stored("at", "rt", expires_in=-1))
        async with one.tokens.locked("ned", "fake") as held:
            held.uncertain = True
        await one.store.put("ned", "fake", stored("at-new", "rt-new", expires_in=-1))  # e.g. a new consent
        async with one.tokens.locked("ned", "fake") as again:
            assert again.interrupted_at is None
        await one.close()


class TestShortRenewedLocks:
    async def test_a_held_lock_outlives_its_expiry_while_renewed_and_a_dead_one_does_not(
        self, redis_url, prefix, endpoint
    ):
        short = RefresherSettings(lock_ttl_seconds=1, lease_seconds=1, poll_seconds=0.2)
        one = replica(redis_url, prefix, [fake_endpoint_entry(endpoint.url)], short)
        lock_key = one.store.lock_key(connection_id_of("ona", "fake"))
        async with one.tokens.locked("ona", "fake") as held:
            with one.leases.lock(held):
                await asyncio.sleep(2.5)  # more than twice its expiry
                assert await one.redis.get(lock_key) == held.owner.encode()
            # no longer renewed, as if its replica had died: it expires on its own
            assert (
                await eventually(lambda: one.redis.get(lock_key), until=lambda value: value is None) is None
            )
        await one.close()

    async def test_a_running_claim_keeps_its_entry_hidden_only_while_renewed(
        self, redis_url, prefix, endpoint
    ):
        short = RefresherSettings(lock_ttl_seconds=1, lease_seconds=1, poll_seconds=0.2)
        one = replica(redis_url, prefix, [fake_endpoint_entry(endpoint.url)], short)
        await one.store.put("pia", "fake", stored("at", "rt", expires_in=-1))
        now = datetime.now(UTC)
        (claim,) = await one.tokens.claim_due(now, now + timedelta(seconds=1), 10)
        with one.leases.claim(claim):
            await asyncio.sleep(2.5)  # more than twice its lease
            assert await one.tokens.claim_due(datetime.now(UTC), now + timedelta(seconds=60), 10) == []

        async def claim_again():
            return await one.tokens.claim_due(
                datetime.now(UTC), datetime.now(UTC) + timedelta(seconds=60), 10
            )

        back = await eventually(claim_again, until=bool)  # no longer renewed: the lease runs out
        assert [c.connection_id for c in back] == [claim.connection_id]
        await one.close()


class TestUserInfoWrite:
    async def test_a_write_conditioned_on_a_version_lands_only_while_that_version_is_stored(
        self, redis_url, prefix, endpoint
    ):
        one = replica(redis_url, prefix, [fake_endpoint_entry(endpoint.url)])
        async with one.tokens.locked("ria", "fake") as held:
            version = await one.tokens.put(
                "ria", "fake", stored("at", "rt", expires_in=60), events=[], unlock=held
            )
        with_info = stored("at", "rt", expires_in=60).model_copy(update={"user_info": {"sub": "ria"}})
        assert await one.tokens.put_if_current("ria", "fake", with_info, version)
        assert not await one.tokens.put_if_current("ria", "fake", with_info, version)  # it changed: ours
        await one.store.put("ria", "fake", stored("at-later", "rt-later", expires_in=60))
        assert not await one.tokens.put_if_current("ria", "fake", with_info, version)
        assert (await one.store.get("ria", "fake")).access_token == "at-later"
        await one.close()


class TestUnknownOutcomeAtTheProvider:
    """A refresher spends the refresh token, is killed before storing the answer; the next one tries."""

    async def kill_after_spending(self, oauth: OAuthServer, a: Replica, b: Replica, user: str) -> str:
        """The next replica's on-demand refresh after ``a`` spent the token and died; returns its status."""
        async with a.tokens.locked(user, "oidc") as dying:
            async with httpx.AsyncClient(trust_env=False) as http:  # the call whose answer is lost
                spent = await http.post(
                    oauth.token_endpoint,
                    data={"grant_type": "refresh_token", "refresh_token": dying.token.refresh_token},
                    auth=(APP.client_id, APP.client_secret),
                )
            assert spent.status_code == 200
            await a.redis.delete(a.store.lock_key(connection_id_of(user, "oidc")))  # killed: lock expires
            outcome = await b.refresher.on_demand(RefreshToken(user_id=user, provider_id="oidc"))
        return outcome.status

    async def test_without_a_grace_period_the_lost_grant_is_reported_as_refresh_outcome_unknown(
        self, redis_url, prefix, tmp_path: Path
    ):
        with start_oauth_server(tmp_path, clients=[APP]) as oauth:
            entry = oidc_provider_entry(
                oauth, id="oidc", client_id=APP.client_id, client_secret=APP.client_secret
            )
            a, b = (replica(redis_url, prefix, [entry]) for _ in range(2))
            await a.store.put(
                "sam", "oidc", token_from(await real_grant(oauth, APP, login="sam"), expires_in=-5)
            )
            assert await self.kill_after_spending(oauth, a, b, "sam") == "reauthorization_required"
            events = [e.decode() for e in await a.redis.hvals(a.store.outbox.key)]
            assert any('"reason":"refresh_outcome_unknown"' in e for e in events), events
            assert oauth.stats().grants_revoked == 1  # oidc-provider's reuse detection
            for one in (a, b):
                await one.close()

    async def test_with_a_grace_period_the_same_refresh_token_tried_once_more_keeps_the_grant(
        self, redis_url, prefix, tmp_path: Path
    ):
        with start_oauth_server(tmp_path, clients=[APP], refresh_reuse_grace_seconds=30) as oauth:
            entry = oidc_provider_entry(
                oauth, id="oidc", client_id=APP.client_id, client_secret=APP.client_secret
            )
            a, b = (replica(redis_url, prefix, [entry]) for _ in range(2))
            await a.store.put(
                "tia", "oidc", token_from(await real_grant(oauth, APP, login="tia"), expires_in=-5)
            )
            assert await self.kill_after_spending(oauth, a, b, "tia") == "refreshed"
            stats = oauth.stats()
            assert stats.grants_revoked == 0 and stats.refresh_reused_within_grace == 1
            assert await userinfo_status(oauth, (await b.store.get("tia", "oidc")).access_token) == 200
            for one in (a, b):
                await one.close()
