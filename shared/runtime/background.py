"""Work a handler leaves to run after its reply has gone.

Only work that is redundant with what is already stored belongs here: a crash, or a stop
that outlasts the grace, may drop it and nothing is lost (an outbox relay's early
publish of events already in the outbox, say).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from shared.runtime.logging import get_logger

log = get_logger(__name__)


class Background:
    """Runs and tracks such work; :meth:`drain` waits for it when the service stops."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def run(self, work: Coroutine[Any, Any, None], *, name: str) -> None:
        """Start ``work`` at the next turn of the event loop (after the current reply is sent)."""
        task = asyncio.create_task(self._guarded(work, name))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _guarded(work: Coroutine[Any, Any, None], name: str) -> None:
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
