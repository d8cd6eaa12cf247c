"""``reach_server`` (shared/bus/flushing.py): once it returns, a subscription is on the server.

nats-py's own ``flush()`` can return before the server has read a SUB sent just before it; the
same sequence with ``flush()`` instead lost a message in 2-6 % of tries here (docs/nats.md,
"Flushing"), so a few hundred tries catch a ``reach_server`` that is no better.
"""

from __future__ import annotations

import asyncio

import nats
import pytest
from nats.aio.msg import Msg

from shared.bus.flushing import reach_server

pytestmark = pytest.mark.integration

TRIES = 400
WAIT_S = 2.0  # bounds only a miss; a delivered message arrives within milliseconds


async def _delivered_after_subscribing(nats_url: str, subject: str) -> bool:
    listener = await nats.connect(nats_url)
    publisher = await nats.connect(nats_url)
    arrived = asyncio.Event()

    async def keep(msg: Msg) -> None:
        arrived.set()

    try:
        await listener.subscribe(subject, cb=keep)
        await reach_server(listener)
        await publisher.publish(subject, b"after the subscription")
        await reach_server(publisher)
        try:
            await asyncio.wait_for(arrived.wait(), WAIT_S)
        except TimeoutError:
            return False
        return True
    finally:
        await listener.close()
        await publisher.close()


async def test_a_message_published_elsewhere_right_after_reach_server_is_never_missed(nats_url):
    missed = [i for i in range(TRIES) if not await _delivered_after_subscribing(nats_url, f"t.flushing.{i}")]
    assert missed == []


async def test_a_closed_connection_is_refused_rather_than_reported_flushed(nats_url):
    nc = await nats.connect(nats_url)
    await nc.close()
    with pytest.raises(nats.errors.ConnectionClosedError):
        await reach_server(nc)
