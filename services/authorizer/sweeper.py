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

from dataclasses import dataclass, field

from services.authorizer import domain
from services.authorizer.authorizations import Authorizations
from shared.runtime.background import Periodic

#: Overdue authorizations handled per pass; the next pass takes the rest.
SWEEP_BATCH = 100


@dataclass
class Sweeper:
    """Fails overdue authorizations every ``interval`` seconds once started."""

    authorizations: Authorizations
    interval: float
    _loop: Periodic = field(init=False)

    def __post_init__(self) -> None:
        # Redis away: a pass fails, the deadlines stay, and the next pass tries again.
        self._loop = Periodic(
            self.sweep,
            self.interval,
            name="authorization-sweeper",
            failed="authorization.sweep_failed",
            at_once=True,
        )

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

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()
