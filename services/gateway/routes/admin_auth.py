"""Admin API: auth providers (docs/arcade-compatibility.md §4.1) and user connections (§4.3).

Reading one connection and forcing its refresh are ours (Arcade has neither); §4.3 documents them.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from services.gateway.arcade_schemas import conform
from services.gateway.console.data import force_refresh
from services.gateway.domain import clamp_page, offset_page
from services.gateway.openapi import JSON_OBJECT_BODY
from services.gateway.routes.deps import Extras, Project, require_admin, rpc
from shared.bus import subjects
from shared.bus.messaging import RpcClient
from shared.contracts.authorization import (
    AdminObject,
    ConnectionRef,
    ListConnections,
    ProviderRef,
    ProviderWrite,
)
from shared.contracts.common import InProject, Page
from shared.errors import BadRequest

Rpc = Annotated[RpcClient, Depends(rpc)]

router = APIRouter(tags=["admin"], dependencies=[Depends(require_admin)])

PROVIDERS = "/v1/admin/auth_providers"
CONNECTIONS = "/v1/admin/user_connections"

# The three spellings clients use for the same filter, in order of preference.
# See docs/arcade-compatibility.md §4.3.
USER_FILTER = ("user_id", "user[id]", "user.id")
PROVIDER_FILTER = ("provider_id", "provider[id]", "provider.id")


async def _json_object(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"null")
    except (ValueError, RecursionError):  # RecursionError: arrays nested thousands deep
        raise BadRequest("request body is not JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object")
    return body


@router.get(PROVIDERS)
async def list_providers(client: Rpc, project: Project, extras: Extras = False) -> dict[str, Any]:
    """Every provider, configured and created at runtime, in one page."""
    page = await client.call(subjects.PROVIDERS_LIST, InProject(project=project), Page)
    body = offset_page(page.items, page.total_count, 0, max(len(page.items), 1))
    return conform(body, "AuthProviderPage", extras=extras)


@router.post(PROVIDERS, status_code=201, openapi_extra=JSON_OBJECT_BODY)
async def create_provider(
    request: Request, client: Rpc, project: Project, extras: Extras = False
) -> dict[str, Any]:
    """Create a provider; persisted, and usable for new flows at once."""
    body = await _json_object(request)
    if not isinstance(body.get("id"), str) or not body["id"]:
        raise BadRequest("failed to validate request body: id: field required")
    result = await client.call(
        subjects.PROVIDERS_CREATE, ProviderWrite(body=body, project=project), AdminObject
    )
    return conform(result.item, "AuthProviderResponse", extras=extras)


@router.get(PROVIDERS + "/{provider_id}")
async def get_provider(
    provider_id: str, client: Rpc, project: Project, extras: Extras = False
) -> dict[str, Any]:
    """One provider, secrets shown as SecretView."""
    ref = ProviderRef(id=provider_id, project=project)
    item = (await client.call(subjects.PROVIDERS_GET, ref, AdminObject)).item
    return conform(item, "AuthProviderResponse", extras=extras)


@router.patch(PROVIDERS + "/{provider_id}", openapi_extra=JSON_OBJECT_BODY)
async def patch_provider(
    provider_id: str, request: Request, client: Rpc, project: Project, extras: Extras = False
) -> dict[str, Any]:
    """Change a runtime provider; a body ``id`` renames it."""
    body = await _json_object(request)
    write = ProviderWrite(id=provider_id, body=body, project=project)
    item = (await client.call(subjects.PROVIDERS_UPDATE, write, AdminObject)).item
    return conform(item, "AuthProviderResponse", extras=extras)


@router.delete(PROVIDERS + "/{provider_id}")
async def delete_provider(
    provider_id: str, client: Rpc, project: Project, extras: Extras = False
) -> dict[str, Any]:
    """Delete a runtime provider; answers with the deleted object."""
    ref = ProviderRef(id=provider_id, project=project)
    item = (await client.call(subjects.PROVIDERS_DELETE, ref, AdminObject)).item
    return conform(item, "AuthProviderResponse", extras=extras)


def _first(request: Request, names: tuple[str, ...]) -> str | None:
    for name in names:
        value = request.query_params.get(name)
        if value:
            return value
    return None


def _int(request: Request, name: str) -> int | None:
    value = request.query_params.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise BadRequest(f"{name} must be an integer") from None


# The route reads its query by hand (three spellings of each filter); the document names the
# plain spelling and the page bounds.
CONNECTIONS_QUERY = {
    "parameters": [
        {"name": name, "in": "query", "required": False, "schema": {"type": kind}}
        for name, kind in (
            ("user_id", "string"),
            ("provider_id", "string"),
            ("limit", "integer"),
            ("offset", "integer"),
        )
    ]
}


@router.get(CONNECTIONS, openapi_extra=CONNECTIONS_QUERY)
async def list_connections(
    request: Request, client: Rpc, project: Project, extras: Extras = False
) -> dict[str, Any]:
    """Connections, filtered by ``user[id]``/``user.id``/``user_id`` and the provider equivalents."""
    offset, limit = clamp_page(_int(request, "offset"), _int(request, "limit"))
    query = ListConnections(
        project=project,
        user_id=_first(request, USER_FILTER),
        provider_id=_first(request, PROVIDER_FILTER),
        offset=offset,
        limit=limit,
    )
    page = await client.call(subjects.CONNECTIONS_LIST, query, Page)
    body = offset_page(page.items, page.total_count, offset, limit)
    return conform(body, "UserConnectionPage", extras=extras)


async def _connection(client: RpcClient, connection_id: str, project: str) -> dict[str, Any]:
    ref = ConnectionRef(id=connection_id, project=project)
    return (await client.call(subjects.CONNECTIONS_GET, ref, AdminObject)).item


@router.get(CONNECTIONS + "/{connection_id}")
async def get_connection(
    connection_id: str, client: Rpc, project: Project, extras: Extras = False
) -> dict[str, Any]:
    """One connection, in the list's shape (404 for an unknown id or another project's)."""
    return conform(await _connection(client, connection_id, project), "UserConnectionResponse", extras=extras)


@router.post(CONNECTIONS + "/{connection_id}/refresh")
async def refresh_connection(
    connection_id: str, client: Rpc, project: Project, extras: Extras = False
) -> dict[str, Any]:
    """Refresh the connection's token now, even if still valid (the token_refresher's own refresh)."""
    connection = await _connection(client, connection_id, project)
    outcome = await force_refresh(client, project, connection["user_id"], connection["provider_id"])
    return {
        "status": outcome.status,
        "expires_at": outcome.expires_at.isoformat() if outcome.expires_at else None,
        "connection": conform(
            await _connection(client, connection_id, project), "UserConnectionResponse", extras=extras
        ),
    }


@router.delete(CONNECTIONS + "/{connection_id}", status_code=204)
async def delete_connection(connection_id: str, client: Rpc, project: Project) -> Response:
    """Delete a connection: its grant is revoked at the provider where it can be (RFC 7009), the
    stored token deleted, and ``connection.revoked`` emitted with the revocation's outcome."""
    await client.call_raw(subjects.CONNECTIONS_DELETE, ConnectionRef(id=connection_id, project=project))
    return Response(status_code=204)
