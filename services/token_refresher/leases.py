"""Keeps this replica's refresh locks and schedule claims alive while their refreshes run.

Locks and claim leases are short (``lock_ttl_seconds``, ``lease_seconds``: seconds, not
minutes), so a replica that dies mid-refresh frees its connections quickly: another replica
or the restarted one takes them over within one expiry. A live replica keeps what it holds
with one background task that renews every held lock and running claim in one round trip,
every third of the shorter expiry (``RefresherSettings.renew_seconds``). Renewals are
owner-checked: a lock that expired under us and was taken by someone else is marked
``lost`` (the refresher then makes no further provider call with it), never taken back.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta

from services.token_refresher.ports import Claim, Clock, Locked, Tokens
from services.token_refresher.settings import RefresherSettings
from shared.runtime.background import Periodic
from shared.runtime.logging import get_logger

log = get_logger(__name__)


class Leases:
    """The locks and claims this replica holds, renewed in the background until released.

    Args:
        tokens: Where locks and claims live (``Tokens.renew``).
        clock: Time source.
        settings: Lease length and renewal period.
    """

    def __init__(self, tokens: Tokens, clock: Clock, settings: RefresherSettings) -> None:
        self._tokens = tokens
        self._clock = clock
        self._settings = settings
        self._locks: dict[str, Locked] = {}  # by owner
        self._claims: dict[str, Claim] = {}  # by connection id, with the lease end last renewed
        # Redis away: a round fails, and the next one tries again; expiry is the fallback.
        self._loop = Periodic(
            self.renew_once,
            settings.renew_seconds,
            name="refresh-leases",
            failed="refresh.renew_failed",
            sleep=clock.sleep,
        )

    @contextlib.contextmanager
    def lock(self, lock: Locked) -> Iterator[None]:
        """Renew ``lock`` while the block runs (or until a write released it)."""
        self._locks[lock.owner] = lock
        try:
            yield
        finally:
            self._locks.pop(lock.owner, None)

    @contextlib.contextmanager
    def claim(self, claim: Claim) -> Iterator[None]:
        """Renew ``claim``'s lease while the block runs."""
        self._claims[claim.connection_id] = claim
        try:
            yield
        finally:
            self._claims.pop(claim.connection_id, None)

    def start(self) -> None:
        """Start renewing in the background."""
        self._loop.start()

    async def stop(self) -> None:
        """Stop renewing; what is still held expires on its own."""
        await self._loop.stop()

    async def renew_once(self) -> None:
        """Renew everything held now; mark locks found taken by someone else as lost."""
        locks = [lock for lock in self._locks.values() if not lock.released and not lock.lost]
        claims = list(self._claims.values())
        lease_until = self._clock.now() + timedelta(seconds=self._settings.lease_seconds)
        kept_locks, kept_claims = await self._tokens.renew(locks, claims, lease_until)
        for lock, kept in zip(locks, kept_locks, strict=True):
            if not kept and not lock.released and self._locks.get(lock.owner) is lock:
                lock.lost = True
                log.warning("refresh.lock_lost", connection_id=lock.connection_id)
        for claim, kept in zip(claims, kept_claims, strict=True):
            if kept and self._claims.get(claim.connection_id) is claim:
                self._claims[claim.connection_id] = replace(claim, lease_until=lease_until)
