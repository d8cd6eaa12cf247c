"""Whether a user has what a tool needs: an active provider, a covering token, the secrets."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.executor.definitions import RequirementsStatus, TokenStatus
from services.executor.domain import authorization_of, scopes_of
from services.executor.ports import ProviderLookup, TokenReader
from shared.contracts.common import utcnow
from shared.tokens.model import StoredToken, covers


class RequirementsReader:
    """Computes ``RequirementsStatus`` for definitions and one user, sharing lookups across a page.

    Args:
        providers: Provider mapping.
        tokens: The token store (read only; no refresh for a listing).
        secret_keys: The secret keys that have a value (lower-cased).
        project: Whose tokens are read.
    """

    def __init__(
        self, providers: ProviderLookup, tokens: TokenReader, secret_keys: frozenset[str], project: str
    ) -> None:
        self._providers = providers
        self._tokens = tokens
        self._secret_keys = secret_keys
        self._project = project
        self._read: dict[tuple[str, str], StoredToken | None] = {}

    def has_secret(self, key: str) -> bool:
        """The secret ``key`` has a value (compared case-insensitively)."""
        return key.lower() in self._secret_keys

    async def token_status(self, user_id: str, key: str, wanted: list[str]) -> TokenStatus:
        """``completed`` when the user's token for ``key`` covers ``wanted``, else ``not_started``."""
        if (user_id, key) not in self._read:
            self._read[(user_id, key)] = await self._tokens.get(user_id, key, project=self._project)
        token = self._read[(user_id, key)]
        return "completed" if covers(token, wanted, now=utcnow()) else "not_started"

    async def status(self, definition: Mapping[str, Any], user_id: str | None) -> RequirementsStatus:
        """What this user has of what the tool needs."""
        auth = authorization_of(definition)
        if not auth:
            return RequirementsStatus(provider_active=True, token_status=None, secret_keys=self._secret_keys)
        info = await self._providers.lookup(auth, self._project)
        token_status = (
            None if user_id is None else await self.token_status(user_id, info.key, scopes_of(auth))
        )
        return RequirementsStatus(
            provider_active=info.active,
            token_status=token_status,
            secret_keys=self._secret_keys,
            provider_status_reason=info.reason,
        )
