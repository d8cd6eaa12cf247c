"""What the refresher needs from the outside world, as Protocols (adapters.py has the real ones)."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from shared.contracts.common import DEFAULT_PROJECT
from shared.contracts.events import Event
from shared.providers.models import Provider, TokenGrant
from shared.tokens.model import StoredToken


class Clock(Protocol):
    """Wall time for token expiry, monotonic time for budgets, and sleeping."""

    def now(self) -> datetime:
        """The current aware UTC time."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never jumps."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds``."""
        ...


@dataclass(frozen=True)
class Claim:
    """One schedule entry a replica took, until ``lease_until``.

    ``user_id`` and ``provider_id`` come from the connection's metadata in the same step;
    they are None when the connection is gone.
    """

    connection_id: str
    due: datetime
    lease_until: datetime
    user_id: str | None = None
    provider_id: str | None = None
    project: str = DEFAULT_PROJECT


@dataclass
class Locked:
    """A connection's refresh lock held by this replica, and its token as read once it was taken.

    Taking the lock also leaves an in-flight marker (``marker``) naming the stored record's
    version: a refresh killed between spending the refresh token and writing its answer
    leaves that marker behind. ``interrupted_at`` is when such an earlier attempt on the
    very record read now began (None when there was none): its outcome is unknown.

    ``released`` is set when a write let the lock go in the same step; ``lost`` when a
    renewal found the lock taken by someone else (it expired under us); ``uncertain`` when
    a call may have reached the provider without us seeing its answer (the marker then
    stays when the lock is released).
    """

    connection_id: str
    owner: str
    token: StoredToken | None
    marker: str = ""
    interrupted_at: datetime | None = None
    released: bool = field(default=False, compare=False)
    lost: bool = field(default=False, compare=False)
    uncertain: bool = field(default=False, compare=False)


class Tokens(Protocol):
    """The token store, its refresh schedule and the per-connection refresh locks."""

    async def get(
        self, user_id: str, provider_id: str, *, project: str = DEFAULT_PROJECT
    ) -> StoredToken | None:
        """The decrypted token of the project's connection, or None."""
        ...

    async def put(
        self,
        user_id: str,
        provider_id: str,
        token: StoredToken,
        *,
        events: list[Event],
        unlock: Locked | None = None,
        project: str = DEFAULT_PROJECT,
    ) -> str:
        """Write token, metadata, schedule and events atomically; returns the new record's version.

        ``unlock``: release that lock and clear its in-flight marker in the same step.
        """
        ...

    async def put_if_current(
        self,
        user_id: str,
        provider_id: str,
        token: StoredToken,
        version: str,
        *,
        project: str = DEFAULT_PROJECT,
    ) -> bool:
        """Write ``token`` only if the stored record still has ``version``; False when it changed."""
        ...

    def locked(
        self, user_id: str, provider_id: str, *, project: str = DEFAULT_PROJECT
    ) -> AbstractAsyncContextManager[Locked | None]:
        """Wait for the connection's cross-replica refresh lock (owner-checked, with an expiry).

        Yields the lock with the token read right after it was taken, or None when it could
        not be taken in time; releases it on exit unless a write already did.
        """
        ...

    async def add_event(self, event: Event) -> None:
        """Queue an event on its own (no state change to pair it with)."""
        ...

    async def reschedule(self, connection_id: str, at: datetime) -> None:
        """Move a scheduled connection's next refresh."""
        ...

    async def unschedule(self, connection_id: str) -> None:
        """Remove a connection from the schedule."""
        ...

    async def record_failure(self, connection_id: str) -> int:
        """Count a consecutive failure; returns the new count."""
        ...

    async def claim_due(self, now: datetime, lease_until: datetime, limit: int) -> list[Claim]:
        """Atomically take up to ``limit`` due entries, hiding them from others until ``lease_until``."""
        ...

    async def renew(
        self, locks: Sequence[Locked], claims: Sequence[Claim], lease_until: datetime
    ) -> tuple[list[bool], list[bool]]:
        """Extend held locks and push running claims' leases to ``lease_until``, owner-checked.

        A lock is extended only while its owner still holds it, a claim only while its
        entry is still at the claim's lease end. Returns, in order, which were extended.
        """
        ...

    async def unclaim(self, claims: list[Claim]) -> None:
        """Give unstarted claims back at their due moment (unless the entry moved meanwhile)."""
        ...

    async def next_due(self) -> datetime | None:
        """The earliest scheduled moment."""
        ...


class Providers(Protocol):
    """Resolved provider configs by configured provider id (the registry, when it lands)."""

    async def get(self, provider_id: str, project: str = DEFAULT_PROJECT) -> Provider | None:
        """The project's provider, or None when unknown or disabled."""
        ...


class ProviderCalls(Protocol):
    """Refresh and user-info calls to a provider (``shared.providers.client.ProviderClient``)."""

    async def refresh(
        self,
        provider: Provider,
        *,
        refresh_token: str | None,
        access_token: str | None = None,
        timeout: float | None = None,
    ) -> TokenGrant:
        """Refresh; raises InvalidGrant, ProviderUnavailable or ProviderError (shared.errors)."""
        ...

    async def user_info(
        self, provider: Provider, access_token: str, *, timeout: float | None = None
    ) -> dict[str, Any]:
        """The user info for a token; ``{}`` when the provider configures none."""
        ...


class RefreshNotes(Protocol):
    """Counts refresh decisions for the console (``refresh_counts.RefreshCounts``): in process."""

    def note(self, project: str, outcome: str, lateness_seconds: float | None) -> None: ...
