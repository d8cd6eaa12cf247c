"""The schedule loop: claims only what it can start, runs due entries, leaves the rest."""

import asyncio
from datetime import timedelta

from services.token_refresher.scheduler import Scheduler
from services.token_refresher.settings import RefresherSettings
from tests.unit.token_refresher.fakes import T0, Kit, token


def scheduler(kit: Kit, concurrency: int) -> Scheduler:
    settings = RefresherSettings(concurrency=concurrency, lease_seconds=60)
    return Scheduler(kit.tokens, kit.refresher, kit.clock, settings)


class TestClaiming:
    async def test_it_claims_no_more_entries_than_free_slots(self):
        kit = Kit()
        for n in range(5):
            kit.tokens.seed(f"user{n}", "acme", token(expires_in=-1))
        kit.endpoint.gate = asyncio.Event()  # refreshes hang until released
        loop = scheduler(kit, concurrency=2)
        assert await loop.run_once() == 2
        assert await loop.run_once() == 0
        leased = [at for at in kit.tokens.due.values() if at == T0 + timedelta(seconds=60)]
        assert len(leased) == 2
        kit.endpoint.gate.set()
        await loop.stop()

    async def test_entries_not_yet_due_stay_in_the_schedule(self):
        kit = Kit()
        conn = kit.tokens.seed("alice", "acme", token(expires_in=3000))
        assert await scheduler(kit, concurrency=4).run_once() == 0
        assert kit.tokens.due[conn] == T0 + timedelta(seconds=2700)

    async def test_the_loop_refreshes_what_comes_due(self):
        kit = Kit()
        kit.tokens.seed("alice", "acme", token(expires_in=10))
        loop = scheduler(kit, concurrency=4)
        loop.start()
        for _ in range(100):
            if kit.tokens.puts:
                break
            await asyncio.sleep(0.01)
        await loop.stop()
        assert kit.stored().access_token == "at-1"
