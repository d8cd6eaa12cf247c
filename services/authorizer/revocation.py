"""Revoking a deleted connection's grant at its provider (RFC 7009), never failing the delete.

The outcome is a fact for the ``connection.revoked`` event: ``revoked`` (the provider confirmed),
``not_supported`` (it has no revocation endpoint) or ``failed`` with the reason. The token goes
through the provider client, so the outbound address policy applies as to every provider call.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Protocol

from shared.contracts.events import RevocationStatus
from shared.errors import ValetkeyError
from shared.providers.client import TokenTypeHint
from shared.providers.models import Provider
from shared.runtime.logging import get_logger
from shared.tokens.model import StoredToken

log = get_logger(__name__)

#: Seconds all of one connection's revocation calls may take together (the delete waits for them).
REVOCATION_BUDGET_SECONDS = 4.0


@dataclass(frozen=True)
class RevocationOutcome:
    """How a revocation went; ``unsupported_type``: the provider does not revoke that kind of token."""

    status: RevocationStatus
    reason: str | None = None
    unsupported_type: bool = False


class Revoker(Protocol):
    """``shared.providers.client.ProviderClient.revoke``."""

    async def revoke(
        self,
        provider: Provider,
        token: str,
        *,
        token_type_hint: TokenTypeHint | None = None,
        timeout: float | None,
    ) -> bool: ...


def tokens_to_revoke(token: StoredToken) -> list[tuple[str, TokenTypeHint]]:
    """What to try, in order: the refresh token (revoking it ends the whole grant, RFC 7009 §2.1),
    then the access token, tried only when there is no refresh token or the provider does not revoke
    refresh tokens (``unsupported_token_type``)."""
    pairs: list[tuple[str, TokenTypeHint]] = []
    if token.refresh_token:
        pairs.append((token.refresh_token, "refresh_token"))
    pairs.append((token.access_token, "access_token"))
    return pairs


class Revocations:
    """Revokes a connection's tokens at its provider and says how it went.

    Args:
        client: The provider client.
        budget: Seconds all calls of one revocation may take together.
    """

    def __init__(self, client: Revoker, *, budget: float = REVOCATION_BUDGET_SECONDS) -> None:
        self._client = client
        self._budget = budget

    async def revoke(
        self, provider_id: str, provider: Provider | None, token: StoredToken | None
    ) -> RevocationOutcome:
        """Revoke ``token`` at ``provider``; every failure is an outcome, never an exception."""
        if provider is None:
            return RevocationOutcome("failed", f"provider {provider_id} is no longer configured")
        if provider.oauth2.token_revocation_request is None:
            return RevocationOutcome("not_supported", f"provider {provider_id} has no revocation endpoint")
        if token is None:
            return RevocationOutcome("failed", "no token was stored for this connection")
        deadline = time.monotonic() + self._budget
        outcome = RevocationOutcome("failed", "nothing to revoke")
        for value, hint in tokens_to_revoke(token):
            outcome = await self._one(provider, value, hint, deadline - time.monotonic())
            if not outcome.unsupported_type:
                break
        if outcome.status == "failed":
            log.warning("connection.revocation_failed", provider_id=provider_id, reason=outcome.reason)
        return outcome

    async def _one(
        self, provider: Provider, value: str, hint: TokenTypeHint, budget: float
    ) -> RevocationOutcome:
        try:
            await self._client.revoke(provider, value, token_type_hint=hint, timeout=budget)
        except ValetkeyError as exc:
            return _failed(hint, exc.message, exc.details.get("provider_error"))
        except Exception as exc:  # the delete goes on whatever the provider or the network did
            return _failed(hint, type(exc).__name__, None)
        return RevocationOutcome("revoked")


def _failed(hint: str, why: str, provider_error: Any) -> RevocationOutcome:
    """A failed call; ``unsupported_token_type`` (RFC 7009 §2.2.1) lets the next kind of token be tried."""
    reason = f"revoking the {hint.replace('_', ' ')}: {why}"
    return RevocationOutcome("failed", reason, unsupported_type=provider_error == "unsupported_token_type")
