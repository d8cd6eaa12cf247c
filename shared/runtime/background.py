"""Work that runs beside the requests: what a handler leaves for after its reply
(:class:`Background`), and a service's periodic loops (:class:`Periodic`).

Only work a crash may drop belongs in :class:`Background`: a crash, or a stop that outlasts
the grace, may drop it. Either it is redundant with what is already stored (an outbox relay's
early publish of events already in the outbox), or it is a best-effort record whose write
the caller should not wait for (an immediate execution's history record, which a crash in
the same instant would have lost anyway).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from shared.runtime.logging import get_logger

log = get_logger(__name__)

#: How often :func:`cancel_and_wait` asks again while a cancelled task runs on.
CANCEL_AGAIN_S = 0.05


async def cancel_and_wait(task: asyncio.Task[Any]) -> None:
    """Cancel ``task`` and wait until it has ended, asking again while it runs on.

    One cancel is not always enough on Python 3.11: ``asyncio.wait_for`` returns the inner
    result when the cancel lands in the turn that inner call finished, and forgets the cancel.
    redis-py sends every command through ``wait_for``; cancelling a task at a Redis command
    under uvloop was lost about every second time (measured), and a stop that awaited the task
    waited forever (the executor then outlived its SIGTERM grace). Python 3.12 fixed it.
    """
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=CANCEL_AGAIN_S)
    with contextlib.suppress(asyncio.CancelledError, Exception):
        task.result()  # retrieved: a failure at the end of a stop is not news


class Background:
    """Runs and tracks such work; :meth:`drain` waits for it when the service stops."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def run(self, work: Coroutine[Any, Any, None], *, name: str) -> None:
        """Start ``work`` once the current reply is written: after the tasks woken in this turn."""
        task = asyncio.create_task(self._guarded(work, name))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _guarded(work: Coroutine[Any, Any, None], name: str) -> None:
        # A reply leaves in a task of its own (nats-py's flusher, woken when the reply is
        # published, later in the turn that called run): one turn's wait puts this work behind
        # that write. Started at once, the history record's encoding and Redis write went
        # before it and cost tools.execute ~0.15 ms at one client.
        await asyncio.sleep(0)
        try:
            await work
        except Exception as exc:  # redundant by contract: log it and let it go
            log.warning("background.failed", work=name, error=type(exc).__name__)

    async def drain(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for the work started so far; cancel what is left."""
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
        for task in pending:
            task.cancel()


class Periodic:
    """Runs ``work`` every ``interval`` seconds from :meth:`start` to :meth:`stop`.

    A round that fails is logged as the event ``failed`` (Redis or NATS away) and the next
    comes at its time: the loop never dies of it. The first round runs at start with
    ``at_once``, else one interval later. :meth:`wake` brings the next round forward.
    ``sleep`` replaces the real clock's pause (a test's clock); such a pause is not woken.
    With ``last_round_at_stop``, :meth:`stop` runs one more round once the loop has ended: a
    buffer flushed every interval loses nothing at a clean shutdown.
    """

    def __init__(
        self,
        work: Callable[[], Awaitable[object]],
        interval: float,
        *,
        name: str,
        failed: str,
        at_once: bool = False,
        last_round_at_stop: bool = False,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        self._work, self._interval, self._name, self._failed = work, interval, name, failed
        self._at_once, self._last_round_at_stop, self._sleep = at_once, last_round_at_stop, sleep
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self._name)

    def wake(self) -> None:
        """Run the next round now rather than at its time."""
        self._wake.set()

    async def stop(self) -> None:
        """Cancel the loop (a round under way included) and wait until it has ended."""
        if self._task is not None:
            await cancel_and_wait(self._task)
        if self._last_round_at_stop:
            await self._round()

    async def _run(self) -> None:
        if self._at_once:
            await self._round()
        while True:
            await self._pause()
            await self._round()

    async def _pause(self) -> None:
        if self._sleep is not None:
            await self._sleep(self._interval)
            return
        # asyncio.timeout, not wait_for: on 3.11, wait_for swallows a cancel that lands just
        # after a wake, and stop() then waits for this loop forever.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._interval):
                await self._wake.wait()
        self._wake.clear()

    async def _round(self) -> None:
        try:
            await self._work()
        except Exception as exc:  # the next round tries again
            log.warning(self._failed, error=type(exc).__name__, detail=str(exc))
