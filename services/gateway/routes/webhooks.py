"""Admin API for webhooks: endpoints (``/v1/admin/webhooks``) and dead letters.

The webhooks service owns them; each route is one request over NATS (``vk.admin.webhooks.*``).
Secrets leave the engine exactly twice: in the answer to create and to rotate.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Response
from fastapi.responses import JSONResponse

from services.gateway.domain import clamp_page, offset_page
from services.gateway.routes.deps import Project, require_admin
from services.gateway.routes.tools import Rpc, build
from shared.bus import subjects
from shared.contracts.common import PageQuery
from shared.contracts.webhooks import (
    DeadLetterPage,
    DeadLetterQuery,
    DeadLetterRef,
    EndpointChange,
    EndpointCreate,
    EndpointFields,
    EndpointPage,
    EndpointRef,
    EndpointSecret,
    EndpointUpdate,
    EndpointView,
    ReplayDeadLetters,
    Replayed,
)

router = APIRouter(prefix="/v1/admin/webhooks", tags=["webhooks"], dependencies=[Depends(require_admin)])

# Saving a URL resolves its host; a replay of everything queues one delivery after another.
WRITE_TIMEOUT_SECONDS = 30.0


def _with_secret(answer: EndpointSecret) -> dict[str, Any]:
    return {**answer.endpoint.model_dump(), "secret": answer.secret}


# Dead-letter routes come first so ``dead_letters`` is never taken for an endpoint id.


@router.get("/dead_letters")
async def list_dead_letters(
    client: Rpc,
    project: Project,
    offset: int | None = None,
    limit: int | None = None,
    endpoint_id: str | None = None,
) -> dict[str, Any]:
    """Deliveries that ran out of retries, newest first."""
    off, lim = clamp_page(offset, limit)
    query = build(DeadLetterQuery, offset=off, limit=lim, endpoint_id=endpoint_id, project=project)
    page = await client.call(subjects.WEBHOOKS_DEAD_LIST, query, DeadLetterPage)
    return offset_page([d.model_dump() for d in page.items], page.total_count, off, lim)


@router.post("/dead_letters/replay", status_code=202)
async def replay_all(client: Rpc, project: Project, endpoint_id: str | None = None) -> dict[str, int]:
    """Queue every dead letter (of one endpoint, when given) for delivery again."""
    request = build(ReplayDeadLetters, endpoint_id=endpoint_id, project=project)
    replayed = await client.call(
        subjects.WEBHOOKS_DEAD_REPLAY_ALL, request, Replayed, timeout=WRITE_TIMEOUT_SECONDS
    )
    return replayed.model_dump()


@router.post("/dead_letters/{dead_id}/replay", status_code=202)
async def replay_one(client: Rpc, project: Project, dead_id: str) -> dict[str, int]:
    """Queue one dead letter for delivery again, with a fresh retry window."""
    replayed = await client.call(
        subjects.WEBHOOKS_DEAD_REPLAY, build(DeadLetterRef, id=dead_id, project=project), Replayed
    )
    return replayed.model_dump()


@router.delete("/dead_letters/{dead_id}", status_code=204)
async def delete_dead_letter(client: Rpc, project: Project, dead_id: str) -> Response:
    await client.call_raw(subjects.WEBHOOKS_DEAD_DELETE, build(DeadLetterRef, id=dead_id, project=project))
    return Response(status_code=204)


@router.post("", status_code=201)
async def create_endpoint(client: Rpc, project: Project, body: EndpointFields) -> JSONResponse:
    """Create an endpoint; the answer carries its secret, which is never shown again."""
    create = EndpointCreate(**body.model_dump(), project=project)
    answer = await client.call(
        subjects.WEBHOOKS_ENDPOINTS_CREATE, create, EndpointSecret, timeout=WRITE_TIMEOUT_SECONDS
    )
    return JSONResponse(_with_secret(answer), status_code=201)


@router.get("")
async def list_endpoints(
    client: Rpc, project: Project, offset: int | None = None, limit: int | None = None
) -> dict[str, Any]:
    off, lim = clamp_page(offset, limit)
    page = await client.call(
        subjects.WEBHOOKS_ENDPOINTS_LIST, PageQuery(offset=off, limit=lim, project=project), EndpointPage
    )
    return offset_page([e.model_dump() for e in page.items], page.total_count, off, lim)


@router.get("/{endpoint_id}")
async def get_endpoint(client: Rpc, project: Project, endpoint_id: str) -> dict[str, Any]:
    ref = build(EndpointRef, id=endpoint_id, project=project)
    return (await client.call(subjects.WEBHOOKS_ENDPOINTS_GET, ref, EndpointView)).model_dump()


@router.patch("/{endpoint_id}")
async def update_endpoint(
    client: Rpc, project: Project, endpoint_id: str, body: EndpointUpdate
) -> dict[str, Any]:
    """Change url, events, enabled or description; fields left out stay as they are."""
    change = EndpointChange(id=endpoint_id, changes=body, project=project)
    view = await client.call(
        subjects.WEBHOOKS_ENDPOINTS_UPDATE, change, EndpointView, timeout=WRITE_TIMEOUT_SECONDS
    )
    return view.model_dump()


@router.delete("/{endpoint_id}", status_code=204)
async def delete_endpoint(client: Rpc, project: Project, endpoint_id: str) -> Response:
    """Delete an endpoint; its queued deliveries are dropped when their turn comes."""
    await client.call_raw(
        subjects.WEBHOOKS_ENDPOINTS_DELETE, build(EndpointRef, id=endpoint_id, project=project)
    )
    return Response(status_code=204)


@router.post("/{endpoint_id}/rotate_secret")
async def rotate_secret(client: Rpc, project: Project, endpoint_id: str) -> dict[str, Any]:
    """A new secret; deliveries carry signatures by the old one too during the grace period."""
    answer = await client.call(
        subjects.WEBHOOKS_ENDPOINTS_ROTATE,
        build(EndpointRef, id=endpoint_id, project=project),
        EndpointSecret,
    )
    return _with_secret(answer)
