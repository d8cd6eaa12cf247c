"""Adapter pieces that need no server: the coalesced outbox-relay wake."""

import asyncio

from services.token_refresher.adapters import Coalesced


class TestCoalescedWake:
    async def test_writes_within_the_delay_share_one_relay_wake(self):
        wakes: list[int] = []
        wake = Coalesced(lambda: wakes.append(1), 0.02)
        for _ in range(10):
            wake()
        assert wakes == []  # not woken synchronously by each write
        await asyncio.sleep(0.05)
        assert wakes == [1]

    async def test_a_write_after_the_wake_gets_a_wake_of_its_own(self):
        wakes: list[int] = []
        wake = Coalesced(lambda: wakes.append(1), 0.01)
        wake()
        await asyncio.sleep(0.03)
        wake()
        await asyncio.sleep(0.03)
        assert wakes == [1, 1]
