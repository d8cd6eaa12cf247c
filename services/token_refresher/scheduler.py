"""The proactive loop: claim due schedule entries, refresh them with bounded concurrency.

The schedule is the Redis zset the token store writes with every token, so it survives
restarts of this process, of NATS, and of Redis with persistence. Claims are leased
(see ``adapters.CLAIM_SCRIPT``): only as many entries are claimed as there are free
slots, so a claimed entry starts at once and the lease only has to cover one refresh.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

from services.token_refresher.ports import Claim, Clock, Tokens
from services.token_refresher.refresher import Refresher
from services.token_refresher.settings import RefresherSettings
from shared.logging import get_logger

log = get_logger(__name__)


class Scheduler:
    """Runs scheduled refreshes until stopped.

    Args:
        tokens: Store and schedule.
        refresher: The refresh use case.
        clock: Time source.
        settings: Concurrency, lease and poll interval.
    """

    def __init__(
        self, tokens: Tokens, refresher: Refresher, clock: Clock, settings: RefresherSettings
    ) -> None:
        self._tokens = tokens
        self._refresher = refresher
        self._clock = clock
        self._settings = settings
        self._running: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the loop in the background."""
        self._task = asyncio.create_task(self._loop(), name="refresh-scheduler")

    async def stop(self, grace: float = 10.0) -> None:
        """Stop claiming, let running refreshes finish within ``grace`` seconds.

        Whatever is still running after that is cancelled; its lease brings it back.
        """
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._running:
            _, pending = await asyncio.wait(set(self._running), timeout=grace)
            for task in pending:
                task.cancel()

    async def run_once(self) -> int:
        """Claim what is due and fits the free slots, start those refreshes; returns how many."""
        free = self._settings.concurrency - len(self._running)
        if free <= 0:
            return 0
        now = self._clock.now()
        lease_until = now + timedelta(seconds=self._settings.lease_seconds)
        claims = await self._tokens.claim_due(now, lease_until, free)
        for claim in claims:
            task = asyncio.create_task(self._refresh(claim))
            self._running.add(task)
            task.add_done_callback(self._finished)
        return len(claims)

    async def _loop(self) -> None:
        while True:
            try:
                claimed = await self.run_once()
                if claimed == 0 or len(self._running) >= self._settings.concurrency:
                    await self._idle()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis away: the schedule is safe there; try again shortly
                log.warning("refresh.schedule_unavailable", error=type(exc).__name__, detail=str(exc))
                await self._clock.sleep(self._settings.poll_seconds)

    async def _idle(self) -> None:
        """Sleep until a slot frees, the next entry is due, or the poll interval passes."""
        timeout = self._settings.poll_seconds
        if len(self._running) < self._settings.concurrency:
            upcoming = await self._tokens.next_due()
            if upcoming is not None:
                timeout = min(timeout, max(0.0, (upcoming - self._clock.now()).total_seconds()))
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout)

    async def _refresh(self, claim: Claim) -> None:
        try:
            await self._refresher.scheduled(claim.connection_id, claim.due)
        except Exception:  # an unexpected failure must not kill the loop; the lease retries it
            log.exception("refresh.crashed", connection_id=claim.connection_id)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._wake.set()
