"""What the authorizer's use cases need from the outside world, as narrow protocols."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from services.authorizer.domain import AuthorizationRecord, Stage
from shared.contracts.events import Event
from shared.providers.models import Provider, TokenGrant
from shared.tokens.model import StoredToken
from shared.tokens.store import Connection


@dataclass(frozen=True)
class StateClaim:
    """What a live ``state`` is bound to: its authorization and the provider it was issued for.

    ``record`` is the authorization as it was stored with the state (in stage ``consent``),
    which spares the callback a read; a compare-and-set from ``consent`` then tells whether
    it is still so. None for a state stored without it.
    """

    authorization_id: str
    provider_id: str
    record: AuthorizationRecord | None = None


@dataclass(frozen=True)
class Transition:
    """What a compare-and-set on a record's stage did.

    ``applied``: the record was in the expected stage and now is ``record``. Otherwise
    ``record`` is the record as another actor left it (None when it no longer exists).
    """

    applied: bool
    record: AuthorizationRecord | None


class AuthorizationStore(Protocol):
    """Authorizations, their states and verification flows, and the deadlines of their stages.

    Every write after ``create`` is a compare-and-set on the stored record's stage, done in
    one atomic step with its events (outbox) and its deadline entry.
    """

    async def create(self, record: AuthorizationRecord, *, state: str, ttl_seconds: int) -> None:
        """Store a new authorization and bind ``state`` to it for ``ttl_seconds``."""

    async def get(self, authorization_id: str) -> AuthorizationRecord | None:
        """The authorization, secrets decrypted; None when unknown or long expired."""

    async def transition(
        self,
        expected: Stage,
        record: AuthorizationRecord,
        *,
        events: Sequence[Event] = (),
        flow_ttl_seconds: int | None = None,
    ) -> Transition:
        """Replace the record if it is still in stage ``expected``; ``events`` join the outbox
        in the same step. A record with a ``flow_id`` and ``flow_ttl_seconds`` is indexed by
        its flow id for that long (the verification step)."""

    async def claim(self, state: str, record: AuthorizationRecord) -> Transition | None:
        """``transition("consent", record)`` (a claim: ``record`` is in ``exchanging``) if
        ``state`` is still live too, in one step; None, and nothing changed, when it is not."""

    async def complete(
        self, expected: Stage, record: AuthorizationRecord, token: StoredToken, *, events: Sequence[Event]
    ) -> Transition:
        """Like ``transition``, storing ``token`` for the record's user and provider in the same step."""

    async def find_state(self, state: str) -> StateClaim | None:
        """What a live state is bound to; None when unknown or expired. Reading does not use it up:
        the stage of its record says whether a callback already came."""

    async def state_owner(self, state: str) -> str | None:
        """The authorization a state was issued for, even after it expired."""

    async def peek_flow(self, flow_id: str) -> str | None:
        """The authorization id of a verification flow."""

    async def overdue(self, now: datetime, *, limit: int) -> list[str]:
        """Ids of authorizations whose stage deadline is ``now`` or earlier, oldest first."""

    async def forget_deadline(self, authorization_id: str) -> None:
        """Drop the deadline entry of an authorization that no longer exists."""


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

    async def get(self, provider_id: str, project: str) -> Provider | None: ...

    async def find(self, *, id: str | None, builtin_id: str | None, project: str) -> Provider: ...


class Tokens(Protocol):
    """The encrypted token store, as the flows use it."""

    async def get(self, user_id: str, provider_id: str, *, project: str = ...) -> StoredToken | None: ...

    async def connection(self, connection_id: str) -> Connection | None: ...

    async def put(
        self,
        user_id: str,
        provider_id: str,
        token: StoredToken,
        *,
        events: list[Event] | None = None,
        project: str = ...,
    ) -> Connection: ...


class FreshTokens(Protocol):
    """Reads a token that is never served expired (``shared.tokens.freshness.fresh_token``)."""

    async def __call__(self, *, user_id: str, provider_id: str, project: str) -> StoredToken | None: ...


class Notifier(Protocol):
    """Tells the outbox relay that events were committed (and, when given, which)."""

    def wake(self, events: Sequence[Event] = ()) -> None: ...


class SignInProvider(Protocol):
    """The platform's OpenID provider, for the verification sign-in (``verification: oidc``)."""

    async def authorization_endpoint(self) -> str:
        """Where the browser signs in (from the issuer's discovery document).

        Raises:
            ProviderError: The discovery document could not be read.
        """

    async def claims(self, *, code: str, code_verifier: str) -> dict[str, Any]:
        """Exchange the sign-in's code and return its ID token's claims, once the token's
        signature (the issuer's JWKS), ``iss``, ``aud`` and ``exp`` are checked.

        Raises:
            ProviderError: The exchange failed or the ID token is not valid.
        """
