"""Held locks and running claims are renewed while their refreshes run, and only then."""

import asyncio
from datetime import timedelta

import pytest

from services.token_refresher.ports import Claim, Locked
from services.token_refresher.settings import RefresherSettings
from shared.contracts.tokens import RefreshToken
from shared.errors import ProviderUnavailable
from tests.unit.token_refresher.fakes import T0, Kit, token


async def taken_elsewhere(locks, claims, lease_until):
    return [False] * len(locks), [False] * len(claims)


class TestRenewal:
    async def test_a_running_claim_gets_a_new_lease_end_and_lets_go_when_its_block_ends(self):
        kit = Kit(settings=RefresherSettings(lease_seconds=5))
        connection_id = kit.tokens.seed("alice", "acme", token())
        kit.tokens.due[connection_id] = T0 + timedelta(seconds=5)  # claimed: at our lease end
        claim = Claim(connection_id, T0, T0 + timedelta(seconds=5), "alice", "acme")
        with kit.leases.claim(claim):
            kit.clock.current += timedelta(seconds=2)
            await kit.leases.renew_once()
            assert kit.tokens.due[connection_id] == T0 + timedelta(seconds=7)
            kit.clock.current += timedelta(seconds=2)
            await kit.leases.renew_once()  # the second renewal is owner-checked against the first
            assert kit.tokens.due[connection_id] == T0 + timedelta(seconds=9)
        await kit.leases.renew_once()
        assert kit.tokens.renewals[-1] == ([], [])

    async def test_a_lock_released_by_its_write_is_no_longer_renewed(self):
        kit = Kit()
        lock = Locked("uc_x", "me", None)
        with kit.leases.lock(lock):
            await kit.leases.renew_once()
            lock.released = True
            await kit.leases.renew_once()
        assert [len(locks) for locks, _ in kit.tokens.renewals] == [1, 0]

    async def test_a_lock_found_taken_by_someone_else_is_marked_lost(self):
        kit = Kit()
        lock = Locked("uc_x", "me", None)
        kit.tokens.renew = taken_elsewhere
        with kit.leases.lock(lock):
            await kit.leases.renew_once()
        assert lock.lost

    async def test_a_refresh_whose_lock_was_lost_sends_no_second_call(self):
        kit = Kit()
        kit.tokens.seed("alice", "acme", token())
        kit.endpoint.then(503).then(200, {"access_token": "at-1"})
        backoff = kit.clock.sleep

        async def lose_the_lock_during_the_backoff(seconds):
            kit.tokens.renew = taken_elsewhere  # the lock expired and another replica took it
            await kit.leases.renew_once()
            await backoff(seconds)

        kit.clock.sleep = lose_the_lock_during_the_backoff
        with pytest.raises(ProviderUnavailable):
            await kit.refresher.on_demand(RefreshToken(user_id="alice", provider_id="acme"))
        assert kit.endpoint.calls == 1 and kit.stored().access_token == "at-0"

    async def test_the_background_task_renews_every_third_of_the_shorter_expiry(self):
        kit = Kit(settings=RefresherSettings(lease_seconds=6, lock_ttl_seconds=3))
        with kit.leases.lock(Locked("uc_x", "me", None)):
            kit.leases.start()
            for _ in range(5):
                await asyncio.sleep(0)
            await kit.leases.stop()
        assert kit.clock.slept[:2] == [1.0, 1.0] and kit.tokens.renewals
