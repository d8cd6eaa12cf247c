"""Knowing that the server has what a client sent (docs/nats.md, "Flushing").

nats-py's ``flush()`` writes its PING to the socket at once, while the commands sent just before
it (a SUB, a PUB) wait in the client's pending buffer for its flusher task. The server can then
answer the PONG before it has read them, so ``flush()`` returning does not prove that a
subscription is in place: a message another connection publishes right after can still miss it
(measured: 2-6 % of subscribe, flush, publish-elsewhere sequences on a loopback server).

The first ``flush()`` waits a round trip, long enough for the flusher to write what was pending;
the second one's PING follows all of it on the wire, and the server answers a connection's
commands in the order they arrive.
"""

from __future__ import annotations

from nats.aio.client import Client

FLUSH_TIMEOUT_S = 10


async def reach_server(nc: Client, *, timeout: int = FLUSH_TIMEOUT_S) -> None:
    """Return once the server has processed every command ``nc`` sent before this call.

    Raises:
        nats.errors.FlushTimeoutError: no PONG within ``timeout`` seconds.
        nats.errors.ConnectionClosedError: ``nc`` is closed.
    """
    await nc.flush(timeout)
    await nc.flush(timeout)
