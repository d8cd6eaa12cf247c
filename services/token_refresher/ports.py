"""What the refresher needs from the outside world, as Protocols (adapters.py has the real ones)."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

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


@dataclass
class Locked:
    """A connection's refresh lock held by this replica, and its token as read once it was taken.

    ``released`` is set when a write let the lock go in the same step.
    """

    connection_id: str
    owner: str
    token: StoredToken | None
    released: bool = field(default=False, compare=False)


class Tokens(Protocol):
    """The token store, its refresh schedule and the per-connection refresh locks."""

    async def get(self, user_id: str, provider_id: str) -> StoredToken | None:
        """The decrypted token, or None."""
        ...

    async def put(
        self,
        user_id: str,
        provider_id: str,
        token: StoredToken,
        *,
        events: list[Event],
        unlock: Locked | None = None,
    ) -> None:
        """Write token, metadata, schedule and events atomically, releasing ``unlock`` in the same step."""
        ...

    def locked(self, user_id: str, provider_id: str) -> AbstractAsyncContextManager[Locked | None]:
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

    async def unclaim(self, claims: list[Claim]) -> None:
        """Give unstarted claims back at their due moment (unless the entry moved meanwhile)."""
        ...

    async def next_due(self) -> datetime | None:
        """The earliest scheduled moment."""
        ...


class Providers(Protocol):
    """Resolved provider configs by configured provider id (the registry, when it lands)."""

    async def get(self, provider_id: str) -> Provider | None:
        """The provider, or None when unknown or disabled."""
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
