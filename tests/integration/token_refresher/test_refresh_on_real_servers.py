"""The refresher on real Redis, the real oidc-provider and our local token endpoint."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from bench.local.token_endpoint import TokenEndpoint
from services.token_refresher.settings import RefresherSettings
from shared.contracts.tokens import RefreshToken
from shared.tokens.model import connection_id_of
from tests.support.oauth_grants import CALLBACK, real_grant, token_from, userinfo_status
from tests.support.oauth_server import OAuthClient, OAuthServer, start_oauth_server
from tests.support.providers import oidc_provider_entry
from tests.support.refresher_replicas import fake_endpoint_entry, replica, stored

pytestmark = pytest.mark.integration

APP = OAuthClient("refresher-app", [CALLBACK], client_secret="refresher-secret")


@pytest.fixture
def prefix(request: pytest.FixtureRequest) -> str:
    return f"rf{abs(hash(request.node.nodeid)) % 10**8}"


@pytest.fixture
def oauth(tmp_path: Path) -> Iterator[OAuthServer]:
    with start_oauth_server(tmp_path, clients=[APP]) as server:
        yield server


@pytest.fixture
async def endpoint() -> AsyncIterator[TokenEndpoint]:
    server = await TokenEndpoint().start()
    yield server
    await server.stop()


def oidc_entry(server: OAuthServer) -> dict:
    return oidc_provider_entry(server, id="oidc", client_id=APP.client_id, client_secret=APP.client_secret)


class TestOneRefreshUnderRotation:
    async def test_fifty_callers_on_two_replicas_cause_one_refresh_and_the_grant_survives(
        self, redis_url, prefix, oauth
    ):
        grant = await real_grant(oauth, APP, login="alice")
        replicas = [replica(redis_url, prefix, [oidc_entry(oauth)]) for _ in range(2)]
        await replicas[0].store.put("alice", "oidc", token_from(grant, expires_in=-5))
        oauth.reset()
        ask = RefreshToken(user_id="alice", provider_id="oidc")
        outcomes = await asyncio.gather(*(replicas[n % 2].refresher.on_demand(ask) for n in range(50)))
        fresh = await replicas[1].store.get("alice", "oidc")
        assert oauth.stats().token_requests == {"refresh_token": 1}
        assert {o.status for o in outcomes} <= {"refreshed", "fresh"}
        assert fresh.access_token != grant["access_token"] and fresh.refresh_token != grant["refresh_token"]
        assert await userinfo_status(oauth, fresh.access_token) == 200
        for one in replicas:
            await one.close()

    async def test_invalid_grant_marks_the_connection_for_reauthorization(self, redis_url, prefix, oauth):
        grant = await real_grant(oauth, APP, login="bob")
        one = replica(redis_url, prefix, [oidc_entry(oauth)])
        await one.store.put("bob", "oidc", token_from(grant, expires_in=-5))
        async with httpx.AsyncClient(trust_env=False) as http:  # revoke the grant upstream
            await http.post(
                oauth.revocation_endpoint,
                data={"token": grant["refresh_token"], "token_type_hint": "refresh_token"},
                auth=(APP.client_id, APP.client_secret),
            )
        outcome = await one.refresher.on_demand(RefreshToken(user_id="bob", provider_id="oidc"))
        assert outcome.status == "reauthorization_required"
        assert (await one.store.get("bob", "oidc")).status == "reauthorization_required"
        assert (
            await one.store.connection(connection_id_of("bob", "oidc"))
        ).status == "reauthorization_required"
        assert await one.store.schedule.due(datetime.now(UTC) + timedelta(days=365)) == []
        await one.close()


class TestTokenEndpointBehaviour:
    async def test_a_transient_503_is_retried_and_the_refresh_succeeds(self, redis_url, prefix, endpoint):
        endpoint.behaviour.fail_next = 2
        one = replica(redis_url, prefix, [fake_endpoint_entry(endpoint.url)])
        await one.store.put("carol", "fake", stored("at-old", "rt-old", expires_in=-1))
        outcome = await one.refresher.on_demand(RefreshToken(user_id="carol", provider_id="fake"))
        assert outcome.status == "refreshed" and endpoint.requests == 3 and endpoint.failures == 2
        assert (await one.store.get("carol", "fake")).access_token.startswith("at-")
        await one.close()

    async def test_a_503_that_persists_keeps_the_old_token_and_reschedules_with_backoff(
        self, redis_url, prefix, endpoint
    ):
        endpoint.behaviour.fail_next = 100
        endpoint.behaviour.retry_after = "30"
        settings = RefresherSettings(inline_attempts=2, poll_seconds=0.2)
        one = replica(redis_url, prefix, [fake_endpoint_entry(endpoint.url)], settings)
        await one.store.put("dave", "fake", stored("at-old", "rt-old", expires_in=100))
        with pytest.raises(Exception, match="retried"):
            await one.refresher.on_demand(RefreshToken(user_id="dave", provider_id="fake"))
        connection_id = connection_id_of("dave", "fake")
        score = await one.redis.zscore(one.store.schedule.due_key, connection_id)
        assert score >= datetime.now(UTC).timestamp() + 25  # Retry-After 30 s honoured
        assert (await one.store.get("dave", "fake")).access_token == "at-old"
        assert await one.redis.hget(f"{prefix}:conn:{connection_id}", "refresh_failures") == b"1"
        await one.close()

    async def test_the_old_refresh_token_is_kept_when_the_response_has_none(
        self, redis_url, prefix, endpoint
    ):
        endpoint.behaviour.omit_refresh_token = True
        one = replica(redis_url, prefix, [fake_endpoint_entry(endpoint.url)])
        await one.store.put("erin", "fake", stored("at-old", "rt-keep", expires_in=-1))
        await one.refresher.on_demand(RefreshToken(user_id="erin", provider_id="fake"))
        after = await one.store.get("erin", "fake")
        assert after.refresh_token == "rt-keep" and after.access_token != "at-old"
        await one.close()


class TestDurableSchedule:
    async def test_two_replicas_claiming_at_once_never_take_the_same_entry(self, redis_url, prefix, endpoint):
        a, b = (replica(redis_url, prefix, [fake_endpoint_entry(endpoint.url)]) for _ in range(2))
        for n in range(200):
            await a.store.put(f"u{n}", "fake", stored("at", "rt", expires_in=-1))
        now, lease = datetime.now(UTC), datetime.now(UTC) + timedelta(seconds=60)
        claims = await asyncio.gather(*(r.tokens.claim_due(now, lease, 7) for r in (a, b) for _ in range(20)))
        ids = [c.connection_id for batch in claims for c in batch]
        assert len(ids) == len(set(ids)) == 200
        for one in (a, b):
            await one.close()

    async def test_a_claim_whose_replica_died_comes_back_after_the_lease(self, redis_url, prefix, endpoint):
        one = replica(redis_url, prefix, [fake_endpoint_entry(endpoint.url)])
        await one.store.put("gus", "fake", stored("at", "rt", expires_in=-1))
        now = datetime.now(UTC)
        assert len(await one.tokens.claim_due(now, now + timedelta(seconds=2), 10)) == 1
        assert await one.tokens.claim_due(now + timedelta(seconds=1), now + timedelta(seconds=9), 10) == []
        back = await one.tokens.claim_due(now + timedelta(seconds=3), now + timedelta(seconds=60), 10)
        assert [c.connection_id for c in back] == [connection_id_of("gus", "fake")]
        await one.close()

    async def test_a_claim_names_who_the_connection_belongs_to_in_the_same_step(
        self, redis_url, prefix, endpoint
    ):
        one = replica(redis_url, prefix, [fake_endpoint_entry(endpoint.url)])
        await one.store.put("ida", "fake", stored("at", "rt", expires_in=-1))
        await one.redis.zadd(
            one.store.schedule.due_key, {"uc_gone": 1}
        )  # an entry whose connection was deleted
        now = datetime.now(UTC)
        claims = await one.tokens.claim_due(now, now + timedelta(seconds=60), 10)
        assert {(c.connection_id, c.user_id, c.provider_id) for c in claims} == {
            ("uc_gone", None, None),
            (connection_id_of("ida", "fake"), "ida", "fake"),
        }
        await one.close()

    async def test_unstarted_claims_given_back_are_due_again_unless_a_write_moved_them(
        self, redis_url, prefix, endpoint
    ):
        one = replica(redis_url, prefix, [fake_endpoint_entry(endpoint.url)])
        await one.store.put("jo", "fake", stored("at", "rt", expires_in=-1))
        await one.store.put("kim", "fake", stored("at", "rt", expires_in=-1))
        now = datetime.now(UTC)
        claims = await one.tokens.claim_due(now, now + timedelta(seconds=60), 10)
        await one.store.put("kim", "fake", stored("at", "rt", expires_in=3600))  # refreshed meanwhile
        await one.tokens.unclaim(claims)
        back = await one.tokens.claim_due(now, now + timedelta(seconds=60), 10)
        assert [c.connection_id for c in back] == [connection_id_of("jo", "fake")]
        assert (
            await one.redis.zscore(one.store.schedule.due_key, connection_id_of("kim", "fake"))
            > now.timestamp()
        )
        await one.close()

    async def test_the_schedule_survives_a_redis_restart_and_is_refreshed_before_expiry(
        self, own_redis, prefix, endpoint
    ):
        one = replica(own_redis.url, prefix, [fake_endpoint_entry(endpoint.url)])
        await one.store.put("hana", "fake", stored("at-old", "rt-old", expires_in=303))  # due in ~3 s
        await one.redis.save()
        await one.close()
        own_redis.restart()
        again = replica(own_redis.url, prefix, [fake_endpoint_entry(endpoint.url)])
        again.scheduler.start()
        for _ in range(100):
            token = await again.store.get("hana", "fake")
            if token.generation == 1:
                break
            await asyncio.sleep(0.1)
        assert token.generation == 1 and token.access_token != "at-old"
        assert endpoint.requests == 1
        await again.close()


class TestRefreshLock:
    async def test_the_lock_comes_with_the_token_and_a_second_taker_waits_then_gives_up(
        self, redis_url, prefix, endpoint
    ):
        impatient = RefresherSettings(lock_wait_seconds=0.2, poll_seconds=0.2)
        a = replica(redis_url, prefix, [fake_endpoint_entry(endpoint.url)])
        b = replica(redis_url, prefix, [fake_endpoint_entry(endpoint.url)], impatient)
        await a.store.put("lea", "fake", stored("at-lea", "rt", expires_in=-1))
        async with a.tokens.locked("lea", "fake") as held:
            assert held is not None and held.token.access_token == "at-lea"
            async with b.tokens.locked("lea", "fake") as other:
                assert other is None
        async with b.tokens.locked("lea", "fake") as again:  # released on exit
            assert again is not None
        for one in (a, b):
            await one.close()

    async def test_a_connection_without_a_token_is_locked_and_read_as_none(self, redis_url, prefix, endpoint):
        one = replica(redis_url, prefix, [fake_endpoint_entry(endpoint.url)])
        async with one.tokens.locked("nobody", "fake") as held:
            assert held is not None and held.token is None
        assert await one.redis.get(one.store.lock_key(connection_id_of("nobody", "fake"))) is None
        await one.close()

    async def test_a_refresh_write_releases_the_lock_in_the_same_step(self, redis_url, prefix, endpoint):
        one = replica(redis_url, prefix, [fake_endpoint_entry(endpoint.url)])
        await one.store.put("max", "fake", stored("at", "rt", expires_in=-1))
        lock_key = one.store.lock_key(connection_id_of("max", "fake"))
        async with one.tokens.locked("max", "fake") as held:
            assert await one.redis.get(lock_key) == held.owner.encode()
            new = stored("at-new", "rt-new", expires_in=3600)
            await one.tokens.put("max", "fake", new, events=[], unlock=held)
            assert held.released and await one.redis.get(lock_key) is None
        assert (await one.store.get("max", "fake")).access_token == "at-new"
        await one.close()

    async def test_a_write_does_not_release_a_lock_another_owner_took_after_expiry(
        self, redis_url, prefix, endpoint
    ):
        one = replica(redis_url, prefix, [fake_endpoint_entry(endpoint.url)])
        await one.store.put("ned", "fake", stored("at", "rt", expires_in=-1))
        lock_key = one.store.lock_key(connection_id_of("ned", "fake"))
        async with one.tokens.locked("ned", "fake") as held:
            await one.redis.set(lock_key, "someone-else")  # ours expired, another replica took it
            new = stored("at-new", "rt-new", expires_in=3600)
            await one.tokens.put("ned", "fake", new, events=[], unlock=held)
        assert await one.redis.get(lock_key) == b"someone-else"
        await one.close()
