"""The outbox relay's loop stops when told, even right after a wake."""

from __future__ import annotations

import asyncio
from typing import Any

from shared.bus.outbox import OutboxRelay


class EmptyOutbox:
    async def waiting(self, limit: int = 200) -> list[Any]:
        return []

    async def done(self, *event_ids: str) -> None:
        pass


async def test_a_stop_right_after_a_wake_still_stops_the_relay():
    relay = OutboxRelay(EmptyOutbox(), js=None, interval=5)  # type: ignore[arg-type]
    relay.start()
    await asyncio.sleep(0.01)  # the loop waits for a wake
    relay.wake()  # an event was just committed...
    stopping = asyncio.create_task(relay.stop())  # ...and the service is told to stop
    done, _ = await asyncio.wait({stopping}, timeout=2)  # not wait_for: it would cancel the stop
    if not done:
        relay._loop._task.cancel()  # type: ignore[union-attr]
    assert done == {stopping}
