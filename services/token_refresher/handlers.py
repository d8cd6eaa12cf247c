"""NATS entry points of the refresher: translate messages, call the use case, reply in the envelope."""

from __future__ import annotations

from typing import Any

from faststream.nats import NatsBroker

from services.token_refresher.refresher import Refresher
from shared import subjects
from shared.contracts.tokens import RefreshToken
from shared.messaging import respond


def register(broker: NatsBroker, refresher: Refresher, *, workers: int) -> None:
    """Serve ``TOKEN_REFRESH`` in the refresher queue group.

    Args:
        broker: The service's broker.
        refresher: The use case.
        workers: Requests handled concurrently: waiting callers must reach the
            single-flight together, not queue behind the one that refreshes.
    """

    @broker.subscriber(subjects.TOKEN_REFRESH, queue=subjects.QUEUE_REFRESHER, max_workers=workers)
    async def refresh(body: Any) -> dict[str, Any]:
        return await respond(RefreshToken, body, refresher.on_demand)
