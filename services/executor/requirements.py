"""What a tool needs, and whether a user has it: the provider, the token, the secrets.

A tool names its provider the arcade-tdk way: ``OAuth2(id="hooli")`` sets ``id`` (a
configured provider), ``GitHub()`` sets ``provider_id`` (a provider *type*). Tokens are
stored under the provider's id, so both are mapped to it with the authorizer's own
rules (:meth:`shared.provider_registry.ProviderRegistry.find`, docs/arcade-compatibility.md §2.1), over
engine.yaml and the providers created at runtime alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from services.executor.definitions import RequirementsStatus, TokenStatus
from shared.contracts.authorization import AuthRequirement
from shared.contracts.common import utcnow
from shared.errors import BadRequest, NotFound
from shared.providers.models import Provider
from shared.tokens import StoredToken, covers
from shared.tokenstore import TokenStore


class ProviderFinder(Protocol):
    """The part of ``ProviderRegistry`` the executor uses."""

    async def find(self, *, id: str | None, provider_type: str | None) -> Provider:
        """The enabled provider a requirement names (raises NotFound or BadRequest)."""
        ...


@dataclass(frozen=True)
class ProviderInfo:
    """Where a tool's tokens live, and whether its provider can hand out new ones."""

    key: str
    active: bool
    reason: str | None = None


def requirement_of(auth: Mapping[str, Any]) -> AuthRequirement:
    """The ``AuthRequirement`` the authorizer starts a flow for, from a definition's ``authorization``."""
    return AuthRequirement(
        id=auth.get("id"),
        provider_id=auth.get("provider_id"),
        provider_type=auth.get("provider_type") or "oauth2",
        scopes=scopes_of(auth),
    )


def scopes_of(auth: Mapping[str, Any]) -> list[str]:
    """The scopes a tool asks for."""
    return list((auth.get("oauth2") or {}).get("scopes") or [])


class Providers:
    """Maps a tool's auth requirement to the provider that serves it.

    Args:
        finder: The provider registry (engine.yaml plus runtime providers).
    """

    def __init__(self, finder: ProviderFinder) -> None:
        self._finder = finder

    async def lookup(self, auth: Mapping[str, Any]) -> ProviderInfo:
        """The provider for a definition's ``requirements.authorization``; inactive when none serves it."""
        wanted = str(auth.get("id") or auth.get("provider_id") or "")
        try:
            provider = await self._finder.find(id=auth.get("id"), provider_type=auth.get("provider_id"))
        except (NotFound, BadRequest) as exc:
            return ProviderInfo(wanted, False, exc.message)
        return ProviderInfo(provider.id, True)


class RequirementsReader:
    """Computes ``RequirementsStatus`` for definitions and one user, sharing lookups across a page.

    Args:
        providers: Provider mapping.
        tokens: The token store (read only; no refresh for a listing).
        secret_keys: The secret keys that have a value (lower-cased).
    """

    def __init__(self, providers: Providers, tokens: TokenStore, secret_keys: frozenset[str]) -> None:
        self._providers = providers
        self._tokens = tokens
        self._secret_keys = secret_keys
        self._read: dict[tuple[str, str], StoredToken | None] = {}

    async def _token_status(self, user_id: str, key: str, wanted: list[str]) -> TokenStatus:
        if (user_id, key) not in self._read:
            self._read[(user_id, key)] = await self._tokens.get(user_id, key)
        token = self._read[(user_id, key)]
        return "completed" if covers(token, wanted, now=utcnow()) else "not_started"

    async def status(self, definition: Mapping[str, Any], user_id: str | None) -> RequirementsStatus:
        """What this user has of what the tool needs."""
        auth = (definition.get("requirements") or {}).get("authorization")
        if not auth:
            return RequirementsStatus(provider_active=True, token_status=None, secret_keys=self._secret_keys)
        info = await self._providers.lookup(auth)
        token_status = (
            None if user_id is None else await self._token_status(user_id, info.key, scopes_of(auth))
        )
        return RequirementsStatus(
            provider_active=info.active,
            token_status=token_status,
            secret_keys=self._secret_keys,
            provider_status_reason=info.reason,
        )
