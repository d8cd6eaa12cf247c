"""Per-endpoint lanes: at most ``per_endpoint`` requests in flight to one endpoint per replica.

Two ways in:

* ``take`` is for the fan-out's first attempt, which holds an event while it waits. It waits
  only when the wait should be short (the lane's queue divided by its throughput, measured
  from recent request times, stays under a second) and only while the lane makes progress,
  and otherwise answers False at once so the delivery goes to the work queue instead. A slow
  or dead receiver therefore holds events for a bounded, short time and cannot starve the
  fan-out of the endpoints that answer.
* ``wait`` is for deliveries from the work queue: it waits as long as it takes, telling
  JetStream the message is still being worked on.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

# A lane holds at most this many waiting deliveries per allowed request; beyond it, deliveries
# are deferred so one slow receiver cannot fill the replica's slots.
LANE_DEPTH_FACTOR = 32
# The first attempt waits for a slot only if the expected wait is under this...
MAX_FIRST_WAIT_SECONDS = 1.0
# ...and gives up when no slot of the lane changed hands for this long (a stalled receiver).
STALL_SECONDS = 0.25
# An unknown endpoint is assumed to answer this fast until measured.
FIRST_GUESS_SECONDS = 0.05
# Weight of the newest request time in the lane's running average.
EWMA_WEIGHT = 0.1
# After a wait longer than this, JetStream hears once more that the message is being worked on.
LATE_SECONDS = 1.0
# A lane unused this long is forgotten (its endpoint may be gone), checked at most this often.
IDLE_SECONDS = 600.0
PRUNE_EVERY_SECONDS = 60.0


class Lane:
    """One endpoint's slots, queue and measured request time."""

    def __init__(self, limit: int, now: float) -> None:
        self.limit = limit
        self.slots = asyncio.Semaphore(limit)
        self.busy = 0
        self.waiting = 0
        self.request_time = FIRST_GUESS_SECONDS
        self.last_move = now

    async def acquire(self, now: float) -> None:
        """Only when a slot is free (it returns without waiting)."""
        await self.slots.acquire()
        self.busy += 1
        self.last_move = now

    async def acquire_within(self, seconds: float, clock: Callable[[], float]) -> bool:
        try:
            async with asyncio.timeout(seconds):
                await self.slots.acquire()
        except TimeoutError:
            return False
        self.busy += 1
        self.last_move = clock()
        return True

    def expected_wait(self) -> float:
        """Seconds the next waiter should wait: the queue ahead over the lane's throughput."""
        return (self.waiting + 1) * self.request_time / self.limit

    def idle_since(self, now: float, seconds: float) -> bool:
        """Nothing in flight or waiting, and no slot changed hands for ``seconds``."""
        return not self.busy and not self.waiting and now - self.last_move > seconds

    def finished(self, elapsed: float, now: float) -> None:
        self.busy -= 1
        self.slots.release()
        self.request_time += EWMA_WEIGHT * (elapsed - self.request_time)
        self.last_move = now


class Lanes:
    """The lanes of every endpoint, created on first use and forgotten after ``IDLE_SECONDS``
    unused, so deleted endpoints do not pile up in a long-running replica.

    Args:
        per_endpoint: Requests in flight per endpoint.
        clock: Monotonic seconds (injectable for tests).
    """

    def __init__(self, per_endpoint: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._limit = per_endpoint
        self._clock = clock
        self._lanes: dict[str, Lane] = {}
        self._next_prune = clock() + PRUNE_EVERY_SECONDS

    @property
    def held(self) -> int:
        """How many lanes are held (not ``__len__``: an empty ``Lanes`` must stay truthy)."""
        return len(self._lanes)

    def _lane(self, endpoint_id: str) -> Lane:
        now = self._clock()
        if now >= self._next_prune:
            self._prune(now)
        lane = self._lanes.get(endpoint_id)
        if lane is None:
            lane = self._lanes[endpoint_id] = Lane(self._limit, now)
        return lane

    def _prune(self, now: float) -> None:
        self._next_prune = now + PRUNE_EVERY_SECONDS
        for endpoint_id, lane in list(self._lanes.items()):
            if lane.idle_since(now, IDLE_SECONDS):
                del self._lanes[endpoint_id]

    def crowded(self, endpoint_id: str) -> bool:
        lane = self._lane(endpoint_id)
        return lane.waiting >= lane.limit * LANE_DEPTH_FACTOR

    async def take(self, endpoint_id: str) -> bool:
        """A slot now, or after a short wait on a lane that moves; False means: queue it instead."""
        lane = self._lane(endpoint_id)
        if not lane.slots.locked():
            await lane.acquire(self._clock())
            return True
        if self.crowded(endpoint_id) or lane.expected_wait() > MAX_FIRST_WAIT_SECONDS:
            return False
        deadline = self._clock() + MAX_FIRST_WAIT_SECONDS
        lane.waiting += 1
        try:
            while self._clock() < deadline and self._clock() - lane.last_move < STALL_SECONDS:
                if await lane.acquire_within(STALL_SECONDS, self._clock):
                    return True
            return False
        finally:
            lane.waiting -= 1

    async def wait(self, endpoint_id: str, *, beat: Callable[[], Awaitable[None]], every: float) -> None:
        """A slot however long it takes, calling ``beat`` every ``every`` seconds meanwhile, and
        once more on getting a slot late, so the request that follows has a whole ack wait."""
        lane = self._lane(endpoint_id)
        if not lane.slots.locked():
            await lane.acquire(self._clock())
            return
        lane.waiting += 1
        try:
            last_beat = self._clock()
            while not await lane.acquire_within(every, self._clock):
                await beat()
                last_beat = self._clock()
        finally:
            lane.waiting -= 1
        if self._clock() - last_beat > LATE_SECONDS:
            with contextlib.suppress(Exception):  # the slot is held; at worst the message comes again
                await beat()

    async def run(self, endpoint_id: str, work: Callable[[], Awaitable[T]]) -> T:
        """Run ``work`` in a slot already taken, timing it, then give the slot back."""
        started = self._clock()
        try:
            return await work()
        finally:
            now = self._clock()
            self._lane(endpoint_id).finished(now - started, now)
