"""NATS entry points of the refresher: translate messages, call the use case, reply in the envelope."""

from __future__ import annotations

from services.token_refresher.refresh_counts import RefreshCounts
from services.token_refresher.refresher import Refresher
from shared.bus import subjects
from shared.bus.rpc import RpcServer
from shared.contracts.tokens import RefreshToken
from shared.contracts.webhooks import EventCountsQuery


def register(
    server: RpcServer, refresher: Refresher, *, workers: int, counts: RefreshCounts | None = None
) -> None:
    """Serve ``TOKEN_REFRESH`` in the refresher queue group (and, with ``counts``, the console's
    ``REFRESH_COUNTS``).

    Args:
        server: The service's RPC server.
        refresher: The use case.
        workers: Requests handled concurrently: waiting callers must reach the
            single-flight together, not queue behind the one that refreshes.
    """
    server.add(
        subjects.TOKEN_REFRESH,
        RefreshToken,
        refresher.on_demand,
        queue=subjects.QUEUE_REFRESHER,
        workers=workers,
        name="refresh",
    )
    if counts is not None:
        server.add(subjects.REFRESH_COUNTS, EventCountsQuery, counts.counts, queue=subjects.QUEUE_REFRESHER)
