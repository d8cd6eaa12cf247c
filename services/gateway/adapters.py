"""The gateway's outbound side: NATS request-reply and the completion waiters."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import defaultdict
from typing import Any

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from shared import subjects
from shared.logging import get_logger

log = get_logger(__name__)


class CompletionWaiters:
    """Wakes long-polls when an authorization completes or fails.

    One core subscription per gateway process on ``vk.events.authorization.>`` feeds an
    in-process map of authorization id -> waiting futures, so a ``wait=`` request costs
    no NATS subscription of its own and no Redis polling.
    """

    def __init__(self) -> None:
        self._waiting: dict[str, set[asyncio.Future[dict[str, Any]]]] = defaultdict(set)
        self._sub: Subscription | None = None

    async def start(self, nc: NatsClient) -> None:
        self._sub = await nc.subscribe(subjects.EVT_AUTHORIZATION_ALL, cb=self._on_event)

    async def stop(self) -> None:
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()

    async def _on_event(self, msg: Msg) -> None:
        try:
            event = json.loads(msg.data)
            auth_id = event["authorization_id"]
        except (ValueError, KeyError):
            return
        for future in self._waiting.pop(auth_id, set()):
            if not future.done():
                future.set_result(event)

    def register(self, auth_id: str) -> asyncio.Future[dict[str, Any]]:
        """Register interest before checking the stored status, so no event slips between."""
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[auth_id].add(future)
        return future

    def discard(self, auth_id: str, future: asyncio.Future[dict[str, Any]]) -> None:
        waiting = self._waiting.get(auth_id)
        if waiting is not None:
            waiting.discard(future)
            if not waiting:
                self._waiting.pop(auth_id, None)

    async def wait(self, auth_id: str, future: asyncio.Future[dict[str, Any]], timeout: float) -> bool:
        """True when the event came within ``timeout`` seconds."""
        try:
            await asyncio.wait_for(asyncio.shield(future), timeout)
            return True
        except TimeoutError:
            return False
        finally:
            self.discard(auth_id, future)
