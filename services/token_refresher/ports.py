"""What the refresher needs from the outside world, as Protocols (adapters.py has the real ones)."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from shared.contracts.events import Event
from shared.providers.http import ProviderResponse
from shared.providers.models import Provider
from shared.providers.oauth import HttpRequestSpec
from shared.tokens import StoredToken
from shared.tokenstore import Connection


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
    """One schedule entry a replica took: the connection and the moment its refresh was due."""

    connection_id: str
    due: datetime


class Tokens(Protocol):
    """The token store and its refresh schedule."""

    async def get(self, user_id: str, provider_id: str) -> StoredToken | None:
        """The decrypted token, or None."""
        ...

    async def connection(self, conn: str) -> Connection | None:
        """Non-secret metadata (who and which provider) of a connection."""
        ...

    async def put(
        self, user_id: str, provider_id: str, token: StoredToken, *, provider_type: str, events: list[Event]
    ) -> None:
        """Write token, metadata, schedule and events in one transaction."""
        ...

    async def add_event(self, event: Event) -> None:
        """Queue an event on its own (no state change to pair it with)."""
        ...

    async def reschedule(self, conn: str, at: datetime) -> None:
        """Move a scheduled connection's next refresh."""
        ...

    async def unschedule(self, conn: str) -> None:
        """Remove a connection from the schedule."""
        ...

    async def record_failure(self, conn: str) -> int:
        """Count a consecutive failure; returns the new count."""
        ...

    async def claim_due(self, now: datetime, lease_until: datetime, limit: int) -> list[Claim]:
        """Atomically take up to ``limit`` due entries, hiding them from others until ``lease_until``."""
        ...

    async def next_due(self) -> datetime | None:
        """The earliest scheduled moment."""
        ...


class Providers(Protocol):
    """Resolved provider configs by configured provider id (the registry, when it lands)."""

    async def get(self, provider_id: str) -> Provider | None:
        """The provider, or None when unknown or disabled."""
        ...


class TokenEndpoint(Protocol):
    """Sends a built request to a provider."""

    async def send(self, spec: HttpRequestSpec, *, timeout: float) -> ProviderResponse:
        """Send; raises ProviderUnavailable on timeouts and transport errors."""
        ...


class Locks(Protocol):
    """Cross-replica, owner-checked locks with an expiry."""

    def hold(self, conn: str) -> AbstractAsyncContextManager[bool]:
        """Wait for the connection's refresh lock; yields False when it could not be taken in time."""
        ...
