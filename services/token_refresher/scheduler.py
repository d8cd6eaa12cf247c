"""The proactive loop: claim due schedule entries, refresh them with bounded concurrency.

The schedule is the Redis zset the token store writes with every token, so it survives
restarts of this process, of NATS, and of Redis with persistence. Claims are leased
(see ``adapters.CLAIM_SCRIPT``) and taken in batches: besides the running refreshes, up
to ``concurrency`` claims wait in a local queue, so a busy replica pays one claim round
trip per batch instead of one per refresh. A queued claim starts as soon as a slot frees
(from the finished refresh's callback, without a trip through the loop); one that waited
half its lease (all slots stuck on a slow provider) is given back instead of started, and
so are the queued ones when the loop stops. A started claim's lease is renewed while its
refresh runs (``leases.Leases``): leases are short, so a dead replica's claims come back in
seconds, and a live replica's long refresh is not taken over.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from datetime import timedelta

from services.token_refresher.leases import Leases
from services.token_refresher.ports import Claim, Clock, Tokens
from services.token_refresher.refresher import Refresher
from services.token_refresher.settings import RefresherSettings
from shared.runtime.background import cancel_and_wait
from shared.runtime.logging import get_logger

log = get_logger(__name__)


class Scheduler:
    """Runs scheduled refreshes until stopped.

    Args:
        tokens: Store and schedule.
        refresher: The refresh use case.
        clock: Time source.
        settings: Concurrency, lease and poll interval.
        leases: Renews the leases of started claims.
    """

    def __init__(
        self,
        tokens: Tokens,
        refresher: Refresher,
        clock: Clock,
        settings: RefresherSettings,
        leases: Leases,
    ) -> None:
        self._tokens = tokens
        self._leases = leases
        self._refresher = refresher
        self._clock = clock
        self._settings = settings
        self._running: set[asyncio.Task[None]] = set()
        self._queue: deque[Claim] = deque()
        self._late: list[Claim] = []
        self._stopping = False
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the loop in the background."""
        self._task = asyncio.create_task(self._loop(), name="refresh-scheduler")

    async def stop(self, grace: float = 10.0) -> None:
        """Stop claiming, give queued claims back, let running refreshes finish within ``grace`` seconds.

        Whatever is still running after that is cancelled; its lease brings it back.
        """
        self._stopping = True
        if self._task is not None:
            await cancel_and_wait(self._task)
        unstarted, self._queue, self._late = [*self._late, *self._queue], deque(), []
        with contextlib.suppress(Exception):  # Redis away: their leases bring them back instead
            await self._tokens.unclaim(unstarted)
        if self._running:
            _, pending = await asyncio.wait(set(self._running), timeout=grace)
            for task in pending:
                task.cancel()

    async def run_once(self) -> int:
        """Claim a batch if the queue runs low and start queued claims; returns how many were claimed."""
        claimed = await self._top_up()
        self._start_queued()
        if self._late:
            late, self._late = self._late, []
            await self._tokens.unclaim(late)
        return claimed

    async def _top_up(self) -> int:
        limit = self._settings.concurrency
        room = 2 * limit - len(self._running) - len(self._queue)
        if room <= 0 or len(self._queue) > limit // 2:
            return 0
        now = self._clock.now()
        lease_until = now + timedelta(seconds=self._settings.lease_seconds)
        claims = await self._tokens.claim_due(now, lease_until, room)
        self._queue.extend(claims)
        return len(claims)

    def _start_queued(self) -> None:
        half_lease = timedelta(seconds=self._settings.lease_seconds / 2)
        while self._queue and len(self._running) < self._settings.concurrency:
            claim = self._queue.popleft()
            if claim.lease_until - self._clock.now() < half_lease:
                self._late.append(claim)  # the rest of its lease is the refresh's, not the queue's
                continue
            task = asyncio.create_task(self._refresh(claim))
            self._running.add(task)
            task.add_done_callback(self._finished)

    async def _loop(self) -> None:
        # Checked as well as cancelled: a cancel swallowed on its way (a library catching it
        # inside a Redis call) must not leave stop() waiting for this loop forever.
        while not self._stopping:
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
        self._wake.clear()
        timeout = self._settings.poll_seconds
        if len(self._running) < self._settings.concurrency:
            upcoming = await self._tokens.next_due()
            if upcoming is not None:
                timeout = min(timeout, max(0.0, (upcoming - self._clock.now()).total_seconds()))
        # asyncio.timeout, not wait_for: on 3.11, wait_for swallows a cancel that lands just
        # after the wake was set, and stop() then waits for this loop forever.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._wake.wait()

    async def _refresh(self, claim: Claim) -> None:
        try:
            with self._leases.claim(claim):
                await self._refresher.scheduled(claim)
        except Exception:  # an unexpected failure must not kill the loop; the lease retries it
            log.exception("refresh.crashed", connection_id=claim.connection_id)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        if self._stopping:
            return  # queued claims go back, not into new refreshes
        self._start_queued()
        if self._late or len(self._queue) <= self._settings.concurrency // 2:
            self._wake.set()  # the loop tops the queue up (or gives late claims back)
