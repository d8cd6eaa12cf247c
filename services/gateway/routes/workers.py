"""Workers API (docs/arcade-compatibility.md §4.4): remote arcade-serve workers, kept by the executor."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Response

from services.gateway.arcade_schemas import conform
from services.gateway.domain import clamp_page, offset_page
from services.gateway.routes.deps import Extras, Project, require_admin
from services.gateway.routes.tools import Rpc, build
from shared.bus import subjects
from shared.contracts.common import Page, PageQuery
from shared.contracts.execution import Document, WorkerRef, WorkerToolsQuery, WorkerWrite

router = APIRouter(prefix="/v1/workers", tags=["workers"], dependencies=[Depends(require_admin)])

# Saving a worker calls it (to check its secret) and fetches its catalog.
WRITE_TIMEOUT_SECONDS = 30.0


@router.get("")
async def list_workers(
    client: Rpc,
    project: Project,
    limit: int | None = None,
    offset: int | None = None,
    extras: Extras = False,
) -> dict[str, Any]:
    """One page of workers, engine.yaml's first (``binding.type: static``)."""
    off, lim = clamp_page(offset, limit)
    page = await client.call(subjects.WORKERS_LIST, PageQuery(offset=off, limit=lim, project=project), Page)
    return conform(offset_page(page.items, page.total_count, off, lim), "WorkerPage", extras=extras)


@router.post("", status_code=201)
async def create_worker(
    client: Rpc, project: Project, body: Annotated[dict[str, Any], Body()], extras: Extras = False
) -> dict[str, Any]:
    """Register an HTTP or MCP worker; one that refuses our secret (headers) is refused with 400."""
    write = WorkerWrite(body=body, project=project)
    created = await client.call(subjects.WORKERS_CREATE, write, Document, timeout=WRITE_TIMEOUT_SECONDS)
    return conform(created.body, "WorkerResponse", extras=extras)


@router.post("/test")
async def test_worker(
    client: Rpc, project: Project, body: Annotated[dict[str, Any], Body()]
) -> dict[str, Any]:
    """Arcade's ``WorkerTestRequest`` (``{type, http|mcp: {uri}}``): ``{success, message}``, nothing saved;
    ``http.secret`` (valetkey's) checks the secret too."""
    write = WorkerWrite(body=body, project=project)
    tested = await client.call(subjects.WORKERS_TEST, write, Document, timeout=WRITE_TIMEOUT_SECONDS)
    return conform(tested.body, "WorkerTestResponse")


@router.get("/{worker_id}")
async def get_worker(client: Rpc, project: Project, worker_id: str, extras: Extras = False) -> dict[str, Any]:
    """One worker; its secret as a ``SecretView`` without the value."""
    ref = build(WorkerRef, id=worker_id, project=project)
    return conform(
        (await client.call(subjects.WORKERS_GET, ref, Document)).body, "WorkerResponse", extras=extras
    )


@router.patch("/{worker_id}")
async def update_worker(
    client: Rpc,
    project: Project,
    worker_id: str,
    body: Annotated[dict[str, Any], Body()],
    extras: Extras = False,
) -> dict[str, Any]:
    """Change a worker created through this API (engine.yaml's answer 409)."""
    write = WorkerWrite(id=worker_id, body=body, project=project)
    updated = await client.call(subjects.WORKERS_UPDATE, write, Document, timeout=WRITE_TIMEOUT_SECONDS)
    return conform(updated.body, "WorkerResponse", extras=extras)


@router.delete("/{worker_id}", status_code=204)
async def delete_worker(client: Rpc, project: Project, worker_id: str) -> Response:
    """Remove a worker created through this API."""
    await client.call_raw(
        subjects.WORKERS_DELETE,
        build(WorkerRef, id=worker_id, project=project),
        timeout=WRITE_TIMEOUT_SECONDS,
    )
    return Response(status_code=204)


@router.get("/{worker_id}/health")
async def worker_health(
    client: Rpc, project: Project, worker_id: str, extras: Extras = False
) -> dict[str, Any]:
    """``{id, enabled, healthy, message}``: reachable and accepting our secret (``refused_tools``
    with extras)."""
    ref = build(WorkerRef, id=worker_id, project=project)
    health = await client.call(subjects.WORKERS_HEALTH, ref, Document, timeout=WRITE_TIMEOUT_SECONDS)
    return conform(health.body, "WorkerHealthResponse", extras=extras)


@router.get("/{worker_id}/authorize")
async def authorize_worker(
    client: Rpc, project: Project, worker_id: str, user_id: str | None = None
) -> dict[str, Any]:
    """Arcade's ``WorkerAuthorizeResponse``: the OAuth grant a worker's own server asks of the user.

    No worker valetkey runs signs in to its server with OAuth (an HTTP worker takes the shared
    secret, an MCP worker its configured headers), so an existing worker is ``completed`` with no
    scope to grant (docs/arcade-compatibility.md §4.4).
    """
    await client.call(subjects.WORKERS_GET, build(WorkerRef, id=worker_id, project=project), Document)
    answer = {"worker_id": worker_id, "user_id": user_id or "", "scopes": [], "status": "completed"}
    return conform(answer, "WorkerAuthorizeResponse")


@router.get("/{worker_id}/tools")
async def worker_tools(
    client: Rpc,
    project: Project,
    worker_id: str,
    limit: int | None = None,
    offset: int | None = None,
    user_id: str | None = None,
    extras: Extras = False,
) -> dict[str, Any]:
    """One page of a worker's tools, as Arcade's ``ToolDefinition``s."""
    off, lim = clamp_page(offset, limit)
    query = build(WorkerToolsQuery, id=worker_id, project=project, offset=off, limit=lim, user_id=user_id)
    page = await client.call(subjects.WORKERS_TOOLS, query, Page)
    return conform(offset_page(page.items, page.total_count, off, lim), "ToolDefinitionPage", extras=extras)
