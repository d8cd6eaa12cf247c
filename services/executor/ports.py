"""What the executor's use cases need from the outside world, as narrow protocols.

The real ones: :class:`services.executor.catalog.ToolCatalog`,
:class:`services.executor.secret_store.SecretStore`, ``shared.tokenstore.TokenStore``
and the NATS-backed classes in :mod:`services.executor.adapters`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from services.executor.sources import ToolSource
from shared.contracts.authorization import Authorization, StartAuthorization
from shared.contracts.events import ToolExecutionCompleted
from shared.tokens import StoredToken


class Catalog(Protocol):
    """The merged tool catalog."""

    def resolve(self, name: str, version: str | None = None) -> tuple[dict[str, Any], ToolSource]:
        """The definition and its source (raises NotFound or BadRequest)."""
        ...

    def definitions(self, *, toolkit: str | None = None, all_versions: bool = False) -> list[dict[str, Any]]:
        """Definitions, optionally of one toolkit."""
        ...


@dataclass(frozen=True)
class ProviderInfo:
    """Where a tool's tokens live, and whether its provider can hand out new ones."""

    key: str
    active: bool
    reason: str | None = None


class ProviderLookup(Protocol):
    """Maps a tool's ``requirements.authorization`` to the provider its tokens are stored under."""

    async def lookup(self, auth: Mapping[str, Any]) -> ProviderInfo:
        """Where the tool's tokens live; inactive (with a reason) when no enabled provider serves it."""
        ...


class TokenReader(Protocol):
    """The token store, read only (no refresh: listings must stay cheap)."""

    async def get(self, user_id: str, provider_id: str) -> StoredToken | None: ...


class FreshTokens(Protocol):
    """A user's token, never served expired (refreshed through the token_refresher when due)."""

    async def __call__(self, user_id: str, provider_id: str, *, force: bool = False) -> StoredToken | None:
        """The token, or None when a (new) authorization is needed.

        Raises:
            ProviderUnavailable: Expired and the refresh failed for a transient reason.
        """
        ...


class Secrets(Protocol):
    """Tool secrets (engine.yaml and the admin API)."""

    async def values(self, wanted: list[str]) -> tuple[list[dict[str, str]], list[str]]:
        """``[{"key", "value"}]`` for the keys found, and the keys missing."""
        ...

    async def keys(self) -> frozenset[str]:
        """The keys that have a value (lower-cased)."""
        ...


class Authorizer(Protocol):
    """The authorizer service, as the executor asks it."""

    async def start(self, request: StartAuthorization) -> Authorization:
        """Start (or find) the authorization a requirement needs."""
        ...


class Events(Protocol):
    """Queues events for the webhooks (the outbox)."""

    async def publish(self, event: ToolExecutionCompleted) -> None: ...
