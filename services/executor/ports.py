"""What the executor's use cases need from the outside world, as narrow protocols.

The real ones: :class:`services.executor.catalog.ToolCatalog`,
:class:`services.executor.secret_store.SecretStore`, ``shared.tokens.store.TokenStore``
and the NATS-backed classes in :mod:`services.executor.adapters`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from services.executor.domain import Ran
from services.executor.grants import Refusal
from services.executor.secret_store import SecretRecord
from services.executor.sources import ToolSource
from services.executor.worker_registry import WorkerSpec
from shared.contracts.authorization import Authorization, StartAuthorization
from shared.contracts.events import ToolExecutionCompleted
from shared.contracts.execution import ExecuteTool
from shared.tokens.model import StoredToken


class Catalog(Protocol):
    """The merged tool catalog."""

    def resolve(
        self, name: str, version: str | None = None, *, project: str
    ) -> tuple[dict[str, Any], ToolSource]:
        """The definition and its source (raises NotFound or BadRequest)."""
        ...

    def definitions(
        self, *, project: str, toolkit: str | None = None, all_versions: bool = False
    ) -> list[dict[str, Any]]:
        """Definitions, optionally of one toolkit."""
        ...

    def source_of(self, definition: dict[str, Any]) -> str:
        """Which source serves a definition from :meth:`definitions`: ``in_process`` or a worker id."""
        ...


@dataclass(frozen=True)
class ProviderInfo:
    """Where a tool's tokens live, and whether its provider can hand out new ones."""

    key: str
    active: bool
    reason: str | None = None


class ProviderLookup(Protocol):
    """Maps a tool's ``requirements.authorization`` to the provider its tokens are stored under."""

    async def lookup(self, auth: Mapping[str, Any], project: str) -> ProviderInfo:
        """Where the tool's tokens live in the project; inactive (with a reason) when no provider does."""
        ...


class TokenReader(Protocol):
    """The token store, read only (no refresh: listings must stay cheap)."""

    async def get(self, user_id: str, provider_id: str, *, project: str) -> StoredToken | None: ...


class FreshTokens(Protocol):
    """A user's token, never served expired (refreshed through the token_refresher when due)."""

    async def __call__(
        self, user_id: str, provider_id: str, *, project: str, force: bool = False
    ) -> StoredToken | None:
        """The token, or None when a (new) authorization is needed.

        Raises:
            ProviderUnavailable: Expired and the refresh failed for a transient reason.
        """
        ...


class Secrets(Protocol):
    """Tool secrets (engine.yaml and the admin API)."""

    async def values(self, wanted: list[str], project: str) -> tuple[list[dict[str, str]], list[str]]:
        """``[{"key", "value"}]`` for the project's keys found, and the keys missing."""
        ...

    async def keys(self, project: str) -> frozenset[str]:
        """The project's keys that have a value (lower-cased)."""
        ...


class Authorizer(Protocol):
    """The authorizer service, as the executor asks it."""

    async def start(self, request: StartAuthorization) -> Authorization:
        """Start (or find) the authorization a requirement needs."""
        ...


class Events(Protocol):
    """Queues events for the webhooks (the outbox)."""

    async def publish(self, event: ToolExecutionCompleted) -> None: ...


class History(Protocol):
    """The execution history (services/executor/history.py)."""

    async def ran(self, request: ExecuteTool, ran: Ran, started_at: datetime) -> None:
        """Record an immediate execution (a failure to record is logged, never raised)."""
        ...


class WorkerClient(Protocol):
    """One remote worker, as the admin checks it."""

    async def definitions(self) -> list[dict[str, Any]]:
        """Its tools (raises ConfigError when it refuses our secret, ValetkeyError when away)."""
        ...

    async def health(self) -> dict[str, Any]:
        """Its health answer (raises ValetkeyError when away)."""
        ...


class WorkerStore(Protocol):
    """Remote workers: engine.yaml's (read only) and the admin API's (``worker_registry.WorkerRegistry``)."""

    async def all(self) -> list[WorkerSpec]:
        """Every project's workers (what the catalog runs)."""
        ...

    async def of_project(self, project: str) -> list[WorkerSpec]:
        """engine.yaml's workers and the project's own."""
        ...

    async def get(self, worker_id: str, project: str) -> WorkerSpec:
        """The worker, if the project sees it (raises NotFound)."""
        ...

    def parse_create(self, body: dict[str, Any], project: str) -> WorkerSpec:
        """A new worker of the project from the admin API's JSON (raises BadRequest)."""
        ...

    async def create(self, spec: WorkerSpec) -> WorkerSpec: ...

    async def patched(self, worker_id: str, body: dict[str, Any], project: str) -> WorkerSpec:
        """The project's worker with the admin API's changes applied, not yet saved."""
        ...

    async def update(self, spec: WorkerSpec) -> WorkerSpec: ...

    async def delete(self, worker_id: str, project: str) -> None: ...


class WorkerCatalog(Protocol):
    """The catalog's remote part, as the worker admin changes and reads it."""

    async def set_workers(self, specs: list[WorkerSpec]) -> None:
        """Use these workers; refetch the catalogs of the changed ones."""
        ...

    def worker(self, worker_id: str) -> tuple[Any, list[dict[str, Any]], str | None]:
        """The worker's client, its tool definitions and the last fetch error."""
        ...

    def collisions(self, worker_id: str, definitions: list[dict[str, Any]]) -> list[str]:
        """The tool names in ``definitions`` that another source serves already."""
        ...

    async def accept(self, worker_id: str, listed: list[dict[str, Any]]) -> list[Refusal]:
        """Take the worker's tools as just listed; the ones refused for want of grants."""
        ...

    def refusals(self, worker_id: str) -> list[Refusal]:
        """The worker's tools left out for want of grants."""
        ...


class ToolViews(Protocol):
    """Definitions shaped for clients (``tool_service.ToolService.views``)."""

    async def views(
        self,
        definitions: list[dict[str, Any]],
        user_id: str | None,
        include: list[str],
        fmt: str | None,
        project: str,
    ) -> list[dict[str, Any]]: ...


class SecretRecords(Protocol):
    """Tool secrets as the admin API manages them (values never read back)."""

    async def list(self, project: str) -> list[SecretRecord]: ...

    async def upsert(self, key: str, value: str, description: str | None, project: str) -> SecretRecord: ...

    async def delete(self, secret_id: str, project: str) -> None: ...


class UsageNotes(Protocol):
    """Notes that a tool uses a connection's token (``shared.tokens.last_use.LastUse``): no I/O
    on the execution's path."""

    def note(self, user_id: str, provider_id: str, project: str) -> None: ...
