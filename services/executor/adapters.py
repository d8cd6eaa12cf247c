"""Real implementations of the executor's ports that talk to other services or the registry.

The catalog (:mod:`.catalog`, over :mod:`.sources` and :mod:`.workers`), the secret store
(:mod:`.secret_store`) and the worker registry (:mod:`.worker_registry`) are adapters too,
each in its own module.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from services.executor.ports import ProviderInfo
from shared.bus import subjects
from shared.bus.messaging import RpcClient
from shared.bus.outbox import Outbox
from shared.contracts.authorization import Authorization, StartAuthorization
from shared.contracts.events import ToolExecutionCompleted
from shared.errors import BadRequest, NotFound
from shared.providers.models import Provider
from shared.tokens.freshness import TokenReads, fresh_token
from shared.tokens.model import RefreshPolicy, StoredToken

Rpc = Callable[[], RpcClient]


class ProviderFinder(Protocol):
    """The part of ``ProjectProviders`` the executor uses."""

    async def find(self, *, id: str | None, builtin_id: str | None, project: str) -> Provider:
        """The project's enabled provider a requirement names (raises NotFound or BadRequest)."""
        ...


class Providers:
    """Maps a tool's auth requirement to the provider that serves it.

    A tool names its provider the arcade-tdk way: ``OAuth2(id="hooli")`` sets ``id`` (a
    configured provider), ``GitHub()`` sets ``provider_id`` (a provider *type*). Tokens are
    stored under the provider's id, so both are mapped to it with the authorizer's own
    rules (:meth:`shared.providers.registry.ProviderRegistry.find`, docs/arcade-compatibility.md
    §2.1), over engine.yaml and the providers created at runtime alike.

    Args:
        finder: The provider registry (engine.yaml plus runtime providers).
    """

    def __init__(self, finder: ProviderFinder) -> None:
        self._finder = finder

    async def lookup(self, auth: Mapping[str, Any], project: str) -> ProviderInfo:
        """The project's provider for a tool's ``requirements.authorization``; inactive when none does."""
        wanted = str(auth.get("id") or auth.get("provider_id") or "")
        try:
            provider = await self._finder.find(
                id=auth.get("id"), builtin_id=auth.get("provider_id"), project=project
            )
        except (NotFound, BadRequest) as exc:
            return ProviderInfo(wanted, False, exc.message)
        return ProviderInfo(provider.id, True)


class RpcAuthorizer:
    """The authorizer over NATS.

    Args:
        rpc: Returns the NATS client (available once the service started).
    """

    def __init__(self, rpc: Rpc) -> None:
        self._rpc = rpc

    async def start(self, request: StartAuthorization) -> Authorization:
        return await self._rpc().call(subjects.AUTH_START, request, Authorization)


class RefreshingTokens:
    """Tokens read with ``shared.tokens.freshness.fresh_token``: refreshed by the token_refresher when due.

    Args:
        store: The token reads: the store, or its cached reads (shared/tokens/cached.py).
        rpc: Returns the NATS client.
        policy: When a token is due.
    """

    def __init__(self, store: TokenReads, rpc: Rpc, policy: RefreshPolicy) -> None:
        self._store = store
        self._rpc = rpc
        self._policy = policy

    async def __call__(
        self, user_id: str, provider_id: str, *, project: str, force: bool = False
    ) -> StoredToken | None:
        return await fresh_token(
            self._store,
            self._rpc(),
            self._policy,
            user_id=user_id,
            provider_id=provider_id,
            project=project,
            force=force,
        )


class OutboxEvents:
    """Events go to the outbox at once; the relay is woken so webhooks leave without a poll's delay.

    Args:
        outbox: The shared outbox.
        wake: Wakes the outbox relay (does nothing when this process runs none).
    """

    def __init__(self, outbox: Outbox, wake: Callable[[], None]) -> None:
        self._outbox = outbox
        self._wake = wake

    async def publish(self, event: ToolExecutionCompleted) -> None:
        await self._outbox.add_now(event)
        self._wake()
