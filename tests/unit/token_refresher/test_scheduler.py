"""The schedule loop: claims in batches it can start soon, runs due entries, leaves the rest."""

import asyncio
from datetime import timedelta

from services.token_refresher.scheduler import Scheduler
from services.token_refresher.settings import RefresherSettings
from tests.unit.token_refresher.fakes import T0, Kit, token


def scheduler(kit: Kit, concurrency: int) -> Scheduler:
    settings = RefresherSettings(concurrency=concurrency, lease_seconds=60)
    return Scheduler(kit.tokens, kit.refresher, kit.clock, settings, kit.leases)


async def settle() -> None:
    await asyncio.sleep(0.01)


async def until(done, bound_s: float = 10.0) -> None:
    """Let the loop run until ``done()``; the bound only ends a failing test (a loaded machine
    may take a while), it measures nothing."""
    async with asyncio.timeout(bound_s):
        while not done():  # noqa: ASYNC110 - the fakes count; they have no event to wait on
            await asyncio.sleep(0.01)


def leased(kit: Kit) -> list[str]:
    return [connection_id for connection_id, at in kit.tokens.due.items() if at == T0 + timedelta(seconds=60)]


class TestClaiming:
    async def test_it_claims_at_most_one_batch_beyond_the_free_slots(self):
        kit = Kit()
        for n in range(6):
            kit.tokens.seed(f"user{n}", "acme", token(expires_in=-1))
        kit.endpoint.gate = asyncio.Event()  # refreshes hang until released
        loop = scheduler(kit, concurrency=2)
        assert await loop.run_once() == 4  # two start, two wait for a slot
        assert await loop.run_once() == 0
        await settle()
        assert len(leased(kit)) == 4 and kit.endpoint.calls == 0 and len(kit.endpoint.sent) == 2
        kit.endpoint.gate.set()
        await loop.stop()

    async def test_queued_claims_start_as_slots_free_without_another_claim(self):
        kit = Kit()
        for n in range(4):
            kit.tokens.seed(f"user{n}", "acme", token(expires_in=-1))
        kit.endpoint.gate = asyncio.Event()
        loop = scheduler(kit, concurrency=2)
        assert await loop.run_once() == 4
        kit.endpoint.gate.set()
        await until(lambda: kit.tokens.puts == 4)
        assert kit.tokens.puts == 4 and kit.tokens.claim_calls == 1
        await loop.stop()

    async def test_entries_not_yet_due_stay_in_the_schedule(self):
        kit = Kit()
        connection_id = kit.tokens.seed("alice", "acme", token(expires_in=3000))
        assert await scheduler(kit, concurrency=4).run_once() == 0
        assert kit.tokens.due[connection_id] == T0 + timedelta(seconds=2700)


class TestLeases:
    async def test_a_claim_queued_for_half_its_lease_is_given_back_not_started(self):
        kit = Kit()
        first = kit.tokens.seed("user0", "acme", token(expires_in=-2))
        second = kit.tokens.seed("user1", "acme", token(expires_in=-1))
        kit.endpoint.gate = asyncio.Event()
        kit.endpoint.then(200, {"access_token": "at-1", "expires_in": 3600})
        loop = scheduler(kit, concurrency=1)
        assert await loop.run_once() == 2
        kit.clock.current += timedelta(seconds=31)  # the slot stayed busy past half the lease
        kit.endpoint.gate.set()
        await until(lambda: kit.tokens.puts)
        await loop.run_once()
        assert kit.stored("user0").access_token == "at-1" and first not in leased(kit)
        assert kit.tokens.due[second] == T0 - timedelta(seconds=1 + 300)  # due again, as it was
        assert kit.stored("user1").access_token == "at-0"
        await loop.stop()

    async def test_stopping_gives_queued_claims_back_and_leaves_running_ones_to_their_lease(self):
        kit = Kit()
        running = kit.tokens.seed("user0", "acme", token(expires_in=-2))
        queued = kit.tokens.seed("user1", "acme", token(expires_in=-1))
        kit.endpoint.gate = asyncio.Event()  # never released: the running refresh is cut off
        loop = scheduler(kit, concurrency=1)
        assert await loop.run_once() == 2
        await loop.stop(grace=0.05)
        assert kit.tokens.due[queued] == T0 - timedelta(seconds=1 + 300)
        assert kit.tokens.due[running] == T0 + timedelta(seconds=60)

    async def test_a_given_back_claim_does_not_undo_a_newer_schedule(self):
        kit = Kit()
        connection_id = kit.tokens.seed("alice", "acme", token(expires_in=-1))
        (claim,) = await kit.tokens.claim_due(T0, T0 + timedelta(seconds=60), 10)
        kit.tokens.due[connection_id] = T0 + timedelta(hours=1)  # a write moved it meanwhile
        await kit.tokens.unclaim([claim])
        assert kit.tokens.due[connection_id] == T0 + timedelta(hours=1)


class TestLoop:
    async def test_the_loop_refreshes_what_comes_due(self):
        kit = Kit()
        kit.tokens.seed("alice", "acme", token(expires_in=10))
        loop = scheduler(kit, concurrency=4)
        loop.start()
        await until(lambda: kit.tokens.puts)
        await loop.stop()
        assert kit.stored().access_token == "at-1"

    async def test_the_loop_drains_a_burst_larger_than_its_batches(self):
        kit = Kit()
        for n in range(25):
            kit.tokens.seed(f"user{n}", "acme", token(expires_in=-1))
        loop = scheduler(kit, concurrency=3)
        loop.start()
        await until(lambda: kit.tokens.puts == 25)
        await loop.stop()
        assert kit.tokens.puts == 25 and kit.endpoint.calls == 25
        assert kit.tokens.claim_calls < 25


class TestStopping:
    async def test_a_stop_right_after_a_wake_still_stops_the_loop(self):
        kit = Kit()
        loop = scheduler(kit, concurrency=2)
        loop.start()
        await settle()  # idle: nothing is due
        loop._wake.set()  # a refresh just finished...
        stopping = asyncio.create_task(loop.stop())  # ...and the service is told to stop
        done, _ = await asyncio.wait({stopping}, timeout=2)  # not wait_for: it would cancel the stop
        if not done:
            loop._task.cancel()  # type: ignore[union-attr]
        assert done == {stopping}

    async def test_the_loop_ends_once_stopping_even_if_a_cancel_never_reaches_it(self):
        kit = Kit()
        loop = scheduler(kit, concurrency=1)
        loop.start()
        await settle()
        loop._stopping = True  # as stop() says it, before its cancel (which a library may swallow)
        await asyncio.wait_for(loop._task, timeout=30)  # the deadline only bounds a failure
        assert loop._task.done() and not loop._task.cancelled()
