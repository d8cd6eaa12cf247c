"""The gateway's outbound side: NATS request-reply, the completion waiters."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from shared.bus import subjects
from shared.runtime.logging import get_logger

log = get_logger(__name__)


class CompletionWaiters:
    """Wakes long-polls when an authorization completes or fails.

    One core subscription per gateway process on ``vk.events.authorization.>`` feeds an
    in-process map of authorization id -> waiting futures, so a ``wait=`` request costs
    no NATS subscription of its own and no Redis polling. An event only says "look
    again"; when this gateway took the callback (or the confirmation) itself, the
    authorizer's reply carries the finished authorization and ``hand_over`` answers the
    waiters with it, without that second look.

    The authorizer sends that reply before the event, but both can arrive in one read and
    the event's callback may run before the caller resumes. So while a callback is in
    flight here (``finishing``), an event's wake waits for it to end, at most
    ``HANDOVER_GRACE_S``; with none in flight, events wake at once.
    """

    HANDOVER_GRACE_S = 0.005

    def __init__(self) -> None:
        self._waiting: dict[str, set[asyncio.Future[dict[str, Any] | None]]] = defaultdict(set)
        self._sub: Subscription | None = None
        self._in_flight = 0
        self._deferred: set[str] = set()
        self._draining = False

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
        except (ValueError, KeyError, TypeError):
            return
        if not self._in_flight:
            self._resolve(auth_id, None)
            return
        self._deferred.add(auth_id)
        asyncio.get_running_loop().call_later(self.HANDOVER_GRACE_S, self._release, auth_id)

    @contextlib.contextmanager
    def finishing(self) -> Iterator[None]:
        """Around a callback or confirmation whose reply may hand a finished authorization over."""
        self._in_flight += 1
        try:
            yield
        finally:
            self._in_flight -= 1
            if not self._in_flight:
                for auth_id in list(self._deferred):
                    self._release(auth_id)

    def _release(self, auth_id: str) -> None:
        if auth_id in self._deferred:
            self._deferred.discard(auth_id)
            self._resolve(auth_id, None)

    def hand_over(self, authorization: dict[str, Any]) -> bool:
        """Answer the waiters of a finished authorization (as the authorizer sent it) directly;
        True when it woke one."""
        if authorization.get("status") in ("completed", "failed") and authorization.get("id"):
            return self._resolve(str(authorization["id"]), authorization) > 0
        return False

    def _resolve(self, auth_id: str, authorization: dict[str, Any] | None) -> int:
        woken = 0
        for future in self._waiting.pop(auth_id, set()):
            if not future.done():
                future.set_result(authorization)
                woken += 1
        return woken

    def register(self, auth_id: str) -> asyncio.Future[dict[str, Any] | None]:
        """Register interest before checking the stored status, so no event slips between."""
        future: asyncio.Future[dict[str, Any] | None] = asyncio.get_running_loop().create_future()
        if self._draining:  # shutting down: no new wait, the caller answers the status it reads
            future.set_result(None)
            return future
        self._waiting[auth_id].add(future)
        return future

    def drain(self) -> None:
        """On SIGTERM: wake every long-poll now, so each answers the current status before the
        server's grace period ends instead of being cut off with its connection."""
        self._draining = True
        for auth_id in list(self._waiting):
            self._resolve(auth_id, None)

    def discard(self, auth_id: str, future: asyncio.Future[dict[str, Any] | None]) -> None:
        waiting = self._waiting.get(auth_id)
        if waiting is not None:
            waiting.discard(future)
            if not waiting:
                self._waiting.pop(auth_id, None)

    async def wait(
        self, auth_id: str, future: asyncio.Future[dict[str, Any] | None], timeout: float
    ) -> dict[str, Any] | None:
        """The finished authorization when one was handed over within ``timeout`` seconds;
        None when an event woke the waiter or the time ran out (the caller reads the status)."""
        try:
            async with asyncio.timeout(timeout):  # the future is this waiter's own: cancelling it is fine
                return await future
        except TimeoutError:
            return None
        finally:
            self.discard(auth_id, future)
