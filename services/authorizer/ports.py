"""What the authorizer's use cases need from the outside world, as narrow protocols."""

from __future__ import annotations

from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from services.authorizer.domain import AuthorizationRecord
from shared.contracts.events import Event
from shared.providers.models import Provider, TokenGrant
from shared.tokens.model import StoredToken
from shared.tokens.store import Connection


@dataclass(frozen=True)
class StateClaim:
    """What a consumed ``state`` was bound to: its authorization and the provider it was issued for.

    ``record`` is the authorization as it was stored with the state. Nothing changes a
    pending record before its state is consumed, so it is the record itself and the
    callback needs no second read; None for a state stored without it.
    """

    authorization_id: str
    provider_id: str
    record: AuthorizationRecord | None = None


class AuthorizationStore(Protocol):
    """Pending authorizations, their single-use states and verification flows."""

    async def create(self, record: AuthorizationRecord, *, state: str, ttl_seconds: int) -> None:
        """Store a new authorization and bind ``state`` to it for ``ttl_seconds``."""

    async def get(self, authorization_id: str) -> AuthorizationRecord | None:
        """The authorization, secrets decrypted; None when unknown or long expired."""

    async def save(self, record: AuthorizationRecord, *, events: Sequence[Event] = ()) -> None:
        """Replace the record; ``events`` join the outbox in the same transaction."""

    async def consume_state(self, state: str) -> StateClaim | None:
        """Take a state exactly once; None when unknown, expired or already taken."""

    async def state_owner(self, state: str) -> str | None:
        """The authorization a state was issued for, even after it expired or was used."""

    async def hold_for_verification(self, record: AuthorizationRecord, *, ttl_seconds: int) -> None:
        """Save a record waiting for ``confirm_user`` and index it by its ``flow_id``."""

    async def take_flow(self, flow_id: str) -> str | None:
        """Consume a verification flow id; returns its authorization id."""

    async def peek_flow(self, flow_id: str) -> str | None:
        """The authorization id of a verification flow, without consuming it."""


class ProviderCalls(Protocol):
    """Code exchange and user info at a provider (``shared.providers.client.ProviderClient``)."""

    async def exchange(
        self, provider: Provider, *, code: str, redirect_uri: str, code_verifier: str | None
    ) -> TokenGrant:
        """Exchange an authorization code.

        Raises:
            InvalidGrant: The code was refused.
            ProviderUnavailable: Timeout, 5xx or 429.
            ProviderError: Any other unusable answer.
        """

    async def user_info(self, provider: Provider, access_token: str) -> dict[str, Any]:
        """Fetch user info with the new token.

        Raises:
            ProviderError: The provider refused or failed.
        """


class Providers(Protocol):
    """The provider registry, as the authorizations use it."""

    async def get(self, provider_id: str) -> Provider | None: ...

    async def find(self, *, id: str | None, builtin_id: str | None) -> Provider: ...


class Tokens(Protocol):
    """The encrypted token store, as the flows use it."""

    async def get(self, user_id: str, provider_id: str) -> StoredToken | None: ...

    async def connection(self, connection_id: str) -> Connection | None: ...

    async def put(
        self,
        user_id: str,
        provider_id: str,
        token: StoredToken,
        *,
        events: list[Event] | None = None,
    ) -> Connection: ...


class FreshTokens(Protocol):
    """Reads a token that is never served expired (``shared.tokens.freshness.fresh_token``)."""

    async def __call__(self, *, user_id: str, provider_id: str) -> StoredToken | None: ...


class Later(Protocol):
    """Runs work after the current reply; only work that is safe to lose (``shared.runtime.background``)."""

    def run(self, work: Coroutine[Any, Any, None], *, name: str) -> None: ...


class Notifier(Protocol):
    """Tells the outbox relay that events were committed (and, when given, which)."""

    def wake(self, events: Sequence[Event] = ()) -> None: ...
