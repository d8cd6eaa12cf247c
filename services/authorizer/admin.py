"""Admin use cases: auth providers at runtime and user connections.

See docs/arcade-compatibility.md §4.1, §4.3.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from services.authorizer import views
from services.authorizer.ports import Notifier
from services.authorizer.revocation import Revocations
from shared.contracts.authorization import (
    AdminObject,
    ConnectionRef,
    ListConnections,
    ProviderRef,
    ProviderWrite,
)
from shared.contracts.common import InProject, Page
from shared.contracts.events import ConnectionRevoked
from shared.errors import NotFound
from shared.providers.projects import ProjectProviders
from shared.tokens.store import Connection, TokenStore


@dataclass
class Admin:
    """Provider CRUD and connection listing/revocation."""

    registry: ProjectProviders
    tokens: TokenStore
    notifier: Notifier
    redirect_uri: str
    clock: Callable[[], Any]
    revocations: Revocations
    allow_private_targets: bool = False

    async def list_providers(self, request: InProject) -> Page:
        """Every provider of the project, configured and runtime, in the admin shape."""
        records = await self.registry.of(request.project).records()
        items = [views.provider_view(r, self.redirect_uri) for r in records]
        return Page(items=items, total_count=len(items))

    async def get_provider(self, request: ProviderRef) -> AdminObject:
        """One provider.

        Raises:
            NotFound: Unknown id.
        """
        record = await self.registry.of(request.project).record(request.id)
        if record is None:
            raise NotFound(f"auth provider {request.id!r} not found")
        return AdminObject(item=views.provider_view(record, self.redirect_uri))

    async def create_provider(self, request: ProviderWrite) -> AdminObject:
        """Create and persist a provider; usable for new authorizations at once.

        Raises:
            BadRequest: Invalid body.
            Conflict: The id exists.
        """
        entry, external_id = views.entry_from_body(request.body)
        record = await self.registry.of(request.project).put_runtime(
            entry, create=True, external_id=external_id, allow_private_targets=self.allow_private_targets
        )
        await self._providers_changed(request.project)
        return AdminObject(item=views.provider_view(record, self.redirect_uri))

    async def update_provider(self, request: ProviderWrite) -> AdminObject:
        """Patch a runtime provider; a body ``id`` renames it.

        Raises:
            NotFound: Unknown id.
            BadRequest: The patched provider is invalid.
            Conflict: A configured provider, or the new id is taken.
        """
        current_id = request.id or ""
        registry = self.registry.of(request.project)
        current = await registry.record(current_id)
        if current is None:
            raise NotFound(f"auth provider {current_id!r} not found")
        patch, external_id = views.entry_from_body(request.body)
        entry = views.merge_entry(current.entry, patch)
        entry.setdefault("id", current_id)
        record = await registry.put_runtime(
            entry,
            create=False,
            replaces=current_id,
            external_id=external_id,
            allow_private_targets=self.allow_private_targets,
        )
        await self._providers_changed(request.project)
        return AdminObject(item=views.provider_view(record, self.redirect_uri))

    async def delete_provider(self, request: ProviderRef) -> AdminObject:
        """Delete a runtime provider; answers with what was deleted.

        Raises:
            NotFound: Unknown id.
            Conflict: A configured provider.
        """
        record = await self.registry.of(request.project).delete_runtime(request.id)
        if record is None:
            raise NotFound(f"auth provider {request.id!r} not found")
        await self._providers_changed(request.project)
        return AdminObject(item=views.provider_view(record, self.redirect_uri))

    async def _providers_changed(self, project: str) -> None:
        """A provider's change (its id, its activity) changes what tools.authorize answers for the
        whole project: the gateways forget the project's cached answers before this one replies."""
        await self.tokens.stale.publish(project)

    async def list_connections(self, request: ListConnections) -> Page:
        """One page of connections, filtered by user and/or provider."""
        connections, total = await self.tokens.list_connections(
            project=request.project,
            user_id=request.user_id,
            provider_id=request.provider_id,
            offset=request.offset,
            limit=request.limit,
        )
        items = [await self._connection_view(connection) for connection in connections]
        return Page(items=items, total_count=total)

    async def _connection_view(self, connection: Connection) -> dict[str, Any]:
        record = await self.registry.of(connection.project).record(connection.provider_id)
        token = await self.tokens.get(connection.user_id, connection.provider_id, project=connection.project)
        return views.connection_view(connection, record, token.user_info if token else {})

    async def _connection(self, request: ConnectionRef) -> Connection:
        connection = await self.tokens.connection(request.id)
        if connection is None or connection.project != request.project:
            raise NotFound(f"user connection {request.id!r} not found")
        return connection

    async def get_connection(self, request: ConnectionRef) -> AdminObject:
        """One connection, in the list's shape.

        Raises:
            NotFound: Unknown connection id (or another project's).
        """
        return AdminObject(item=await self._connection_view(await self._connection(request)))

    async def delete_connection(self, request: ConnectionRef) -> None:
        """Revoke the grant at the provider (RFC 7009, when it can), then remove the stored token and
        emit ``ConnectionRevoked`` with how the provider's revocation went. A failed revocation is
        recorded in the event, never a failed delete.

        Raises:
            NotFound: Unknown connection id.
        """
        connection = await self._connection(request)
        record = await self.registry.of(connection.project).record(connection.provider_id)
        token = await self.tokens.get(connection.user_id, connection.provider_id, project=connection.project)
        provider = record.provider if record else None
        outcome = await self.revocations.revoke(connection.provider_id, provider, token)
        event = ConnectionRevoked(
            connection_id=connection.id,
            user_id=connection.user_id,
            provider_id=connection.provider_id,
            project=connection.project,
            provider_revocation=outcome.status,
            provider_revocation_reason=outcome.reason,
        )
        await self.tokens.delete(connection.id, events=[event])
        self.notifier.wake()
