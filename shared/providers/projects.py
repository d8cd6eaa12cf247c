"""Auth providers per project: engine.yaml's serve every project, runtime ones only their own.

Each project has its own :class:`~shared.providers.registry.ProviderRegistry`, made on first
use: the configured entries, plus the providers created through the admin API with that
project's key, kept under the project's Redis key prefix (``<p>:providers`` for the default
project, ``<p>:p:<project>:providers`` for another; ``shared.tokens.store.project_namespace``).
A registry writes its hash and its version key together, so on a Redis Cluster the services
pass ``Keyspace.grouped("providers")`` as the prefix: every project's two keys in one slot.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from shared.contracts.common import DEFAULT_PROJECT
from shared.providers.models import Provider, ProviderEntry
from shared.providers.registry import ProviderRegistry
from shared.runtime.crypto import Cipher
from shared.tokens.store import project_namespace


class ProjectProviders:
    """The provider registries of every project.

    Args:
        entries: ``auth.providers`` from engine.yaml (every project's).
        redis: Async Redis client (bytes replies).
        cipher: The root-key cipher.
        prefix: Key prefix (``runtime.key_prefix``).
        options: Passed on to each :class:`ProviderRegistry`.
    """

    def __init__(
        self,
        entries: list[ProviderEntry],
        redis: Redis,
        cipher: Cipher,
        *,
        prefix: str = "vk",
        **options: Any,
    ) -> None:
        self._entries, self._redis, self._cipher = entries, redis, cipher
        self._prefix = prefix
        self._options = options
        self._registries: dict[str, ProviderRegistry] = {}
        self.of(DEFAULT_PROJECT)  # checks engine.yaml's entries at start (ConfigError)

    def of(self, project: str) -> ProviderRegistry:
        """The project's registry."""
        registry = self._registries.get(project)
        if registry is None:
            prefix = project_namespace(self._prefix, project)
            registry = ProviderRegistry(
                self._entries, self._redis, self._cipher, prefix=prefix, **self._options
            )
            self._registries[project] = registry
        return registry

    async def get(self, provider_id: str, project: str = DEFAULT_PROJECT) -> Provider | None:
        """The project's provider with this id (enabled or not), or None."""
        return await self.of(project).get(provider_id)

    async def find(
        self, *, id: str | None, builtin_id: str | None, project: str = DEFAULT_PROJECT
    ) -> Provider:
        """:meth:`ProviderRegistry.find` among the project's providers."""
        return await self.of(project).find(id=id, builtin_id=builtin_id)
