"""The sweeper: fails authorizations left in an intermediate stage past its deadline.

A callback that dies inside the code exchange (its process killed, its host gone) leaves
its record in ``exchanging``; a verification nobody confirms leaves it in ``verify``.
Each such stage has a deadline (``<p>:authz:deadlines``); past it, the record is failed
with a reason (``exchange_interrupted``, ``verification_expired``) and its one
``AuthorizationFailed`` event. Every replica sweeps: the failure is a compare-and-set on
the stage, so of two replicas sweeping one record only one fails it, and a callback that
finishes at the last moment wins or loses cleanly against the sweeper.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from services.authorizer import domain
from services.authorizer.authorizations import Authorizations
from shared.runtime.logging import get_logger

log = get_logger(__name__)

#: Overdue authorizations handled per pass; the next pass takes the rest.
SWEEP_BATCH = 100


@dataclass
class Sweeper:
    """Fails overdue authorizations every ``interval`` seconds once started."""

    authorizations: Authorizations
    interval: float
    _task: asyncio.Task[None] | None = field(default=None, init=False)

    async def sweep(self) -> int:
        """One pass; returns how many authorizations this replica failed."""
        store = self.authorizations.store
        now = self.authorizations.clock()
        failed = 0
        for auth_id in await store.overdue(now, limit=SWEEP_BATCH):
            record = await store.get(auth_id)
            if record is None or record.stage == "done":
                await store.forget_deadline(auth_id)
                continue
            reason = domain.overdue_reason(record, now)
            if reason is not None and (await self.authorizations.fail(record, reason)).applied:
                failed += 1
        return failed

    async def _run(self) -> None:
        while True:
            try:
                await self.sweep()
            except Exception as exc:  # Redis away: the deadlines stay; the next pass tries again
                log.warning("authorization.sweep_failed", error=type(exc).__name__, detail=str(exc))
            await asyncio.sleep(self.interval)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="authorization-sweeper")

    async def stop(self) -> None:
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
