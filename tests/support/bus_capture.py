"""A listener on every subject of a NATS server, as a user allowed to read everything would be."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import nats
from nats.aio.msg import Msg

from shared.bus.flushing import reach_server

#: How long the capture listens on after its block, for the last replies to reach it.
LAST_REPLIES_S = 0.2


@contextlib.asynccontextmanager
async def every_message(nats_url: str) -> AsyncIterator[list[Msg]]:
    """Every message published on the server during the block, in arrival order."""
    seen: list[Msg] = []
    nc = await nats.connect(nats_url)

    async def keep(msg: Msg) -> None:
        seen.append(msg)

    await nc.subscribe(">", cb=keep)
    await reach_server(nc)
    try:
        yield seen
    finally:
        await asyncio.sleep(LAST_REPLIES_S)
        await reach_server(nc)
        await nc.close()
